"""The Ray engine (:class:`RayEngine`): a plan's files on a pool of Ray actors, records in plan order."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic

from audiotok.errors import PrecisionFallbackWarning
from audiotok.records import FileRecord
from audiotok.services.engines.ray.actor import RemoteJob, S
from audiotok.services.engines.ray.cluster import plan_actors, quiet, session
from audiotok.services.engines.ray.options import RayOptions, import_ray
from audiotok.services.engines.ray.pool import Pool
from audiotok.services.plan import PlanItem

__all__ = ["RayEngine"]


class RayEngine(Generic[S]):
    """Run a plan's files on Ray actors, records in plan order (a :class:`~audiotok.services.runner.Engine`).

    Parameters
    ----------
    options : RayOptions
        Cluster and actors.
    job : RemoteJob
        What each actor loads and does per file.
    remote : callable, optional
        Which items go to the actors (default: those resume did not skip);
        the others get the runner's local ``attempt`` (skipped records, files
        that failed while planning). Ray starts only when one item is remote.

    Attributes
    ----------
    descriptions : list of dict
        What each actor reported (``job.describe`` plus ``pid``, ``device``,
        ``precision``); the first is in once an actor has started, before the
        first record.

    Raises
    ------
    UsageError
        If Ray is not installed (when constructed), the cluster cannot be
        started or joined, or cannot hold one actor.
    DeviceError
        If no actor starts within ``start_timeout_s``, or actors keep dying while loading.
    """

    def __init__(
        self,
        options: RayOptions,
        job: RemoteJob[S],
        *,
        remote: Callable[[PlanItem], bool] | None = None,
    ) -> None:
        self.ray = import_ray()
        self.options, self.job = options, job
        self.remote = remote or (lambda item: item.skipped is None)
        self.descriptions: list[dict[str, Any]] = []
        self.started_cluster = False

    def execute(
        self, items: Sequence[PlanItem], attempt: Callable[[PlanItem], FileRecord]
    ) -> Iterator[FileRecord]:
        """Every item's record, in item order: remote ones from the actors, the others from ``attempt``.

        Closing the iterator early stops the actors (files in flight are
        abandoned, their temporary files removed) and a cluster started here.
        """
        todo = [item for item in items if self.remote(item)]
        if not todo:
            for item in items:
                yield attempt(item)
            return
        ray = self.ray
        with quiet(ray), session(ray, self.options) as ours:
            self.started_cluster = ours
            size, resolved = plan_actors(ray, self.options, len(todo), ours=ours)
            pool = Pool(
                ray, self.job, resolved, size=size, gpus=resolved.gpus_per_worker or 0.0, inherited=ours
            )
            try:
                pool.submit(todo)
                pool.wait_ready()
                self.descriptions = list(pool.descriptions.values())
                self._warn_precision()
                for item in items:
                    yield pool.result(item) if self.remote(item) else attempt(item)
            finally:
                self.descriptions = pool.close() or self.descriptions

    def _warn_precision(self) -> None:
        wanted = self.options.precision
        used = {d.get("precision") for d in self.descriptions}
        if wanted != "fp32" and used and used != {wanted}:
            devices = ", ".join(sorted({str(d.get("device")) for d in self.descriptions}))
            warnings.warn(
                PrecisionFallbackWarning(
                    f"{wanted} needs a CUDA GPU of compute capability 8.0 or newer; "
                    f"the Ray actors on {devices} compute in fp32"
                ),
                stacklevel=2,
            )
