"""Result models shared by the batch services."""

from __future__ import annotations

from pydantic import Field

from audiotok.formats._base import FrozenModel


class FileFailure(FrozenModel):
    """A file (or input argument) a batch could not process, and why.

    A batch reports these and goes on with the next file.
    """

    path: str = Field(description="The file or command-line argument.")
    error: str = Field(description="One-line reason.")
