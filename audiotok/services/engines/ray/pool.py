"""The actors of one run (:class:`Pool`): started, fed a few files per call, replaced when they die.

A file whose actor dies is sent once more, to a new actor; the dead
attempt's temporary files (:mod:`audiotok._fsio`) are removed first, so no
torn output is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from audiotok.errors import AudiotokError, DeviceError
from audiotok.records import FileRecord
from audiotok.services.engines.ray.actor import AudiotokWorker, RemoteJob
from audiotok.services.engines.ray.cluster import describe_resources, env_for_actors
from audiotok.services.engines.ray.options import ATTEMPTS, BATCH_FILES, STARTUP_DEATHS, RayOptions
from audiotok.services.plan import PlanItem

__all__ = ["Pool", "glob_escape"]

log = logging.getLogger(__name__)


@dataclass
class _Actor:
    handle: Any
    ready: bool = False


def _one_line_death(exc: BaseException) -> str:
    """Why an actor died, in one line: Ray's exit detail without its troubleshooting list."""
    text = " ".join(str(exc).split())
    detail = re.search(r"Worker exit detail: (.*?)(?: There are some potential root causes|$)", text)
    if detail:
        return detail.group(1).rstrip(".")
    return text.split(". ")[0][:200]


def _init_failure(exc: BaseException) -> str:
    """The exception line of a failed actor creation (``AttributeError: ...``), else its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
    return (errors or lines or ["unknown error"])[-1][:300]


def _temp_files(output: Path | None) -> list[Path]:
    """The atomic writer's temporary files of ``output``, ``.NAME.<hex>.tmp`` (:mod:`audiotok._fsio`)."""
    if output is None or not output.parent.is_dir():
        return []
    return list(output.parent.glob(f".{glob_escape(output.name)}.*.tmp"))


