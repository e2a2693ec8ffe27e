"""``--to ecdc``: one ``.ecdc`` file per input (ESF v1: EnCodec's codes as a torch checkpoint).

Follows ``docs/specs/esf-format.md``: the codes ``[T, K]`` with the model's
name, sample rate, frame rate, bandwidth, the input's length in samples and
its scale (``audio_scales``: EnCodec 48 kHz divides its input by one RMS per
file), in the bytes :func:`audiotok.formats.ecdc.write` gives (those of
``torch.save``, without torch). Conditioning sidecars (``esf init|add``) go
beside these files. It holds one coded channel: not Mid and Side.
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import Field

from audiotok.errors import AudiotokError, UsageError
from audiotok.formats import ecdc
from audiotok.records import FileRecord
from audiotok.sinks.base import FileJob, SinkContext, StoredTokens, TokenSink, register_sink
from audiotok.tokens import Codes

__all__ = ["EcdcEncodeRecord", "EcdcSink", "bandwidth_kbps", "existing"]


class EcdcEncodeRecord(FileRecord):
    """One encoded (``written``), ``skipped`` (valid output existed) or ``planned`` (dry run) file."""

    n_frames: int | None = Field(default=None, description="T, frames (75 fps for EnCodec 24 kHz).")
    n_codebooks: int | None = Field(default=None, description="Cb, codebooks.")
    duration_s: float | None = Field(default=None, description="Audio duration in seconds.")
    wall_s: float = Field(default=0.0, description="Seconds spent on this file.")


def bandwidth_kbps(n_codebooks: int, frame_rate: float, codebook_size: int) -> float:
    """Kilobits per second of ``n_codebooks`` codebooks: ``K * fps * log2(size) / 1000`` (EnCodec's rule)."""
    return n_codebooks * frame_rate * math.log2(codebook_size) / 1000


def existing(src: Path, dst: Path) -> EcdcEncodeRecord | None:
    """The ``skipped`` record of ``src`` when ``dst`` is a valid ``.ecdc`` file, else ``None`` (encode it)."""
    if not dst.exists():
        return None
    try:
        meta = ecdc.read_meta(dst)
    except AudiotokError:
        return None  # an invalid leftover: encode again
    return EcdcEncodeRecord(
        input=str(src), output=str(dst), status="skipped", n_frames=meta.n_frames,
        n_codebooks=meta.n_codebooks, duration_s=meta.duration_s,
    )  # fmt: skip


@register_sink("ecdc")
class EcdcSink(TokenSink):
    """``.ecdc`` files mirroring the input tree (see the module docstring)."""

    suffix = ".ecdc"
    record_type = EcdcEncodeRecord

    @classmethod
    def accepts(cls, context: SinkContext, groups: tuple[int, ...]) -> None:
        """Rectangular codes of one coded channel.

        Raises
        ------
        UsageError
            For Mid and Side (two coded channels) or a layout with strides.
        """
        super().accepts(context, groups)
        if len(groups) != 1:
            raise UsageError(
                "ecdc holds one coded channel, not Mid and Side; mix stereo down (`mono`) or write `to` npq",
                param="to",
            )

    def _record(self, job: FileJob, status: str, meta: ecdc.EcdcMeta, wall_s: float) -> FileRecord:
        return EcdcEncodeRecord(
            input=str(job.src), output=str(job.dst), status=status,  # type: ignore[arg-type]
            n_frames=meta.n_frames, n_codebooks=meta.n_codebooks, duration_s=meta.duration_s, wall_s=wall_s,
        )  # fmt: skip

    def resume(self, src: Path, dst: Path, job: FileJob | None) -> FileRecord | None:
        """``skipped`` when ``dst`` is a valid ``.ecdc`` file, whatever its settings (:func:`existing`)."""
        return existing(src, dst)

    def planned(self, job: FileJob) -> FileRecord:
        """A dry run's record: paths and status only."""
        return EcdcEncodeRecord(input=str(job.src), output=str(job.dst), status="planned")

    def write(self, job: FileJob, codes: Codes, wall_s: float) -> FileRecord:
        """Write the ``.ecdc`` file (atomic), its scale in ``audio_scales``."""
        info = self.context.info
        array = codes.array
        meta = ecdc.EcdcMeta(
            n_codebooks=array.shape[1],
            n_frames=array.shape[0],
            sample_rate=info.sample_rate,
            fps=info.frame_rate,
            bandwidth=bandwidth_kbps(array.shape[1], info.frame_rate, max(info.layout.vocab_sizes)),
            model=self.context.name,
            audio_length=job.n_samples,
        )
        written = ecdc.write(job.dst, array, meta, scales=[codes.extras.get("scale")])
        return self._record(job, "written", written, wall_s)

    read_head = staticmethod(ecdc.read_meta)  # what the file says of its codes

    @classmethod
    def read(cls, path: Path) -> StoredTokens:
        """The file's codes, its scale (``extras["scale"]``, if any) and model; raises as the base does."""
        array, meta = ecdc.read(path)
        scale = ecdc.read_scale(path)
        extras = {} if scale is None else {"scale": scale}
        return StoredTokens(Codes(array, (array.shape[1],), extras), meta.fps, (), meta.model)
