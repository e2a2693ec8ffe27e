"""``npq encode``: audio files to DAC RVQ tokens in ``.npq`` files (a preset of ``audiotok encode``).

Stereo files become NPQ2 (Mid/Side: ``M = (L + R) / 2``, ``S = (L - R) / 2``,
``k_mid`` + ``k_side`` codebooks, specs/npq-tools.md); with ``mono`` (or for
mono input) files become NPQ1 (specs/npq-format.md). It is
:func:`audiotok.services.encode.encode_paths` with a DAC model and the
``npq`` sink: files are streamed in chunks (memory bounded by the chunk
size, codes equal to a whole-file encode), windows are batched across
files, outputs mirror the input tree under ``outdir`` and existing valid
outputs are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from pydantic import Field

from audiotok.audio import AudioInfo
from audiotok.codecs.plugin import Codec
from audiotok.formats._base import FrozenModel
from audiotok.progress import ProgressFn
from audiotok.records import FileRecord
from audiotok.services import encode
from audiotok.services.encode import CodecChoice, EncodeSummary
from audiotok.services.encode.options import BatchSize, ChunkSeconds, Codebooks, Overwrite, SideCodebooks
from audiotok.sinks.npq import NpqEncodeRecord

if TYPE_CHECKING:
    import torch

    from audiotok.services.engines.ray import RayOptions

__all__ = ["EncodeOptions", "EncodeSummary", "encode_file", "encode_paths"]


class EncodeOptions(FrozenModel):
    """What to encode and how (the options of ``npq encode``).

    The fields of :class:`audiotok.services.encode.EncodeOptions` with DAC's
    defaults, and ``mono`` for its ``stereo``. The tokens are the same for any
    ``chunk_seconds`` (the spec's tools used 10 s, which peaks at about 2.2 GB
    for stereo) and any ``batch_size``.
    """

    mono: bool = Field(default=False, description="Mix every file to mono and write NPQ1.")
    codebooks: Codebooks = Field(default=9, description="K for mono files (NPQ1).")
    mid_codebooks: Codebooks = Field(default=9, description="k_mid for stereo files (NPQ2).")
    side_codebooks: SideCodebooks = Field(default=4, description="k_side for stereo files (NPQ2).")
    chunk_seconds: ChunkSeconds = 2.0
    batch_size: BatchSize = None
    overwrite: Overwrite = False

    def generic(self) -> encode.EncodeOptions:
        """These options for :func:`audiotok.services.encode.encode_paths`."""
        return encode.EncodeOptions(
            codebooks=self.codebooks, mid_codebooks=self.mid_codebooks, side_codebooks=self.side_codebooks,
            stereo="downmix" if self.mono else "mid-side", chunk_seconds=self.chunk_seconds,
            batch_size=self.batch_size, overwrite=self.overwrite,
        )  # fmt: skip


def encode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    codec: Codec,
    opts: EncodeOptions,
    *,
    dry_run: bool = False,
    info: AudioInfo | None = None,
    on_progress: ProgressFn | None = None,
) -> NpqEncodeRecord:
    """Encode one audio file with a loaded DAC ``codec`` to ``dst`` (skipped if a valid output exists).

    Mono input becomes NPQ1 whatever ``opts.mono`` says; stereo becomes NPQ2
    unless ``opts.mono``. (:func:`encode_paths` does many files, batched
    across them; the tokens are the same.)

    Raises
    ------
    InputError
        If the audio is unreadable, truncated, empty, non-finite or has more
        than 2 channels without ``mono``.
    UsageError
        If a codebook count exceeds the model's.
    """
    record = encode.encode_file(
        src, dst, codec, sink="npq", opts=opts.generic(), dry_run=dry_run, info=info, on_progress=on_progress
    )
    return cast(NpqEncodeRecord, record)


def encode_paths(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    model: str = "44khz",
    device: torch.device | str | None = None,
    opts: EncodeOptions | None = None,
    recursive: bool = False,
    shard: tuple[int, int] = (0, 1),
    dry_run: bool = False,
    backend: str = "auto",
    engine: RayOptions | None = None,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> EncodeSummary:
    """Encode every audio file named by ``inputs`` with the DAC model ``model`` into ``.npq`` files.

    :func:`audiotok.services.encode.encode_paths` with ``family="dac"`` and
    the ``npq`` sink: ``on_record`` gets an :class:`~audiotok.sinks.npq.NpqEncodeRecord` per file,
    or a failed record; with ``engine`` the files go to Ray actors (the same
    bytes). See there for everything else.

    Raises
    ------
    ModelError
        If the model cannot be loaded (before any file is touched).
    UsageError
        If ``model`` is not a DAC model, a codebook count exceeds the model's,
        two inputs map to one output, the shard does not exist, or ``engine``
        is given without Ray installed.
    """
    opts = opts or EncodeOptions()
    summary = encode.encode_paths(
        inputs, outdir=outdir, codec=CodecChoice(os.fspath(model), family="dac", backend=backend), sink="npq",
        opts=opts.generic(), device=device, recursive=recursive, shard=shard, dry_run=dry_run, engine=engine,
        on_record=on_record, on_progress=on_progress,
    )  # fmt: skip
    return EncodeSummary(**summary.model_dump(exclude={"codec", "sink", "exact_chunking"}))
