"""Convert DAC CLI ``.dac`` files to ``.npq``, token for token, without executing pickle."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from pydantic import Field

from audiotok.codecs import registry
from audiotok.codecs.registry import CodecEntry
from audiotok.errors import AudiotokError, InputError
from audiotok.formats import dacfile, npq
from audiotok.progress import ProgressFn
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import runner

__all__ = ["ConvertRecord", "convert_dac_file", "convert_paths", "model_for_dac_file"]


def model_for_dac_file(meta: dacfile.DacFileMeta, path: str | os.PathLike[str] | None = None) -> CodecEntry:
    """The DAC model that wrote a ``.dac`` file, from its metadata.

    A ``.dac`` file stores the *source* audio's sample rate, its number of
    codebooks K (often fewer than the model has: ``--n_quantizers``) and no
    model name. The rules, in order:

    1. the model whose sample rate equals the file's ``sample_rate`` (Hz) and
       that has at least K codebooks (44.1 kHz: ``44khz`` for K <= 9, else
       ``44khz-16kbps``): the source was at the model's rate;
    2. otherwise (the source was resampled, e.g. 48 kHz audio), the one model
       whose full number of codebooks is K.

    Raises
    ------
    InputError
        If neither rule names a model (a sample rate no DAC model has and a K
        cut with ``n_quantizers``), or K exceeds every model at that rate:
        pass ``model`` then.
    """
    k, rate = meta.n_codebooks, meta.sample_rate
    models = registry.entries("dac")
    at_rate = sorted((s for s in models if s.sample_rate == rate), key=lambda s: s.n_codebooks)
    for spec in at_rate:
        if k <= spec.n_codebooks:
            return spec
    if at_rate:
        most = at_rate[-1]
        raise InputError(
            f"{k} codebooks, but the {rate} Hz DAC models have at most {most.n_codebooks} "
            f"({most.short_name}); pass `model`",
            path,
            param="model",
        )
    full = [s for s in models if s.n_codebooks == k]
    if len(full) == 1:
        return full[0]
    rates = ", ".join(sorted({str(s.sample_rate) for s in models}, key=int))
    raise InputError(
        f"cannot tell the DAC model: sample rate {rate} Hz is none of the models' ({rates} Hz) "
        f"and no model has exactly {k} codebooks; pass `model`",
        path,
        param="model",
    )


class ConvertRecord(FileRecord):
    """One converted file, or one skipped because its valid output existed."""

    n_frames: int = Field(description="T, frames.")
    n_codebooks: int = Field(description="K, codebooks.")


def convert_dac_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    model: CodecEntry | None = None,
    channel: int | None = None,
) -> npq.Npq1Header:
    """Write the codes of a DAC CLI ``.dac`` file as an NPQ1 file.

    Parameters
    ----------
    src : path
        ``.dac`` file from ``python -m dac encode`` (codes ``uint16[C, K, T]``).
    dst : path
        ``.npq`` destination, written atomically.
    model : CodecEntry, optional
        The model that made the codes: its frame rate (``sample_rate / hop``,
        fps) and codebook size go into the header, since the ``.dac`` file
        stores only the source audio's rate. ``None``: the known model with the
        file's number of codebooks (:func:`model_for_dac_file`).
    channel : int, optional
        Which channel to take from a multi-channel file. DAC encodes channels
        separately (left/right, not Mid/Side), so a stereo ``.dac`` file cannot
        become NPQ2 without re-encoding.

    Returns
    -------
    Npq1Header
        Tokens ``[T, K]`` equal ``codes[channel].T``.

    Raises
    ------
    FormatError
        If ``src`` is not a valid ``.dac`` file.
    InputError
        If a multi-channel file is given without ``channel``, ``channel`` is
        out of range, the file has more codebooks than ``model``, or no model
        can be inferred (see :func:`model_for_dac_file`).
    """
    codes, meta = dacfile.read(src)
    spec = model or model_for_dac_file(meta, src)
    if meta.n_codebooks > spec.n_codebooks:
        raise InputError(
            f"{meta.n_codebooks} codebooks, but model {spec.short_name} has {spec.n_codebooks}", src
        )
    if channel is None:
        if meta.channels != 1:
            raise InputError(
                f"holds {meta.channels} separately encoded channels (L/R, not Mid/Side); "
                "pick one with `channel`, or re-encode the audio with `audiotok npq encode`",
                src,
                param="channel",
            )
        channel = 0
    if not 0 <= channel < meta.channels:
        raise InputError(
            f"`channel` {channel} out of range: file has {meta.channels} channel(s)", src, param="channel"
        )
    tokens = np.ascontiguousarray(codes[channel].T)
    header = npq.Npq1Header(
        token_rate=spec.frame_rate,
        orig_bitrate_kbps=0.0,
        seq_len=tokens.shape[0],
        vocab_sizes=(spec.codebook_size,) * tokens.shape[1],
    )
    return npq.write(dst, tokens, header)


def _resume(item: runner.PlanItem) -> ConvertRecord | None:
    """The skipped record when the output is a valid NPQ file (invalid leftovers: convert again)."""
    if item.output is None or not item.output.exists():
        return None
    try:
        old = npq.read_header(item.output)
    except AudiotokError:
        return None
    return item.record(ConvertRecord, "skipped", n_frames=old.seq_len, n_codebooks=old.n_codebooks)


def convert_paths(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    model: str | None = None,
    channel: int | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    shard: tuple[int, int] = (0, 1),
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Convert every ``.dac`` file named by ``inputs``; outputs mirror the input tree under ``outdir``.

    ``model`` is the name of a DAC model of :mod:`~audiotok.codecs.registry`, or ``None``
    to infer each file's model from its metadata (:func:`model_for_dac_file`).
    Existing valid outputs are skipped unless ``overwrite``. ``on_record``
    gets a :class:`ConvertRecord` per file, or a failed record (the batch goes on).

    Raises
    ------
    UsageError
        If ``model`` is not a known model name, two inputs map to one output,
        or the shard does not exist.
    """
    spec = None if model is None else registry.get(model, "dac")
    batch = runner.plan(
        inputs,
        suffixes=(".dac",),
        outdir=outdir,
        out_suffix=".npq",
        recursive=recursive,
        shard=shard,
        resume=_resume,
        overwrite=overwrite,
    )

    def work(item: runner.PlanItem, _: ProgressFn | None) -> ConvertRecord:
        header = convert_dac_file(item.path, item.dst, model=spec, channel=channel)
        return item.record(ConvertRecord, "written", n_frames=header.seq_len, n_codebooks=header.n_codebooks)

    return runner.run(batch, work, on_record=on_record, on_progress=on_progress)
