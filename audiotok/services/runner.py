"""One batch runner under every per-file command: :func:`plan`, then :func:`run`.

:func:`plan` (from :mod:`audiotok.services.plan`) expands the inputs, maps each to its
output, refuses two inputs that map to one output (a :class:`UsageError`
naming both, before any work), keeps this shard's files, sets aside those
whose output already validates (resume) and probes the rest for their audio
duration, so that progress totals are known before the first file. Then
:func:`run` hands each item to the command's ``work`` function through an
engine (:class:`~audiotok.services.engines.local.LocalEngine`), turns the
exceptions of :data:`CAUGHT` into ``failed`` records, and returns a
:class:`~audiotok.records.BatchSummary`.

A command adds only its ``work(item, on_progress) -> FileRecord`` and its own
record fields::

    batch = runner.plan(inputs, suffixes=(".npq",), outdir=outdir, out_suffix=".wav")
    summary = runner.run(batch, partial(decode_one, codec=codec), on_record=records.append)

With the environment variable ``AUDIOTOK_STRICT=1`` (set by the test suite)
only :class:`~audiotok.errors.AudiotokError` becomes a failed record; any
other exception propagates, so that a bug fails a test instead of becoming a
"failed file".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

from audiotok.errors import AudiotokError
from audiotok.progress import PlannedTotal, ProgressEvent, ProgressFn, emit
from audiotok.records import BatchSummary, FileRecord
from audiotok.services.engines.local import LocalEngine
from audiotok.services.plan import HasDuration, Plan, PlanItem, check_shard, expand, plan, plan_files

__all__ = [
    "CAUGHT",
    "STRICT_ENV",
    "Engine",
    "HasDuration",
    "Plan",
    "PlanItem",
    "caught_exceptions",
    "check_shard",
    "expand",
    "failed",
    "failure_reason",
    "finish",
    "plan",
    "plan_files",
    "run",
]

CAUGHT: tuple[type[BaseException], ...] = (AudiotokError, OSError, MemoryError, RuntimeError)
"""What one file may raise without stopping the batch: our errors, the OS's (disk full,
permissions), out of memory, and the codecs' runtime errors (torch)."""
STRICT_ENV = "AUDIOTOK_STRICT"
"""Environment variable: ``1`` narrows :data:`CAUGHT` to :class:`AudiotokError` (tests)."""

S = TypeVar("S", bound=BatchSummary)


class Engine(Protocol):
    """Executes items in order (:class:`~audiotok.services.engines.local.LocalEngine`)."""

    def execute(
        self, items: Sequence[PlanItem], attempt: Callable[[PlanItem], FileRecord]
    ) -> Iterator[FileRecord]:
        """``attempt(item)`` for every item, results in item order."""
        ...


def caught_exceptions() -> tuple[type[BaseException], ...]:
    """The exceptions one file may raise without stopping the batch (:data:`CAUGHT`, or ours only)."""
    return (AudiotokError,) if os.environ.get(STRICT_ENV) == "1" else CAUGHT


def failure_reason(path: str | os.PathLike[str], exc: BaseException) -> str:
    """The one-line ``error`` of a failed record of ``path``.

    An :class:`AudiotokError` gives its reason, prefixed with its own path when
    that is another file (a sidecar, a checkpoint); anything else its type and message.
    """
    if isinstance(exc, AudiotokError):
        return exc.reason if exc.path in (None, os.fspath(path)) else str(exc)
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def failed(item: PlanItem, exc: BaseException) -> FileRecord:
    """The ``failed`` record of ``item`` that raised ``exc`` (:func:`failure_reason`)."""
    output = None if item.output is None else str(item.output)
    reason = failure_reason(item.path, exc)
    return FileRecord(input=str(item.path), output=output, status="failed", error=reason)


def run(
    batch: Plan,
    work: Callable[[PlanItem, ProgressFn | None], FileRecord],
    *,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
    skip_errors: bool = True,
    engine: Engine | None = None,
) -> BatchSummary:
    """Run ``work`` on every item of ``batch`` that resume did not skip.

    Records go to ``on_record`` in plan order: the unmatched arguments first
    (failed), then one per item (its ``skipped`` record, what ``work``
    returned, or a failed record when it raised one of
    :func:`caught_exceptions`). Progress: ``files`` with its total first, and
    when the plan was probed, ``seconds`` (audio) with its total up front
    (:class:`~audiotok.progress.PlannedTotal`); ``work`` gets the item's share.

    Parameters
    ----------
    batch : Plan
        From :func:`plan` or :func:`plan_files`.
    work : callable
        ``work(item, on_progress) -> FileRecord``: process one file, raise on failure.
    on_record : callable, optional
        Gets every record.
    on_progress : callable, optional
        Gets :class:`~audiotok.progress.ProgressEvent` values.
    skip_errors : bool
        Go on after a failed file (else stop after the first).
    engine : Engine, optional
        Default: :class:`~audiotok.services.engines.local.LocalEngine` (in order, this thread).

    Returns
    -------
    BatchSummary
        Counts per status, audio seconds (of written, read and planned items), wall
        time and real-time factor; no model (the command adds it).
    """
    t0 = time.perf_counter()
    counts: dict[str, int] = {"planned": 0, "written": 0, "read": 0, "skipped": 0, "failed": 0}
    for miss in batch.unmatched:
        counts["failed"] += 1
        if on_record is not None:
            on_record(FileRecord(input=miss.arg, status="failed", error=miss.reason))
    emit(on_progress, ProgressEvent("files", total=batch.files))
    seconds = (
        PlannedTotal(on_progress, "seconds", [i.seconds for i in batch.items]) if batch.measured else None
    )
    caught = caught_exceptions()

    def attempt(item: PlanItem) -> FileRecord:
        if item.skipped is not None:
            return item.skipped
        try:
            return work(item, None if seconds is None else seconds.share(item.index))
        except caught as exc:
            return failed(item, exc)

    audio = 0.0
    results = (engine or LocalEngine()).execute(batch.items, attempt)
    try:
        for item, record in zip(batch.items, results, strict=True):
            counts[record.status] += 1
            if record.status in ("written", "read", "planned"):
                audio += item.seconds
            if on_record is not None:
                on_record(record)
            if on_progress is not None:
                name = str(item.path)
                if seconds is not None:
                    seconds.settle(item.index, done=record.status in ("written", "read"), item=name)
                on_progress(ProgressEvent("files", advance=1, item=name))
            if record.status == "failed" and not skip_errors:
                break
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    wall = time.perf_counter() - t0
    return BatchSummary(
        files_planned=counts["planned"],
        files_written=counts["written"],
        files_read=counts["read"],
        files_skipped=counts["skipped"],
        files_failed=counts["failed"],
        audio_seconds=audio,
        wall_seconds=wall,
        real_time_factor=audio / wall if wall > 0 else 0.0,
    )


def finish(summary: BatchSummary, cls: type[S], *, since: float | None = None, **extra: object) -> S:
    """``summary`` as a ``cls`` (a :class:`BatchSummary` subclass) with the command's ``extra`` fields.

    With ``since`` (a :func:`time.perf_counter` value taken before the model
    was loaded, say), wall time and real-time factor count from then.
    """
    fields = {**summary.model_dump(), "files_read": summary.files_read}  # dumped by ReadSummary only
    if since is not None:
        wall = time.perf_counter() - since
        rtf = summary.audio_seconds / wall if wall > 0 else 0.0
        fields.update(wall_seconds=wall, real_time_factor=rtf)
    fields.update(extra)
    return cls.model_validate(fields)
