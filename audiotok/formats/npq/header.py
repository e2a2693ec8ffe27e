"""NPQ header models: the fields of NPQ1, NPQ2 and legacy v0 headers, validated.

Follows ``docs/specs/npq-format.md`` and ``docs/specs/npq-tools.md``. The byte
layouts are the table of :mod:`audiotok.formats.npq.table`; the parser in
:mod:`audiotok.formats.npq.layout` builds these models from it, and
:meth:`~_HeaderBase.to_bytes` serialises them with it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from audiotok._types import Seconds
from audiotok.formats._base import FrozenModel
from audiotok.formats.npq.table import LAYOUTS, Layout

__all__ = [
    "DTYPE_CODES",
    "DTYPE_MAX",
    "NPQ1_FIXED",
    "NPQ2_FIXED",
    "U16_MAX",
    "U32_MAX",
    "Npq1Header",
    "Npq2Header",
    "NpqHeader",
    "NpqLegacyHeader",
    "smallest_dtype_code",
]

#: dtype_code -> numpy payload dtype (always little-endian).
DTYPE_CODES: dict[int, np.dtype[Any]] = {
    0: np.dtype("u1"),
    1: np.dtype("<u2"),
    2: np.dtype("<u4"),
}
#: dtype_code -> largest value the payload dtype holds (np.iinfo is slow in a hot path).
DTYPE_MAX: dict[int, int] = {code: int(np.iinfo(dt).max) for code, dt in DTYPE_CODES.items()}
U32_MAX = 2**32 - 1
U16_MAX = 2**16 - 1
_F32_MAX = float(np.finfo(np.float32).max)

NPQ1_FIXED = LAYOUTS["NPQ1"].head  # 20 bytes, then u32[K], then u8
NPQ2_FIXED = LAYOUTS["NPQ2"].head  # 23 bytes, then u32[K], then u8


def smallest_dtype_code(vocab_sizes: tuple[int, ...] | list[int]) -> int:
    """Return the smallest ``dtype_code`` whose unsigned type holds ``0 .. max(vocab)-1``."""
    top = max(vocab_sizes) - 1
    for code, limit in DTYPE_MAX.items():
        if top <= limit:
            return code
    raise ValueError(f"vocabulary of {top + 1} does not fit in uint32")


def _as_f32(value: float) -> float:
    """Round to the nearest float32, the precision the header stores."""
    if not math.isfinite(value) or abs(value) > _F32_MAX:
        raise ValueError("must be finite and representable as float32")
    return float(np.float32(value))


class _HeaderBase(FrozenModel):
    """Fields shared by every NPQ layout."""

    token_rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] = Field(
        description="Token frame rate in frames per second (fps); stored as float32."
    )
    orig_bitrate_kbps: Annotated[float, Field(ge=0, allow_inf_nan=False)] = Field(
        default=0.0, description="Bit rate of the source audio file in kbps (informational)."
    )
    seq_len: Annotated[int, Field(ge=0, le=U32_MAX)] = Field(description="T, the number of time frames.")
    vocab_sizes: tuple[Annotated[int, Field(ge=1, le=U32_MAX)], ...] = Field(
        min_length=1, description="Vocabulary size of each codebook; length K."
    )
    dtype_code: Literal[0, 1, 2] = Field(
        default=1,
        description="Payload integer width: 0 = uint8, 1 = uint16, 2 = uint32. "
        "When omitted: the smallest that holds the vocabulary.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_dtype(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("dtype_code") is None and data.get("vocab_sizes"):
            try:
                data = {**data, "dtype_code": smallest_dtype_code(list(data["vocab_sizes"]))}
            except (TypeError, ValueError):
                pass  # the field validators report the bad vocabulary
        return data

    @field_validator("token_rate", "orig_bitrate_kbps")
    @classmethod
    def _float32(cls, value: float) -> float:
        return _as_f32(value)

    @field_validator("token_rate")
    @classmethod
    def _positive_as_float32(cls, value: float) -> float:
        # A tiny rate (< ~1.4e-45) passes gt=0 but rounds to 0.0 in float32; such a
        # header would be written and then rejected by every reader.
        if value <= 0:
            raise ValueError("must be greater than 0 after rounding to float32")
        return value

    @model_validator(mode="after")
    def _dtype_holds_vocab(self) -> Self:
        top = max(self.vocab_sizes) - 1
        if top > DTYPE_MAX[self.dtype_code]:
            raise ValueError(
                f"dtype_code {self.dtype_code} ({DTYPE_CODES[self.dtype_code].name}) "
                f"cannot hold vocabulary size {top + 1}"
            )
        return self

    # -- derived values -------------------------------------------------------------
    @property
    def n_codebooks(self) -> int:
        """K, the number of codebooks (columns of the token matrix)."""
        return len(self.vocab_sizes)

    @property
    def dtype(self) -> np.dtype[Any]:
        """Numpy dtype of the payload."""
        return DTYPE_CODES[self.dtype_code]

    @property
    def duration_s(self) -> Seconds:
        """Duration covered by the tokens, ``T / token_rate`` seconds."""
        return self.seq_len / self.token_rate

    @property
    def byte_layout(self) -> Layout:
        """This header's row of :data:`~audiotok.formats.npq.table.LAYOUTS`."""
        raise NotImplementedError  # pragma: no cover - every layout defines it

    @property
    def header_size(self) -> int:
        """Header length in bytes (NPQ1 ``21 + 4K``, NPQ2 ``24 + 4K``, v0a ``20 + 4K``, v0b ``16 + 4K``)."""
        return self.byte_layout.fixed_size + 4 * len(self.vocab_sizes)

    @property
    def payload_size(self) -> int:
        """Payload length in bytes, ``T * K * itemsize``."""
        return self.seq_len * self.n_codebooks * self.dtype.itemsize

    @property
    def file_size(self) -> int:
        """Exact size of a file with this header."""
        return self.header_size + self.payload_size

    @property
    def mode(self) -> Literal["mono", "stereo-ms"]:
        """``"mono"`` for NPQ1 and legacy files, ``"stereo-ms"`` for NPQ2."""
        return "mono"

    def to_bytes(self) -> bytes:
        """The ``header_size`` header bytes, laid out by :data:`~audiotok.formats.npq.table.LAYOUTS`.

        Legacy headers give their v0 bytes too (for tests and conversions);
        :func:`~audiotok.formats.npq.write` writes only NPQ1 and NPQ2.
        """
        layout = self.byte_layout
        fields = {**self.__dict__, "magic": layout.magic, "K": len(self.vocab_sizes)}
        return layout.pack(fields, self.vocab_sizes)


