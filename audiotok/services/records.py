"""Result models shared by the batch services."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FileFailure(BaseModel):
    """A file (or input argument) a batch could not process, and why.

    A batch reports these and goes on with the next file.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="The file or command-line argument.")
    error: str = Field(description="One-line reason.")
