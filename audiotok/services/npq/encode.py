"""``npq encode``: audio files to DAC RVQ tokens in ``.npq`` files.

Stereo files become NPQ2 (Mid/Side: ``M = (L + R) / 2``, ``S = (L - R) / 2``,
``k_mid`` + ``k_side`` codebooks, specs/npq-tools.md); with ``mono`` (or for
mono input) files become NPQ1 (specs/npq-format.md). Files are streamed in
chunks, so memory is bounded by the chunk size, and the chunked codes equal a
whole-file encode. Outputs mirror the input tree under ``outdir``; existing
outputs that validate are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from audiotok.audio import AudioInfo, ChannelMode, probe
from audiotok.audio_stream import FileSource, ResampledSource, SampleSource
from audiotok.codecs import registry
from audiotok.codecs.backends import backend_of
from audiotok.codecs.base import Codec
from audiotok.codecs.batch import Codes, Stream, StreamEncoder
from audiotok.codecs.registry import CodecEntry
from audiotok.codecs.sizing import auto_batch_size
from audiotok.codecs.stream import encode_source
from audiotok.errors import FormatError, InputError, UsageError
from audiotok.formats import npq
from audiotok.paths import AUDIO_SUFFIXES
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services import runner
from audiotok.services.npq.encode_models import EncodedFile, EncodeOptions, EncodeRecord, EncodeSummary
from audiotok.services.pipeline import Pipeline
from audiotok.services.records import FileRecord

if TYPE_CHECKING:
    import torch

    from audiotok.services.engines.ray import RayOptions

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

PREFETCH_CALLS = 2
"""Encoder calls' worth of windows decoded and resampled ahead, in the reading thread."""


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
    device: torch.device | str | None = None,
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


@dataclass(frozen=True)
class _Job:
    """One file, planned: what it becomes and whether it needs encoding."""

    src: Path
    dst: Path
    info: AudioInfo
    mode: ChannelMode
    codebooks: tuple[int, ...]
    n_samples: int  # at the model's rate
    header: npq.Npq1Header | npq.Npq2Header
    status: Literal["encoded", "skipped", "planned"]  # "encoded": still to encode


