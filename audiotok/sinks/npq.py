"""``--to npq``: one ``.npq`` file per input (NPQ1 one coded channel, NPQ2 Mid/Side).

Follows ``docs/specs/npq-format.md`` (NPQ1) and ``docs/specs/npq-tools.md``
(NPQ2): the header holds the frame rate, the input's bit rate, ``T`` and
every codebook's vocabulary; the payload the codes ``[T, K]``, Mid
codebooks then Side codebooks. The bytes are :func:`audiotok.formats.npq.write`'s.
It holds any codec's rectangular codes, and codes with strides (SNAC) as
rows, ``[T0, sum(grid / stride_k)]``: each row one coarsest frame, its codes
codebook by codebook in time order (``c0[i], c1[2i], c1[2i+1], c2[4i], ...,
c2[4i+3]``; :meth:`audiotok.tokens.TokenLayout.to_rows`), ``token_rate``
the coarsest codebook's fps, the strides in the identity manifest beside
them (:mod:`audiotok.sinks.manifest`), which names the codec. It has no
place for a per-file input scale (EnCodec 48 kHz: use ``ecdc``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from audiotok.errors import FormatError, UsageError
from audiotok.formats import npq
from audiotok.formats._base import FrozenModel
from audiotok.records import FileRecord
from audiotok.sinks.base import FileJob, SinkContext, StoredTokens, TokenSink, register_sink
from audiotok.tokens import Codes

__all__ = ["KMid", "KSide", "NCodebooks", "NpqEncodeRecord", "NpqSink", "SeqLen", "header_for"]

log = logging.getLogger(__name__)

# Header facts that the records of ``npq encode`` and ``npq inspect`` both report, described once.
NCodebooks = Annotated[int, Field(description="K, all codebooks.")]
KMid = Annotated[int | None, Field(description="Mid codebooks (NPQ2).")]
KSide = Annotated[int | None, Field(description="Side codebooks (NPQ2).")]
SeqLen = Annotated[int, Field(description="T, frames.")]


class NpqEncodeFields(FrozenModel):
    """What ``npq encode`` reports of one file besides its paths and status."""

    format: Literal["NPQ1", "NPQ2"]
    n_codebooks: NCodebooks
    k_mid: KMid = None
    k_side: KSide = None
    seq_len: SeqLen
    token_rate: float = Field(description="Frames per second (fps), sample_rate / hop_length.")
    duration_s: float = Field(description="Audio duration, seconds.")
    wall_s: float = Field(description="Wall time spent on this file, seconds.")
    model: str = Field(description="Model name or checkpoint path.")
    weights_sha256: str | None = Field(description="sha256 of the weights (None in a dry run).")


class NpqEncodeRecord(NpqEncodeFields, FileRecord):
    """One input file written to ``.npq`` (one JSON object per file)."""


def header_for(context: SinkContext, job: FileJob) -> npq.Npq1Header | npq.Npq2Header:
    """The header ``job``'s file gets: NPQ1 for one coded channel, NPQ2 for Mid and Side."""
    info = context.info
    layout = info.layout
    common = {
        "token_rate": info.row_rate,
        "orig_bitrate_kbps": job.audio.bitrate_kbps,
        "seq_len": job.n_frames,
        "vocab_sizes": tuple(v for k in job.groups if k for v in layout.first(k).row_vocab_sizes),
    }
    if len(job.groups) == 1:
        return npq.Npq1Header(**common)
    k_mid, k_side = (layout.columns(k) for k in job.groups)
    return npq.Npq2Header(k_mid=k_mid, k_side=k_side, **common)


@register_sink("npq")
class NpqSink(TokenSink):
    """``.npq`` files mirroring the input tree (see the module docstring)."""

    suffix = ".npq"
    record_type = NpqEncodeRecord
    strided = True  # as rows, one per coarsest frame

    @classmethod
    def accepts(cls, context: SinkContext, groups: tuple[int, ...]) -> None:
        """At most two coded channels, no per-file scale; a layout with strides is stored as rows.

        Raises
        ------
        UsageError
            For more than Mid and Side, or a codec that normalises its input
            per file (the scale has no place in NPQ).
        """
        super().accepts(context, groups)
        if len(groups) > 2:
            raise UsageError(f"npq holds one or two coded channels, not {len(groups)}")
        if context.normalizes:
            raise UsageError(
                f"npq has no place for {context.name}'s per-file input scale; write `to` ecdc", param="to"
            )

    def _record(self, job: FileJob, status: str, wall_s: float) -> FileRecord:
        header = header_for(self.context, job)
        return NpqEncodeRecord(
            input=str(job.src),
            output=str(job.dst),
            status=status,  # type: ignore[arg-type]
            format=header.format,
            n_codebooks=header.n_codebooks,
            k_mid=header.k_mid if isinstance(header, npq.Npq2Header) else None,
            k_side=header.k_side if isinstance(header, npq.Npq2Header) else None,
            seq_len=header.seq_len,
            token_rate=header.token_rate,
            duration_s=job.audio.duration_s,
            wall_s=wall_s,
            model=self.context.name,
            weights_sha256=self.context.info.weights_sha256,
        )

    def resume(self, src: Path, dst: Path, job: FileJob | None) -> FileRecord | None:
        """``skipped`` when ``dst`` is a valid ``.npq`` with the header this run writes (bit rate aside)."""
        if job is None or not dst.is_file():
            return None
        expected = header_for(self.context, job)
        try:
            found = npq.read_header(dst)
        except FormatError as exc:
            log.info("%s: re-encoding, existing file is invalid (%s)", dst, exc.reason)
            return None
        ignore = {"orig_bitrate_kbps"}
        if found.model_dump(exclude=ignore) != expected.model_dump(exclude=ignore):
            log.info("%s: re-encoding, existing file has other settings or length", dst)
            return None
        return self._record(job, "skipped", 0.0)

    def planned(self, job: FileJob) -> FileRecord:
        """What a dry run reports: the header the file would get."""
        return self._record(job, "planned", 0.0)

    def write(self, job: FileJob, codes: Codes, wall_s: float) -> FileRecord:
        """Write NPQ1 or NPQ2 (:func:`audiotok.formats.npq.write`, atomic)."""
        rows = codes.rows(self.context.info.layout)
        npq.write(job.dst, rows, header_for(self.context, job))  # type: ignore[type-var]  # NPQ1 or 2
        return self._record(job, "written", wall_s)

    read_head = staticmethod(npq.read_header)  # the header (invalid: decoding then says why)

    @classmethod
    def read(cls, path: Path) -> StoredTokens:
        """The file's codes (memory-mapped), Mid/Side groups and vocabularies; raises as the base does."""
        tokens, header = npq.read(path, mmap=True)
        groups = (
            (header.k_mid, header.k_side) if isinstance(header, npq.Npq2Header) else (header.n_codebooks,)
        )
        return StoredTokens(Codes(tokens, groups), header.token_rate, tuple(header.vocab_sizes))