def glob_escape(name: str) -> str:
    """``name`` with glob characters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


class Pool:
    """The actors of one run and the files sent to them (one in flight per actor)."""

    def __init__(
        self,
        ray: ModuleType,
        job: RemoteJob[Any],
        options: RayOptions,
        *,
        size: int,
        gpus: float,
        inherited: bool,
    ) -> None:
        self.ray, self.options, self.size, self.gpus = ray, options, size, gpus
        self.job_ref = ray.put(job)
        # a cluster started here has this process's environment (cluster.session): no runtime_env, so the
        # actors may take the workers Ray started ahead; elsewhere the settings travel with them
        env = {} if inherited else {"runtime_env": {"env_vars": env_for_actors(ray)}}
        self.cls = ray.remote(AudiotokWorker).options(
            num_cpus=options.cpus_per_worker, num_gpus=gpus, max_restarts=0, max_task_retries=0, **env
        )
        self.starting: dict[Any, _Actor] = {}
        self.idle: deque[_Actor] = deque()
        self.running: dict[Any, tuple[_Actor, deque[PlanItem]]] = {}  # generator -> its files not yet in
        self.pending: deque[PlanItem] = deque()
        self.tries: dict[int, int] = {}
        self.results: dict[int, FileRecord] = {}
        self.descriptions: dict[int, dict[str, Any]] = {}  # per actor (id)
        self.actors: list[_Actor] = []
        self.startup_deaths = 0
        self.t0 = time.monotonic()
        for _ in range(size):
            self._start()

    def _start(self) -> None:
        actor = _Actor(self.cls.remote(self.job_ref, self.options))
        self.actors.append(actor)
        self.starting[actor.handle.ready.remote()] = actor

    def submit(self, items: Sequence[PlanItem]) -> None:
        """Queue ``items``; idle actors get them at once, the others as they become free."""
        self.pending.extend(items)
        self._dispatch()

    def _dispatch(self) -> None:
        while self.idle and self.pending:
            actor = self.idle.popleft()
            # a few files per call, so that an actor reads the next file while it encodes one;
            # small enough that the actors finish together
            n = max(1, min(BATCH_FILES, math.ceil(len(self.pending) / (2 * self.size))))
            batch = deque(self.pending.popleft() for _ in range(min(n, len(self.pending))))
            for item in batch:
                self.tries[item.index] = self.tries.get(item.index, 0) + 1
            # backpressure 1: the actor goes on to the next file only once this one's record is in,
            # so that a record is never lost with an actor that dies on the file after it
            call = actor.handle.run_many.options(
                num_returns="streaming", _generator_backpressure_num_objects=1
            ).remote(list(batch))
            self.running[call] = (actor, batch)

    @property
    def any_ready(self) -> bool:
        """Whether one actor has loaded its codec."""
        return any(a.ready for a in self.actors)

    def wait_ready(self) -> None:
        """Pump until one actor has loaded its codec (its description is in)."""
        while not self.any_ready:
            self.pump()

    def result(self, item: PlanItem) -> FileRecord:
        """Pump until ``item``'s record is in, and return it."""
        while item.index not in self.results:
            self.pump()
        return self.results.pop(item.index)

    def pump(self, timeout: float = 1.0) -> None:
        """Wait (at most ``timeout`` s) for one actor to start or one file to finish, and handle it."""
        ray = self.ray
        refs = [*self.starting, *self.running]
        if not refs:
            raise DeviceError("no Ray actor is left to process the remaining files")  # pragma: no cover
        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        for ref in done:
            if ref in self.starting:
                self._started(ref, self.starting.pop(ref))
            else:
                actor, batch = self.running.pop(ref)
                self._finished(ref, actor, batch)
        if not self.any_ready and time.monotonic() - self.t0 > self.options.start_timeout_s:
            need = f"{self.options.cpus_per_worker or 1:g} CPU"
            need += f" and {self.gpus:g} GPU" if self.gpus else ""
            raise DeviceError(
                f"no Ray actor started within {self.options.start_timeout_s:g} s (each asks for {need}; "
                f"the cluster has {describe_resources(ray.cluster_resources())})"
            )
        self._dispatch()

    def _started(self, ref: Any, actor: _Actor) -> None:
        ray = self.ray
        try:
            error, description = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):  # its class or arguments did not load: no retry
                raise DeviceError(f"the Ray actors cannot start: {_init_failure(exc)}") from None
            self._drop(actor)
            self.startup_deaths += 1
            if self.startup_deaths < STARTUP_DEATHS:
                log.info("a Ray actor died while starting (%s); starting another", _one_line_death(exc))
                self._start()
            elif not self.any_ready and not self.starting:
                raise DeviceError(
                    f"Ray actors die while loading the model ({self.startup_deaths} so far): "
                    f"{_one_line_death(exc)}"
                ) from None
            else:  # go on with the actors that started
                log.warning("Ray actors die while starting (%s); going on with fewer", _one_line_death(exc))
            return
        if error is not None:
            raise error
        actor.ready = True
        log.info("ray: actor %s ready %.1f s after the pool started", description.get("pid"),
                 time.monotonic() - self.t0)  # fmt: skip
        self.descriptions[id(actor)] = description
        self.idle.append(actor)

    def _finished(self, call: Any, actor: _Actor, batch: deque[PlanItem]) -> None:
        """The next record of ``call`` (streaming over ``batch``), or its end, or its actor's death."""
        ray = self.ray
        try:
            ref = next(call)
        except StopIteration:
            self.idle.append(actor)
            if batch:  # pragma: no cover  # the actor yields one record per file
                self.pending.extendleft(reversed(batch))
            return
        try:
            record = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
            self._died(actor, batch, exc)
            return
        except ray.exceptions.RayTaskError as exc:  # a bug in the per-file work: as the local engine does
            raise exc.as_instanceof_cause() from None
        item = batch.popleft()
        self.results[item.index] = record
        if batch:
            self.running[call] = (actor, batch)
        else:  # its last file: the actor takes the next call once this one has wound up
            self.idle.append(actor)

    def _died(self, actor: _Actor, batch: deque[PlanItem], exc: BaseException) -> None:
        """``batch[0]`` was being processed when its actor died: tried again once; the rest was not begun."""
        why = _one_line_death(exc)
        self._drop(actor)
        for item in batch:  # the dead attempt's unfinished outputs; nobody else writes them
            for tmp in _temp_files(item.output):
                with contextlib.suppress(OSError):
                    tmp.unlink()
        item, rest = batch[0], list(batch)[1:]
        for other in rest:  # not begun: this try does not count
            self.tries[other.index] -= 1
        self.pending.extendleft(reversed(rest))
        if self.tries.get(item.index, 0) < ATTEMPTS:
            log.info("%s: its Ray actor died (%s); trying once more", item.path, why)
            self.pending.appendleft(item)
        else:
            from audiotok.services import runner

            failure = AudiotokError(f"the Ray actor died while processing it, {ATTEMPTS} times ({why})")
            self.results[item.index] = runner.failed(item, failure)
        if self.pending or self.running:
            self._start()

    def _drop(self, actor: _Actor) -> None:
        with contextlib.suppress(ValueError):
            self.actors.remove(actor)
        with contextlib.suppress(ValueError):
            self.idle.remove(actor)
        with contextlib.suppress(Exception):
            self.ray.kill(actor.handle, no_restart=True)

    def close(self) -> list[dict[str, Any]]:
        """Stop every actor (after asking the ready ones for their final description); return descriptions."""
        ray = self.ray
        ready = [a for a in self.actors if a.ready and a not in (r[0] for r in self.running.values())]
        refs = [a.handle.describe.remote() for a in ready]
        with contextlib.suppress(Exception):
            for actor, desc in zip(ready, ray.get(refs, timeout=30), strict=True):
                self.descriptions[id(actor)] = desc
        for actor in list(self.actors):
            self._drop(actor)
        for _, batch in self.running.values():  # stopped mid-file (an early stop): no leftovers
            for item in batch:
                for tmp in _temp_files(item.output):
                    with contextlib.suppress(OSError):
                        tmp.unlink()
        self.running.clear()
        return list(self.descriptions.values())