def _job(
    src: Path,
    dst: Path,
    codec: Codec | CodecEntry,
    opts: EncodeOptions,
    info: AudioInfo | None,
    dry_run: bool,
) -> _Job:
    sample_rate, hop, n_codebooks, vocab = _model_rates(codec)
    info = info or probe(src)
    mode, ks = _layout(info, opts, src)
    if max(ks) > n_codebooks:
        raise UsageError(f"{max(ks)} codebooks asked for but the model has {n_codebooks}")
    n_samples = -(-info.frames * sample_rate // info.sample_rate)
    header = _header(ks, (sample_rate / hop, vocab), -(-n_samples // hop), info.bitrate_kbps)
    status: Literal["encoded", "skipped", "planned"] = "encoded"
    if not opts.overwrite and _existing_valid(dst, header):
        status = "skipped"
    elif dry_run:
        status = "planned"
    return _Job(src, dst, info, mode, ks, n_samples, header, status)


def _provenance(codec: Codec | CodecEntry) -> tuple[str, str | None]:
    """The model name and weights' sha256 written into records (a dry run's entry: its name only)."""
    if isinstance(codec, CodecEntry):
        return codec.short_name, None
    return codec.name, codec.weights_sha256


def _outcome(job: _Job, codec: Codec | CodecEntry | tuple[str, str | None], wall_s: float) -> EncodedFile:
    header = job.header
    model, sha = codec if isinstance(codec, tuple) else _provenance(codec)
    return EncodedFile(
        path=str(job.src),
        output=str(job.dst),
        status=job.status,
        format=header.format,
        n_codebooks=header.n_codebooks,
        k_mid=getattr(header, "k_mid", None),
        k_side=getattr(header, "k_side", None),
        seq_len=header.seq_len,
        token_rate=header.token_rate,
        duration_s=job.info.duration_s,
        wall_s=wall_s,
        model=model,
        weights_sha256=sha,
    )


@contextmanager
def _opened(job: _Job, sample_rate: int) -> Iterator[SampleSource]:
    with FileSource(job.src, job.mode, job.info) as fsrc:
        yield ResampledSource(fsrc, sample_rate)


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
    unless ``opts.mono``. (:func:`encode_paths` does many files, batched
    across them and pipelined; the tokens are the same.)

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
    job = _job(Path(src), Path(dst), codec, opts, info, dry_run or isinstance(codec, CodecEntry))
    if job.status == "encoded" and not isinstance(codec, CodecEntry):

        def tick(samples: int) -> None:
            emit(
                on_progress, ProgressEvent("seconds", advance=samples / codec.sample_rate, item=str(job.src))
            )

        with _opened(job, codec.sample_rate) as source:
            tokens = encode_source(
                source, codec, job.codebooks, chunk_seconds=opts.chunk_seconds,
                batch_size=opts.batch_size or 1, on_chunk=tick,
            )  # fmt: skip
        npq.write(job.dst, tokens, job.header)  # type: ignore[type-var]  # NPQ1 or NPQ2, both writable
    return _outcome(job, codec, time.perf_counter() - t0)


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
    """Encode every audio file named by ``inputs`` (files, globs, folders, :class:`~audiotok.paths.FileList`).

    ``on_record`` gets an :class:`EncodeRecord` per file, or a failed
    :class:`~audiotok.services.records.FileRecord`; the batch goes on.

    With ``engine`` (:class:`~audiotok.services.engines.ray.RayOptions`) the
    files to encode go to Ray actors, each loading ``model`` on its own
    device (``device`` is not used) and encoding one file at a time with
    :func:`encode_file`: the same outputs, byte for byte. A dry run plans here.

    Raises
    ------
    ModelError
        If the model cannot be loaded (before any file is touched).
    UsageError
        If a codebook count exceeds the model's, two inputs map to one output
        (``a.wav`` and ``a.flac``: naming both, before any file is written),
        the shard does not exist, or ``engine`` is given without Ray installed.
    """
    opts = opts or EncodeOptions()
    t0 = time.perf_counter()
    if engine is not None and not dry_run:
        return _encode_on_ray(
            inputs, outdir=outdir, model=model, opts=opts, recursive=recursive, shard=shard,
            backend=backend, engine=engine, on_record=on_record, on_progress=on_progress,
        )  # fmt: skip
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
    jobs = _jobs(batch, codec, opts, dry_run or isinstance(codec, CodecEntry))
    pipe, stream_of = (None, {}) if isinstance(codec, CodecEntry) or dry_run else _pipeline(jobs, codec, opts)

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> EncodeRecord:
        job = jobs[item.index]
        if isinstance(job, Exception):
            raise job
        if pipe is None or job.status != "encoded":
            return EncodeRecord.of(_outcome(job, codec, 0.0))

        def advance(samples: int) -> None:
            emit(
                on_progress,
                ProgressEvent("seconds", advance=samples / codec.sample_rate, item=str(item.path)),
            )

        return pipe.result(stream_of[item.index], advance)

    def record(rec: FileRecord) -> None:
        nonlocal mono
        mono += int(not opts.mono and isinstance(rec, EncodeRecord) and rec.format == "NPQ1")
        if on_record is not None:
            on_record(rec)

    with contextlib.nullcontext() if pipe is None else pipe:
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


@dataclass(frozen=True)
class _RemoteEncode:
    """``npq encode`` in a Ray actor (:class:`~audiotok.services.engines.ray.RemoteJob`): one file a call.

    Each file goes through the same :class:`StreamEncoder` pipeline as locally
    (the next windows decoded while the encoder runs, the output written in a
    writer thread), so its tokens and bytes are the local engine's.
    """

    model: str
    backend: str
    opts: EncodeOptions

    def setup(self, device: torch.device) -> tuple[Codec, EncodeOptions]:
        codec = load_dac(self.model, device=device, backend=self.backend)
        if isinstance(codec, CodecEntry):  # pragma: no cover  # load_dac loads unless dry_run
            raise TypeError("not loaded")
        batch = self.opts.batch_size or auto_batch_size(codec, self.opts.chunk_seconds)
        return codec, self.opts.model_copy(update={"batch_size": batch})

    def work(self, state: tuple[Codec, EncodeOptions], item: runner.PlanItem) -> EncodeRecord:
        """The local engine's pipeline (reading thread, encoder, writer thread) over this one file."""
        codec, opts = state
        job = _job(item.path, item.dst, codec, opts, cast("AudioInfo | None", item.info), False)
        if job.status != "encoded":  # written meanwhile (valid now): skipped, as a rerun would
            return EncodeRecord.of(_outcome(job, codec, 0.0))
        pipe, stream_of = _pipeline({item.index: job}, codec, opts)
        with pipe:
            return pipe.result(stream_of[item.index])

    def work_many(
        self, state: tuple[Codec, EncodeOptions], items: Sequence[runner.PlanItem]
    ) -> Iterator[Callable[[], EncodeRecord]]:
        """``items`` through the local engine's pipeline (batched, read ahead, written behind), in order.

        Yields one call per item that returns its record or raises its error.
        """
        codec, opts = state
        jobs = _jobs(items, codec, opts, dry_run=False)
        pipe, stream_of = _pipeline(jobs, codec, opts)

        def one(item: runner.PlanItem) -> Callable[[], EncodeRecord]:
            def result() -> EncodeRecord:
                job = jobs[item.index]
                if isinstance(job, Exception):
                    raise job
                if job.status != "encoded":
                    return EncodeRecord.of(_outcome(job, codec, 0.0))
                return pipe.result(stream_of[item.index])

            return result

        with pipe:
            for item in items:
                yield one(item)

    def describe(self, state: tuple[Codec, EncodeOptions]) -> dict[str, Any]:
        codec, _ = state
        return {"model": codec.name, "weights_sha256": codec.weights_sha256,
                "backend": backend_of(codec, "encoder")}  # fmt: skip


def _encode_on_ray(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    model: str,
    opts: EncodeOptions,
    recursive: bool,
    shard: tuple[int, int],
    backend: str,
    engine: RayOptions,
    on_record: Callable[[FileRecord], None] | None,
    on_progress: ProgressFn | None,
) -> EncodeSummary:
    """:func:`encode_paths` with the files to encode on Ray actors (planned and resumed here)."""
    from audiotok.services.engines.ray import RayEngine

    t0 = time.perf_counter()
    job = _RemoteEncode(os.fspath(model), backend, opts)
    ray = RayEngine(engine, job, remote=lambda item: _todo(jobs[item.index]))  # checks Ray is installed
    entry = load_dac(model, dry_run=True, backend="eager")  # rates and codebooks: the entry of a named model
    _check_codebooks(opts, entry.n_codebooks)
    batch = runner.plan(
        inputs, suffixes=AUDIO_SUFFIXES, outdir=outdir, out_suffix=".npq", recursive=recursive, shard=shard,
        probe=_probe_or_none,
    )  # fmt: skip
    jobs = _jobs(batch, entry, opts, dry_run=False)
    mono = 0

    def provenance() -> tuple[str, str | None]:
        first = ray.descriptions[0] if ray.descriptions else None
        return _provenance(entry) if first is None else (first["model"], first["weights_sha256"])

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> EncodeRecord:
        job = jobs[item.index]  # not encoded here: skipped (resume), or why it cannot be
        if isinstance(job, Exception):
            raise job
        return EncodeRecord.of(_outcome(job, provenance(), 0.0))

    def record(rec: FileRecord) -> None:
        nonlocal mono
        mono += int(not opts.mono and isinstance(rec, EncodeRecord) and rec.format == "NPQ1")
        if on_record is not None:
            on_record(rec)

    summary = runner.run(batch, work, on_record=record, on_progress=on_progress, engine=ray)
    name, sha = provenance()
    used = sorted({str(d["backend"]) for d in ray.descriptions})
    return runner.finish(
        summary, EncodeSummary, since=t0, files_mono=mono, model=name, weights_sha256=sha,
        backend=",".join(used) or None,
    )  # fmt: skip


def _todo(job: _Job | Exception) -> bool:
    return isinstance(job, _Job) and job.status == "encoded"


def _jobs(
    batch: runner.Plan | Sequence[runner.PlanItem],
    codec: Codec | CodecEntry,
    opts: EncodeOptions,
    dry_run: bool,
) -> dict[int, _Job | Exception]:
    """Every item's job, or why it cannot be encoded (raised by ``work`` as that file's failure)."""
    jobs: dict[int, _Job | Exception] = {}
    for item in batch.items if isinstance(batch, runner.Plan) else batch:
        try:
            jobs[item.index] = _job(
                item.path, item.dst, codec, opts, cast("AudioInfo | None", item.info), dry_run
            )
        except Exception as exc:
            jobs[item.index] = exc
    return jobs


def _pipeline(
    jobs: dict[int, _Job | Exception], codec: Codec, opts: EncodeOptions
) -> tuple[Pipeline[EncodeRecord], dict[int, int]]:
    """The files to encode as one :class:`StreamEncoder` run, written in a background thread.

    Returns the pipeline and each planned item's stream (item index -> stream index).
    """
    todo = {i: job for i, job in jobs.items() if isinstance(job, _Job) and job.status == "encoded"}
    index = list(todo)  # stream -> plan item
    started: dict[int, float] = {}

    def opener(i: int, job: _Job) -> Callable[[], AbstractContextManager[SampleSource]]:
        def open_file() -> AbstractContextManager[SampleSource]:
            started[i] = time.perf_counter()
            return _opened(job, codec.sample_rate)

        return open_file

    streams = [Stream(job.n_samples, job.codebooks, opener(i, job)) for i, job in todo.items()]
    batch_size = opts.batch_size or auto_batch_size(codec, opts.chunk_seconds)
    encoder = StreamEncoder(codec, chunk_seconds=opts.chunk_seconds, batch_size=batch_size)

    def finish(stream: int, codes: Codes) -> EncodeRecord:
        job = todo[index[stream]]
        npq.write(job.dst, codes, job.header)  # type: ignore[type-var]  # NPQ1 or NPQ2, both writable
        return EncodeRecord.of(_outcome(job, codec, time.perf_counter() - started[index[stream]]))

    events = encoder.run(streams, prefetch=PREFETCH_CALLS * batch_size)
    return Pipeline(events, finish), {i: s for s, i in enumerate(index)}
