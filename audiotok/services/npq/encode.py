"""``npq encode``: audio files to DAC RVQ tokens in ``.npq`` files.

Stereo files become NPQ2 (Mid/Side: ``M = (L + R) / 2``, ``S = (L - R) / 2``,
``k_mid`` + ``k_side`` codebooks, specs/npq-tools.md); with ``mono`` (or for
mono input) files become NPQ1 (specs/npq-format.md). Files are streamed in
chunks, so memory is bounded by the chunk size, and the chunked codes equal a
whole-file encode. Outputs mirror the input tree under ``outdir``; existing
outputs that validate are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, cast

import torch
from pydantic import Field

from audiotok.audio import AudioInfo, ChannelMode, probe
from audiotok.audio_stream import FileSource, ResampledSource
from audiotok.codecs import registry
from audiotok.codecs.backends import backend_of
from audiotok.codecs.base import Codec
from audiotok.codecs.registry import CodecEntry
from audiotok.codecs.stream import encode_source
from audiotok.errors import FormatError, InputError, UsageError
from audiotok.formats import npq
from audiotok.formats._base import FrozenModel
from audiotok.paths import AUDIO_SUFFIXES
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services import runner
from audiotok.services.records import BatchSummary, FileRecord

__all__ = [
    "EncodeOptions",
    "EncodeRecord",
    "EncodeSummary",
    "EncodedFile",
    "encode_file",
    "encode_paths",
    "load_dac",
]

log = logging.getLogger(__name__)


class EncodeOptions(FrozenModel):
    """What to encode and how (the options of ``npq encode``)."""

    mono: bool = Field(default=False, description="Mix every file to mono and write NPQ1.")
    codebooks: int = Field(default=9, ge=1, description="K for mono files (NPQ1).")
    mid_codebooks: int = Field(default=9, ge=1, description="k_mid for stereo files (NPQ2).")
    side_codebooks: int = Field(default=4, ge=0, description="k_side for stereo files (NPQ2).")
    chunk_seconds: float = Field(
        default=4.0,
        gt=0,
        description="Audio per encoder chunk, seconds. Bounds peak memory; the tokens are the same "
        "for any value (the spec's tools used 10 s, which peaks at about 2.2 GB for stereo).",
    )
    batch_size: int = Field(default=1, ge=1, description="Chunks per encoder call.")
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


def _layout(info: AudioInfo, opts: EncodeOptions, path: Path) -> tuple[ChannelMode, tuple[int, ...]]:
    if opts.mono or info.channels == 1:  # a mono input is NPQ1 too: counted in the summary (files_mono)
        return "mono", (opts.codebooks,)
    if info.channels == 2:
        return "mid-side", (opts.mid_codebooks, opts.side_codebooks)
    raise InputError(
        f"{info.channels} channels; only mono and stereo are encoded (use `mono` to mix)", path, param="mono"
    )


def _header(
    ks: tuple[int, ...], spec: tuple[float, int], seq_len: int, kbps: float
) -> npq.Npq1Header | npq.Npq2Header:
    token_rate, vocab = spec
    sizes = (vocab,) * sum(ks)
    common = {"token_rate": token_rate, "orig_bitrate_kbps": kbps, "seq_len": seq_len, "vocab_sizes": sizes}
    if len(ks) == 1:
        return npq.Npq1Header(**common)
    return npq.Npq2Header(k_mid=ks[0], k_side=ks[1], **common)


def _existing_valid(dst: Path, expected: npq.Npq1Header | npq.Npq2Header) -> bool:
    if not dst.is_file():
        return False
    try:
        found = npq.read_header(dst)
    except FormatError as exc:
        log.info("%s: re-encoding, existing file is invalid (%s)", dst, exc.reason)
        return False
    same = found.model_dump(exclude={"orig_bitrate_kbps"}) == expected.model_dump(
        exclude={"orig_bitrate_kbps"}
    )
    if not same:
        log.info("%s: re-encoding, existing file has other settings or length", dst)
    return same


def _model_rates(model: Codec | CodecEntry) -> tuple[int, int, int, int]:
    return model.sample_rate, model.hop_length, model.n_codebooks, model.codebook_size


def load_dac(
    model: str | os.PathLike[str],
    *,
    device: torch.device | None = None,
    dry_run: bool = False,
    backend: str = "auto",
) -> Codec | CodecEntry:
    """The DAC model ``npq encode`` uses: loaded, or for a dry run of a named model only its entry.

    ``backend`` runs the encoder (:mod:`audiotok.codecs.backends`).

    Raises
    ------
    ModelError
        If the model cannot be loaded.
    UsageError
        If ``model`` is not a DAC model (NPQ files hold DAC tokens).
    """
    entry = registry.lookup(os.fspath(model))
    if dry_run and entry is not None and entry.family == "dac":
        return entry
    return registry.load_codec(model, family="dac", device=device, backend=backend, parts=("encoder",))


def encode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    codec: Codec | CodecEntry,
    opts: EncodeOptions,
    *,
    dry_run: bool = False,
    info: AudioInfo | None = None,
    on_progress: ProgressFn | None = None,
) -> EncodedFile:
    """Encode one audio file to ``dst`` (skipped if a valid output exists and not ``overwrite``).

    Mono input becomes NPQ1 whatever ``opts.mono`` says; stereo becomes NPQ2
    unless ``opts.mono``.

    Parameters
    ----------
    codec : Codec or CodecEntry
        A loaded DAC model; its registry entry is enough for ``dry_run``.
    info : AudioInfo, optional
        ``src``'s :func:`~audiotok.audio.probe` result, if already read.
    on_progress : callable, optional
        Gets ``ProgressEvent("seconds", advance=...)`` per encoded chunk (audio seconds).

    Raises
    ------
    InputError
        If the audio is unreadable, truncated, empty, non-finite or has more
        than 2 channels without ``mono``.
    UsageError
        If a codebook count exceeds the model's.
    """
    t0 = time.perf_counter()
    src, dst = Path(src), Path(dst)
    sample_rate, hop, n_codebooks, vocab = _model_rates(codec)
    info = info or probe(src)
    mode, ks = _layout(info, opts, src)
    if max(ks) > n_codebooks:
        raise UsageError(f"{max(ks)} codebooks asked for but the model has {n_codebooks}")
    n_samples = -(-info.frames * sample_rate // info.sample_rate)
    seq_len = -(-n_samples // hop)
    header = _header(ks, (sample_rate / hop, vocab), seq_len, info.bitrate_kbps)
    status: Literal["encoded", "skipped", "planned"]
    if not opts.overwrite and _existing_valid(dst, header):
        status = "skipped"
    elif dry_run or isinstance(codec, CodecEntry):
        status = "planned"
    else:

        def tick(samples: int) -> None:
            emit(on_progress, ProgressEvent("seconds", advance=samples / sample_rate, item=str(src)))

        with FileSource(src, mode, info) as fsrc:
            tokens = encode_source(
                ResampledSource(fsrc, sample_rate),
                codec,
                ks,
                chunk_seconds=opts.chunk_seconds,
                batch_size=opts.batch_size,
                on_chunk=tick,
            )
        npq.write(dst, tokens, header)  # type: ignore[type-var]  # NPQ1 or NPQ2, both writable
        status = "encoded"
    return EncodedFile(
        path=str(src),
        output=str(dst),
        status=status,
        format=header.format,
        n_codebooks=header.n_codebooks,
        k_mid=getattr(header, "k_mid", None),
        k_side=getattr(header, "k_side", None),
        seq_len=seq_len,
        token_rate=header.token_rate,
        duration_s=info.duration_s,
        wall_s=time.perf_counter() - t0,
        model=codec.short_name if isinstance(codec, CodecEntry) else codec.name,
        weights_sha256=None if isinstance(codec, CodecEntry) else codec.weights_sha256,
    )


def _probe_or_none(path: Path) -> AudioInfo | None:
    """The file's header, or ``None`` when it cannot be read (:func:`encode_file` then reports why)."""
    try:
        return probe(path)
    except InputError:
        return None


