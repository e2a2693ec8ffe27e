"""One file through the encode pipeline with a codec already loaded (library use, tests, presets)."""

from __future__ import annotations

import os
from pathlib import Path

from audiotok.audio import AudioInfo
from audiotok.codecs import registry
from audiotok.codecs.plugin import Codec
from audiotok.paths import InputFile
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.records import FileRecord
from audiotok.services.encode.jobs import plan_jobs
from audiotok.services.encode.options import EncodeOptions, settle
from audiotok.services.encode.stream import Manifests, Writes, encode_pipeline
from audiotok.services.plan import PlanItem
from audiotok.sinks.base import SinkContext, get_sink

__all__ = ["encode_file"]


def encode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    codec: Codec,
    *,
    sink: str = "npq",
    opts: EncodeOptions | None = None,
    dry_run: bool = False,
    info: AudioInfo | None = None,
    on_progress: ProgressFn | None = None,
) -> FileRecord:
    """Encode one audio file with a loaded ``codec`` into ``sink`` at ``dst`` (skipped if already complete).

    The same pipeline as :func:`~audiotok.services.encode.encode_paths`
    (so the same bytes), for one file; its identity manifest goes beside ``dst``.

    Parameters
    ----------
    info : AudioInfo, optional
        ``src``'s :func:`~audiotok.audio.probe` result, if already read.
    on_progress : callable, optional
        Gets ``ProgressEvent("seconds", advance=...)`` per encoded chunk (audio seconds).

    Returns
    -------
    FileRecord
        The sink's record: ``written``, ``skipped`` (a complete output existed) or ``planned`` (dry run).

    Raises
    ------
    InputError
        If the audio is unreadable, empty, or has channels the options cannot code.
    UsageError
        If an option does not fit the codec or the sink.
    """
    source, target_path = Path(src), Path(dst)
    opts = opts or EncodeOptions()
    settings = settle(
        opts, registry.plugin(codec.family).defaults, n_codebooks=codec.n_codebooks, channels=codec.channels
    )
    sink_cls = get_sink(sink)
    ctx = SinkContext(codec.info, codec.name, codec.caps.normalizes)
    sink_cls.accepts(ctx, settings.plan.widest)
    target = sink_cls(ctx)
    item = PlanItem(0, InputFile(source, source.parent), target_path, info=info)
    job = plan_jobs([item], ctx, settings.plan, target, overwrite=settings.overwrite, dry_run=dry_run)[0]
    if isinstance(job, Exception):
        raise job
    if isinstance(job, FileRecord):
        return job
    if job.status != "todo" and job.record is not None:
        return job.record
    writes = Writes(target, Manifests(lambda d: d.parent, sink, codec))
    pipe, stream_of = encode_pipeline({0: job}, codec, settings, writes)

    def advance(samples: int) -> None:
        emit(on_progress, ProgressEvent("seconds", advance=samples / codec.sample_rate, item=str(source)))

    with pipe:
        got = pipe.result(stream_of[0], advance)
    if target.sharded:
        got = writes.write(job, *got)
    target.commit()
    return got  # type: ignore[no-any-return]
