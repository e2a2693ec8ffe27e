"""ESF sidecar metadata models (``NAME.cond.json``, schema v1; ``docs/specs/esf-format.md``).

Parsing, validation and writing of the sidecar pair live in
:mod:`audiotok.formats.esf`, which re-exports these names.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from audiotok.formats._base import FrozenModel
from audiotok.formats.ecdc import ENCODEC_FPS

__all__ = ["DTYPES", "ESF_FPS", "SCHEMA_VERSIONS", "CondMeta", "Norm", "SidecarProblem"]

ESF_FPS = ENCODEC_FPS
"""The ESF frame rate, 75 frames per second: the rate of EnCodec 24 kHz codes (hop 320).

Sidecars follow the codes' own rate: 150 fps for EnCodec 48 kHz (also hop 320).
"""
SCHEMA_VERSIONS = (1, 2)
"""``schema_version`` values this reader understands (v2 is converted on read)."""
DTYPES = {"float16": np.float16, "float32": np.float32}


class Norm(FrozenModel):
    """Per-clip statistics of each column; each list is empty or has length D."""

    model_config = ConfigDict(extra="allow")

    min: tuple[float | None, ...] = Field(default=(), description="Per-column minimum.")
    max: tuple[float | None, ...] = Field(default=(), description="Per-column maximum.")
    mean: tuple[float | None, ...] = Field(default=(), description="Per-column mean.")
    std: tuple[float | None, ...] = Field(default=(), description="Per-column standard deviation.")

    def lengths(self) -> tuple[int, int, int, int]:
        """Lengths of ``min``, ``max``, ``mean``, ``std``."""
        return len(self.min), len(self.max), len(self.mean), len(self.std)


class CondMeta(FrozenModel):
    """``NAME.cond.json``, schema v1 (v2 files are converted on read).

    Unknown keys are allowed and kept (the spec lets writers add fields).
    A file without ``fps`` reads as 75 (the ESF rate), so readers of older
    files keep working; :attr:`fps_given` tells such a file apart from one
    that says 75, for ``esf audit`` and ``dataset build`` to report it.
    """

    model_config = ConfigDict(extra="allow")

    schema_version: Literal[1] = Field(default=1, description="ESF sidecar schema version.")
    fps: float = Field(default=ESF_FPS, gt=0, allow_inf_nan=False, description="Frame rate (fps).")
    source_rate: float | None = Field(
        default=None, description="Rate the features were computed at (frames per second)."
    )
    names: tuple[str, ...] = Field(default=(), description="Column names; length D.")
    norm: Norm = Field(default_factory=Norm, description="Per-column statistics.")
    units: dict[str, str] = Field(default_factory=dict, description="Units per column name (optional).")
    docs: dict[str, str] = Field(default_factory=dict, description="Description per column name (optional).")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic's Literal[1] would take true for 1
            raise ValueError("schema_version must be a number, not true/false")
        return value

    @property
    def fps_given(self) -> bool:
        """Whether the file set ``fps`` itself (``False``: ``fps`` is the default, 75)."""
        return "fps" in self.model_fields_set

    def to_json_dict(self) -> dict[str, Any]:
        """The v1 JSON object (empty ``units``/``docs`` left out)."""
        data = self.model_dump(mode="json")
        for key in ("units", "docs"):
            if not data.get(key):
                data.pop(key, None)
        if data.get("source_rate") is None:
            data["source_rate"] = data["fps"]
        return data


class SidecarProblem(FrozenModel):
    """One structural problem of a sidecar pair (an ``esf audit`` issue type)."""

    issue: str = Field(description="Issue type, e.g. 'names_length_mismatch'.")
    detail: str = Field(description="One-line explanation.")
