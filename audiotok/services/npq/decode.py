"""``npq decode``: ``.npq`` token files back to PCM16 WAV through DAC (a preset of ``audiotok decode``).

NPQ1 (and legacy) files decode to mono; NPQ2 files decode Mid and Side and
write stereo with ``L = M + S`` and ``R = M - S`` (specs/npq-tools.md). It is
:func:`audiotok.services.decode.decode_paths` for ``.npq`` files and DAC
models: the model comes from ``model``, else the identity manifest beside the
files, else the file's token rate (:func:`infer_model`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from audiotok.codecs.plugin import Codec
from audiotok.formats import npq
from audiotok.progress import ProgressFn
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import decode
from audiotok.services.decode import DecodeRecord

if TYPE_CHECKING:
    import torch

    from audiotok.services.engines.ray import RayOptions

__all__ = ["DecodeRecord", "decode_file", "decode_paths", "infer_model"]


def infer_model(header: npq.NpqHeader, path: str | os.PathLike[str] | None = None) -> str:
    """The known DAC model whose frame rate is the file's ``token_rate`` and that has its K codebooks.

    86.13 fps → ``44khz`` (``44khz-16kbps`` when K > 9), 75 → ``24khz``, 50 → ``16khz``.

    Raises
    ------
    FormatError
        If no known model fits; pass ``model`` then.
    """
    k = max(header.k_mid, header.k_side) if isinstance(header, npq.Npq2Header) else header.n_codebooks
    return decode.infer_model(header.token_rate, k, path, "dac")


def decode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    codec: Codec,
    *,
    sample_rate: int | None = None,
    chunk_seconds: float = 3.0,
    on_progress: ProgressFn | None = None,
) -> DecodeRecord:
    """Decode one ``.npq`` file to a PCM16 WAV at ``dst`` (:func:`audiotok.services.decode.decode_file`).

    Raises
    ------
    FormatError
        If the file is invalid, its token rate is not the model's, it has more
        codebooks than the model, or a token is outside the vocabulary.
    """
    return decode.decode_file(
        src, dst, codec, sample_rate=sample_rate, chunk_seconds=chunk_seconds, on_progress=on_progress
    )


def decode_paths(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    out: Path | None = None,
    outdir: Path | None = None,
    model: str | None = None,
    device: torch.device | str | None = None,
    sample_rate: int | None = None,
    recursive: bool = False,
    shard: tuple[int, int] = (0, 1),
    backend: str = "auto",
    engine: RayOptions | None = None,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Decode every ``.npq`` file of ``inputs`` with DAC (:func:`~audiotok.services.decode.decode_paths`).

    Raises
    ------
    UsageError
        If ``out`` is given with ``outdir`` or with more than one input file,
        two inputs map to one output, the shard does not exist, or ``model`` is not a DAC model.
    ModelError
        If an explicitly named model cannot be loaded.
    """
    return decode.decode_paths(
        inputs, out=out, outdir=outdir, model=model, family="dac", suffixes=(".npq",), device=device,
        sample_rate=sample_rate, recursive=recursive, shard=shard, backend=backend, engine=engine,
        on_record=on_record, on_progress=on_progress,
    )  # fmt: skip
