"""What runs in a Ray actor: the command's :class:`RemoteJob` and the actor class :class:`AudiotokWorker`.

Ray pickles :class:`AudiotokWorker` by reference (this module's path), so
every actor imports this module; torch and the runner are imported in the
actor, when it starts.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypeVar

from audiotok.errors import PrecisionFallbackWarning
from audiotok.records import FileRecord
from audiotok.services.engines.ray.options import RayOptions
from audiotok.services.plan import PlanItem

__all__ = ["AudiotokWorker", "RemoteJob"]

S = TypeVar("S")


class RemoteJob(Protocol[S]):
    """What a command runs in each actor: loading once, then one file per call.

    The object is pickled to every actor, so it holds plain settings (a model
    name, options), never a loaded model. A job may also have
    ``work_many(state, items) -> Iterator[Callable[[], FileRecord]]``: one
    call per item, in order, each returning its record or raising its error,
    for jobs that pipeline several files (``npq encode``); actors get a few
    files per call either way.
    """

    def setup(self, device: Any) -> S:
        """Load the codec (in the actor, on its ``torch.device``); raise an AudiotokError if it cannot."""
        ...

    def work(self, state: S, item: PlanItem) -> FileRecord:
        """Process one file (write its output atomically), return its record; raise on failure."""
        ...

    def describe(self, state: S) -> dict[str, Any]:
        """Provenance for the summary (model, weights' sha256, backend): plain values."""
        ...


class AudiotokWorker:
    """One Ray actor: a loaded codec (``job.setup``) and files processed one per call (``job.work``).

    A setup error that is an :class:`AudiotokError` (a missing model) is kept
    and returned by :meth:`ready`, so the driver reports it once and stops.
    """

    def __init__(self, job: RemoteJob[Any], options: RayOptions) -> None:
        from audiotok import device as device_lib

        self.job, self.options = job, options
        self.error: Exception | None = None
        self.state: Any = None
        self.device: Any = None
        self.precision = options.precision
        try:
            threads = options.threads or max(1, math.floor(options.cpus_per_worker or 1))
            device_lib.set_threads(threads)
            self.device = device_lib.select_device(options.device)
            with warnings.catch_warnings():  # the driver says it once (RayEngine)
                warnings.simplefilter("ignore", PrecisionFallbackWarning)
                self.precision = device_lib.resolve_precision(options.precision, self.device)
            self.state = job.setup(self.device)
        except Exception as exc:  # reported by the driver (a bug too: raised there, not retried)
            self.error = exc

    def ready(self) -> tuple[Exception | None, dict[str, Any]]:
        """The setup error, or ``None`` and the job's description (with pid, device, precision)."""
        if self.error is not None:
            return self.error, {}
        return None, self.describe()

    def describe(self) -> dict[str, Any]:
        """The job's description of this actor's state (what it loaded), with pid, device and precision."""
        desc = {} if self.error is not None else dict(self.job.describe(self.state))
        return {**desc, "pid": os.getpid(), "device": str(self.device), "precision": self.precision}

    def run_many(self, items: Sequence[PlanItem]) -> Iterator[FileRecord]:
        """Records of ``items``, in order, one Ray object each (a streaming generator).

        With the job's ``work_many`` (``npq encode``), the files go through
        the local engine's pipeline (the next file read while this one is
        encoded); else one :meth:`run` per file.
        """
        from audiotok import device as device_lib
        from audiotok.services import runner

        work_many = getattr(self.job, "work_many", None)
        if work_many is None:
            for item in items:
                yield self.run(item)
            return
        with device_lib.precision(self.precision, self.device):
            for item, result in zip(items, work_many(self.state, items), strict=True):
                try:
                    record: FileRecord = result()
                except runner.caught_exceptions() as exc:
                    record = runner.failed(item, exc)
                yield record

    def run(self, item: PlanItem) -> FileRecord:
        """``job.work`` on one file; the caught exceptions of the runner become its failed record."""
        from audiotok import device as device_lib
        from audiotok.services import runner

        try:
            with device_lib.precision(self.precision, self.device):
                return self.job.work(self.state, item)
        except runner.caught_exceptions() as exc:
            return runner.failed(item, exc)
