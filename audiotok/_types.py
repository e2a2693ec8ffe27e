"""Units as types, shared by every format and service.

Plain aliases (like lhotse's ``Seconds = float``) for signatures, plus
validated ``Annotated`` forms for pydantic fields.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from pydantic import Field

Seconds = float
"""A duration in seconds."""
Hz = int
"""A sample rate in samples per second."""
FramesPerSecond = float
"""A token frame rate (fps): frames per second of audio."""
Kbps = float
"""A bit rate in kilobits per second."""

PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PositiveHz = Annotated[int, Field(gt=0)]
PositiveFps = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class HasDuration(Protocol):
    """Anything with a duration in seconds: an audio file's info, a token file's header."""

    @property
    def duration_s(self) -> float:
        """Seconds of audio (that the codes stand for)."""
        ...
