"""``encode_paths``: plan, then run the pipeline here or on Ray actors, then commit the sink."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiotok.codecs.chunking import frames_for_seconds
from audiotok.codecs.plugin import Codec
from audiotok.errors import UsageError
from audiotok.paths import AUDIO_SUFFIXES
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import runner
from audiotok.services.encode.jobs import Job, Model, plan_jobs, probe_or_none
from audiotok.services.encode.options import CodecChoice, EncodeOptions, EncodeRunSummary, settle
from audiotok.services.encode.remote import RemoteEncode, manifest_root
from audiotok.services.encode.stream import Manifests, Writes, encode_pipeline
from audiotok.sinks import manifest
from audiotok.sinks.base import SinkContext, TokenSink, get_sink

if TYPE_CHECKING:
    import torch

    from audiotok.services.engines.ray import RayOptions

__all__ = ["encode_paths"]


def encode_paths(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    codec: CodecChoice,
    sink: str | None = None,
    opts: EncodeOptions | None = None,
    device: torch.device | str | None = None,
    recursive: bool = False,
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
    shard: tuple[int, int] = (0, 1),
    shard_limits: tuple[int | None, int | None] = (None, None),
    dry_run: bool = False,
    engine: RayOptions | None = None,
    loader: Callable[[], Codec] | None = None,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> EncodeRunSummary:
    """Encode every audio file named by ``inputs`` with ``codec`` into ``sink`` (default: the family's).

    Outputs mirror the input tree under ``outdir`` (beside each input
    without it), with an identity manifest (``tokens.json``) at their root;
    outputs that are already complete are skipped unless ``opts.overwrite``
    (resume). The files to encode are one pipeline: decoded and resampled in
    a reading thread, windows of equal length batched across files, written
    in a writer thread. With ``engine`` (Ray) they go to actors, each loading
    the codec on its own device (``device`` is not used) and running the same
    pipeline: the same bytes. A dry run plans here and loads nothing it need not.

    ``on_record`` gets each file's record (the sink's record type) or a failed
    record; the batch goes on past a bad file. ``loader`` loads the codec
    instead of the registry (called once, when a file needs encoding).
    ``shard_limits`` (bytes of codes, items; ``None``: the format's default)
    caps each shard of a sharded sink (``parquet``, ``shar``, ``webdataset``).

    Raises
    ------
    ModelError
        If the model cannot be found or loaded (before any file is written).
    UsageError
        If an option does not fit the codec or the sink (a codebook count, Mid
        and Side into a one-channel sink), two inputs map to one output
        (naming both), the output folder holds another codec's tokens, the
        shard does not exist, ``shard_limits`` are given for a sink of one file
        per item, or ``engine`` is given without Ray installed.
    """
    t0 = time.perf_counter()
    opts = opts or EncodeOptions()
    if sink is not None:
        get_sink(sink)  # an unknown sink is refused before the model is looked at
    ray = None
    if engine is not None and not dry_run:
        from audiotok.services.engines.ray import import_ray

        import_ray()  # refuses before any work when Ray is missing
    model = Model(codec, device, dry_run=dry_run, loader=loader)
    ctx = model.context(identify=False)  # a named model's entry: no weights are fetched to plan
    sink = sink or model.plugin.defaults.sink
    sink_cls = get_sink(sink)
    settings = settle(
        opts, model.plugin.defaults, n_codebooks=ctx.info.n_codebooks, channels=ctx.info.channels
    )
    sink_cls.accepts(ctx, settings.plan.widest)
    if sink_cls.sharded and (engine is not None or shard[1] > 1):
        raise UsageError(
            f"{sink} shards are planned and written by one process: no --engine ray or --shard-count "
            "(write `to` npq on many, then `dataset export`)",
            param="to",
        )

    def make_target(context: SinkContext) -> TokenSink:
        made = sink_cls(context, outdir)
        if shard_limits != (None, None):
            from audiotok.sinks.sharded import ShardedTokenSink

            if not isinstance(made, ShardedTokenSink):
                raise UsageError(
                    f"--max-shard-bytes and --max-shard-items size the shards of parquet, shar and "
                    f"webdataset, not {sink} files", param="max_shard_items",
                )  # fmt: skip
            made.set_limits(*shard_limits)
        return made

    target = make_target(ctx)

    def done_without_audio(item: runner.PlanItem) -> FileRecord | None:
        return target.resume(item.path, item.dst, None)  # a sink that needs no probe: not probed, not counted

    items_at = sink_cls.item_root(outdir)
    batch = runner.plan(
        inputs, suffixes=suffixes, outdir=items_at, out_suffix=sink_cls.suffix, recursive=recursive,
        shard=shard, probe=probe_or_none, resume=done_without_audio, overwrite=settings.overwrite,
        sweep_temps=not dry_run,
    )  # fmt: skip
    if batch.items and not dry_run:  # files to record: the weights' sha256 goes into them
        ctx = model.context()
        target = make_target(ctx)
    roots = manifest_root(items_at)
    for root in sorted({roots(item.dst) for item in batch.items}):
        manifest.check(root, ctx.info)  # one codec per output folder, refused before any work
    jobs = plan_jobs(batch.items, ctx, settings.plan, target, overwrite=settings.overwrite, dry_run=dry_run)
    todo = {i: j for i, j in jobs.items() if isinstance(j, Job) and j.status == "todo"}
    if engine is not None and not dry_run:
        from audiotok.services.engines.ray import RayEngine

        remote = RemoteEncode(codec, sink, settings, items_at)
        ray = RayEngine(engine, remote, remote=lambda item: item.index in todo)
    loaded = model.load(settings.plan.most) if todo and ray is None else model.codec
    pipe = None
    stream_of: dict[int, int] = {}
    writes = None
    if loaded is not None and ray is None:
        target.context = SinkContext(loaded.info, loaded.name, loaded.caps.normalizes)
        writes = Writes(target, Manifests(roots, sink, loaded))
        pipe, stream_of = encode_pipeline(
            {i: j for i, j in jobs.items() if isinstance(j, Job)}, loaded, settings, writes
        )
    done: dict[str, str] = {}  # input -> status, for the files_mono count
    cut = 0  # files written in segments (a codec with a global receptive field)

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> FileRecord:
        job = jobs[item.index]
        if isinstance(job, Exception):
            raise job
        if isinstance(job, FileRecord):
            return job
        if job.status != "todo" or pipe is None:
            if job.record is None:
                raise TypeError(f"{item.path}: planned for Ray, run here")  # pragma: no cover
            return job.record
        rate = loaded.sample_rate if loaded is not None else ctx.info.sample_rate

        def advance(samples: int) -> None:
            emit(on_progress, ProgressEvent("seconds", advance=samples / rate, item=str(item.path)))

        got: Any = pipe.result(stream_of[item.index], advance)
        if writes is not None and target.sharded:
            return writes.write(job, *got)
        return got  # type: ignore[no-any-return]

    def record(rec: FileRecord) -> None:
        nonlocal cut
        done[rec.input] = rec.status
        cut += bool(rec.segments)
        if on_record is not None:
            on_record(rec)

    with contextlib.nullcontext() if pipe is None else pipe:
        summary = runner.run(batch, work, on_record=record, on_progress=on_progress, engine=ray)
    if not dry_run:
        target.commit()
    mono = 0
    if len(settings.plan.widest) == 2:  # Mid/Side: count the mono inputs coded as one channel
        mono = sum(
            isinstance(j, Job) and len(j.file.groups) == 1 and done.get(str(j.file.src)) != "failed"
            for j in jobs.values()
        )
    chunked = _chunked(jobs, done, model.codec, settings.chunk_seconds)
    return _summary(summary, t0, mono, cut, ctx, model, ray, sink, chunked)


def _chunked(jobs: dict[int, Any], done: dict[str, str], codec: Codec | None, seconds: float | None) -> bool:
    """Whether a file written in this run was longer than one chunk (so its codes came in chunks)."""
    if codec is None or seconds is None:
        return False
    grid = codec.frame_grid
    frames = -(-frames_for_seconds(seconds, codec.frame_rate, 0) // grid) * grid
    return any(
        isinstance(j, Job) and done.get(str(j.file.src)) == "written" and j.file.n_frames > frames
        for j in jobs.values()
    )


def _summary(
    summary: BatchSummary,
    t0: float,
    mono: int,
    cut: int,
    ctx: SinkContext,
    model: Model,
    ray: Any,
    sink: str,
    chunked: bool = True,
) -> EncodeRunSummary:
    name, sha, backend = ctx.name, ctx.info.weights_sha256, None
    if model.codec is not None:
        name, sha, backend = model.codec.name, model.codec.weights_sha256, model.codec.backend_of("encoder")
    if ray is not None:
        first = ray.descriptions[0] if ray.descriptions else None
        if first is not None:
            name, sha = first["model"], first["weights_sha256"]
        backend = ",".join(sorted({str(d["backend"]) for d in ray.descriptions})) or None
    exact = None
    if model.codec is not None:  # a file encoded whole (one window, uncut) has the whole-file codes
        caps = model.codec.caps
        whole = not chunked and not caps.streaming  # (a streamed file may share a longer call)
        exact = caps.exact_chunking or (caps.global_context and not cut) or whole
    return runner.finish(
        summary, EncodeRunSummary, since=t0, files_mono=mono, files_cut=cut, model=name, weights_sha256=sha,
        backend=backend, codec=ctx.info.codec, sink=sink, exact_chunking=exact,
    )  # fmt: skip
