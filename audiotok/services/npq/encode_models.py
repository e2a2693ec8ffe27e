"""The options, per-file result, record and summary of ``npq encode`` (:mod:`.encode`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audiotok.formats._base import FrozenModel
from audiotok.services.records import BatchSummary, FileRecord

__all__ = ["EncodeOptions", "EncodeRecord", "EncodeSummary", "EncodedFile"]


class EncodeOptions(FrozenModel):
    """What to encode and how (the options of ``npq encode``)."""

    mono: bool = Field(default=False, description="Mix every file to mono and write NPQ1.")
    codebooks: int = Field(default=9, ge=1, description="K for mono files (NPQ1).")
    mid_codebooks: int = Field(default=9, ge=1, description="k_mid for stereo files (NPQ2).")
    side_codebooks: int = Field(default=4, ge=0, description="k_side for stereo files (NPQ2).")
    chunk_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Audio per encoder chunk, seconds. Bounds peak memory; the tokens are the same "
        "for any value (the spec's tools used 10 s, which peaks at about 2.2 GB for stereo).",
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Windows per encoder call, batched across files (only windows of exactly equal length "
        "share a call). The tokens are the same for any value. None: 1 for eager PyTorch on the CPU, "
        "8 on a backend compiled per window length (OpenVINO: one length's windows run back to back), "
        "on CUDA what fits in free GPU memory (codecs.sizing.auto_batch_size).",
    )
    overwrite: bool = Field(default=False, description="Re-encode outputs that already exist.")


class _EncodeFields(FrozenModel):
    """What ``npq encode`` reports of one file besides its paths and status."""

    format: Literal["NPQ1", "NPQ2"]
    n_codebooks: int = Field(description="K, all codebooks.")
    k_mid: int | None = Field(default=None, description="Mid codebooks (NPQ2).")
    k_side: int | None = Field(default=None, description="Side codebooks (NPQ2).")
    seq_len: int = Field(description="T, frames.")
    token_rate: float = Field(description="Frames per second (fps), sample_rate / hop_length.")
    duration_s: float = Field(description="Audio duration, seconds.")
    wall_s: float = Field(description="Wall time spent on this file, seconds.")
    model: str = Field(description="Model name or checkpoint path.")
    weights_sha256: str | None = Field(description="sha256 of the weights (None in a dry run).")


class _EncodedHead(FrozenModel):
    path: str = Field(description="The audio file.")
    output: str = Field(description="The .npq file.")
    status: Literal["encoded", "skipped", "planned"] = Field(
        description="encoded; skipped (valid output exists); planned (dry run)."
    )


class EncodedFile(_EncodeFields, _EncodedHead):
    """One input file's outcome (``path``, ``output``, ``status``, then the encode fields)."""


class EncodeRecord(_EncodeFields, FileRecord):
    """One input file of ``npq encode`` (one JSON object per file): an :class:`EncodedFile` as a record."""

    @classmethod
    def of(cls, result: EncodedFile) -> EncodeRecord:
        """``result`` with the record's keys: ``path`` becomes ``input``, ``encoded`` becomes ``written``."""
        fields = result.model_dump(exclude={"path", "status"})
        status = "written" if result.status == "encoded" else result.status
        return cls(input=result.path, status=status, **fields)


class EncodeSummary(BatchSummary):
    """The whole run: counts, audio seconds, speed and provenance."""

    files_mono: int = Field(
        default=0,
        description="Of the files written, planned or skipped: mono inputs written as NPQ1 in the default "
        "stereo mode (expected, not a problem; the mono option mixes every file to NPQ1).",
    )

    @property
    def audio_hours(self) -> float:
        """:attr:`audio_seconds` in hours."""
        return self.audio_seconds / 3600