class Npq1Header(_HeaderBase):
    """NPQ1 header: mono tokens ``[T, K]``."""

    format: Literal["NPQ1"] = Field(default="NPQ1", description="Magic, ASCII.")
    version: Literal[1] = Field(default=1, description="Format version.")

    @model_validator(mode="after")
    def _k_fits(self) -> Self:
        if self.n_codebooks > U16_MAX:
            raise ValueError(f"NPQ1 holds at most {U16_MAX} codebooks")
        return self

    @property
    def byte_layout(self) -> Layout:
        """``LAYOUTS["NPQ1"]``: header ``21 + 4K`` bytes."""
        return LAYOUTS["NPQ1"]


class Npq2Header(_HeaderBase):
    """NPQ2 header: stereo Mid/Side tokens ``[T, k_mid + k_side]``, Mid columns first."""

    format: Literal["NPQ2"] = Field(default="NPQ2", description="Magic, ASCII.")
    version: Literal[1] = Field(default=1, description="Format version.")
    channel_mode: Literal[1] = Field(default=1, description="1 = Mid/Side.")
    k_mid: Annotated[int, Field(ge=1, le=U16_MAX)] = Field(description="Codebooks of Mid.")
    k_side: Annotated[int, Field(ge=0, le=U16_MAX)] = Field(description="Codebooks of Side.")

    @model_validator(mode="after")
    def _k_matches(self) -> Self:
        if self.k_mid + self.k_side != self.n_codebooks:
            raise ValueError(
                f"k_mid + k_side = {self.k_mid + self.k_side} but {self.n_codebooks} vocab sizes were given"
            )
        return self

    @property
    def byte_layout(self) -> Layout:
        """``LAYOUTS["NPQ2"]``: header ``24 + 4K`` bytes."""
        return LAYOUTS["NPQ2"]

    @property
    def mode(self) -> Literal["mono", "stereo-ms"]:
        """Always ``"stereo-ms"``."""
        return "stereo-ms"


class NpqLegacyHeader(_HeaderBase):
    """Legacy NPQ v0 header (read only): no version, uint16 payload.

    ``layout`` is ``"v0a"`` (``K, fps, bitrate, T, vocab[K]``) or ``"v0b"``
    (``K, fps, vocab[K], T``).
    """

    format: Literal["NPQ0"] = Field(default="NPQ0", description="Legacy, unversioned.")
    layout: Literal["v0a", "v0b"] = Field(description="Which legacy field order.")
    dtype_code: Literal[1] = Field(default=1, description="Always uint16.")

    @model_validator(mode="before")
    @classmethod
    def _default_dtype(cls, data: Any) -> Any:
        return data  # legacy payloads are always uint16

    @property
    def byte_layout(self) -> Layout:
        """``LAYOUTS[layout]``: header ``20 + 4K`` bytes (v0a) or ``16 + 4K`` bytes (v0b)."""
        return LAYOUTS[self.layout]


NpqHeader = Npq1Header | Npq2Header | NpqLegacyHeader
"""Any header :func:`read_header` can return."""
