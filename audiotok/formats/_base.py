"""The one base of audiotok's pydantic models: frozen, no unknown fields.

Every model of the file formats (``docs/specs/npq-format.md``,
``docs/specs/esf-format.md``) and every result model of the services derives
from :class:`FrozenModel` instead of repeating its configuration. Models of
files written by others, which must keep unknown keys (the ESF sidecar JSON),
override ``extra`` and nothing else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FrozenModel"]


class FrozenModel(BaseModel):
    """A pydantic model that is immutable and refuses fields it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")