def _check_codebooks(opts: EncodeOptions, n_codebooks: int) -> None:
    for name, k in (("codebooks", opts.codebooks), ("mid_codebooks", opts.mid_codebooks)):
        if k > n_codebooks:
            raise UsageError(f"`{name}` {k} is more than the model's {n_codebooks} codebooks", param=name)
    if opts.side_codebooks > n_codebooks:
        raise UsageError(
            f"`side_codebooks` {opts.side_codebooks} is more than the model's {n_codebooks}",
            param="side_codebooks",
        )


def encode_paths(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    model: str = "44khz",
    device: torch.device | None = None,
    opts: EncodeOptions | None = None,
    recursive: bool = False,
    shard: tuple[int, int] = (0, 1),
    dry_run: bool = False,
    backend: str = "auto",
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> EncodeSummary:
    """Encode every audio file named by ``inputs`` (files, globs, folders).

    ``on_record`` gets an :class:`EncodeRecord` per file, or a failed
    :class:`~audiotok.services.records.FileRecord`; the batch goes on.

    Raises
    ------
    ModelError
        If the model cannot be loaded (before any file is touched).
    UsageError
        If a codebook count exceeds the model's, two inputs map to one output
        (``a.wav`` and ``a.flac``: naming both, before any file is written),
        or the shard does not exist.
    """
    opts = opts or EncodeOptions()
    t0 = time.perf_counter()
    codec = load_dac(model, device=device, dry_run=dry_run, backend=backend)
    _check_codebooks(opts, codec.n_codebooks)
    batch = runner.plan(
        inputs,
        suffixes=AUDIO_SUFFIXES,
        outdir=outdir,
        out_suffix=".npq",
        recursive=recursive,
        shard=shard,
        probe=_probe_or_none,
    )
    mono = 0

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> EncodeRecord:
        info = cast("AudioInfo | None", item.info)
        result = encode_file(
            item.path, item.dst, codec, opts, dry_run=dry_run, info=info, on_progress=on_progress
        )
        return EncodeRecord.of(result)

    def record(rec: FileRecord) -> None:
        nonlocal mono
        mono += int(not opts.mono and isinstance(rec, EncodeRecord) and rec.format == "NPQ1")
        if on_record is not None:
            on_record(rec)

    summary = runner.run(batch, work, on_record=record, on_progress=on_progress)
    return runner.finish(
        summary,
        EncodeSummary,
        since=t0,
        files_mono=mono,
        model=codec.short_name if isinstance(codec, CodecEntry) else codec.name,
        weights_sha256=None if isinstance(codec, CodecEntry) else codec.weights_sha256,
        backend=None if isinstance(codec, CodecEntry) else backend_of(codec, "encoder"),
    )
