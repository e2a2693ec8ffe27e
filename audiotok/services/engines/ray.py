"""The Ray engine: a plan's files on a pool of Ray actors, each holding one loaded codec.

``--engine ray`` of ``npq encode``, ``npq decode`` and ``esf encode``. The
runner plans as for the local engine (inputs, outputs, shard, resume, probed
durations); :class:`RayEngine` then sends each file still to do to an actor
and gives the records back in plan order, as
:class:`~audiotok.services.engines.local.LocalEngine` does:

- each actor (:class:`AudiotokWorker`) loads the codec once, through the
  command's :class:`RemoteJob` (the same loading function the local path
  uses), and processes one file per call with the same per-file function,
  which writes its output through the same atomic writer, so the outputs are
  byte for byte those of the local engine;
- decoding, resampling and encoding of a file happen in its actor, streamed in
  chunks as locally: memory per actor stays bounded, and no audio goes through
  Ray's object store;
- a per-file error comes back as the same ``failed`` record as locally (a bug,
  any other exception, propagates);
- an actor whose process dies (killed, out of memory, a crash) loses no
  finished output and leaves no torn one (outputs are moved into place only
  when complete, and the dead attempt's temporary file is removed); its file
  is sent once more, to a new actor, and fails with a one-line reason if that
  one dies too. A rerun does the rest (resume).

Resources: every actor reserves ``cpus_per_worker`` CPUs (torch threads: that
many, at least 1) and ``gpus_per_worker`` GPUs. No other Ray task runs, so
actors never wait for CPUs held by a reading stage; ``worker_count`` defaults
to what the cluster holds. Ray is imported only here, and only when the
engine runs (:func:`import_ray`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, Protocol, TypeVar

from pydantic import Field

from audiotok.errors import AudiotokError, DeviceError, PrecisionFallbackWarning, UsageError
from audiotok.formats._base import FrozenModel
from audiotok.services.plan import PlanItem
from audiotok.services.records import FileRecord

__all__ = [
    "INSTALL_HINT",
    "AudiotokWorker",
    "RayEngine",
    "RayOptions",
    "RemoteJob",
    "import_ray",
]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'audiotok[ray]'"
S = TypeVar("S")
ATTEMPTS = 2
"""Tries per file when its actor dies: the first and one retry."""
BATCH_FILES = 8
"""Most files per actor call (fewer when that would leave actors idle at the end)."""
STARTUP_DEATHS = 3
"""Actors that may die before any is ready (loading the model) before the run gives up."""

DEFAULT_CPUS_PER_WORKER = 4
"""CPUs (and torch threads) per actor by default, at most: one loaded model per 4 CPUs, not per CPU
(memory); on nodes of fewer than 8 CPUs, half the node, so that each node runs two actors (on 2 cores,
2 actors x 1 CPU took 1.18x the local engine's time against 1.30x for 1 actor x 2 CPUs)."""

#: Environment variables handed to every actor (the run's settings and model caches), when set.
FORWARDED_ENV = ("TORCH_HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
#: Also handed on when every node of the cluster is this machine (a local cluster): paths valid here.
LOCAL_ENV = ("HOME", "PYTHONPATH")


class RayOptions(FrozenModel):
    """Where and how ``--engine ray`` runs (the CLI's ``--ray-address``, ``--workers``, ...)."""

    ray_address: str | None = Field(
        default=None,
        description="A running cluster's address, or 'auto' to join the one this machine belongs to; "
        "None: start a local cluster on this machine (stopped at the end).",
    )
    worker_count: int | None = Field(
        default=None,
        ge=1,
        description="Actors, each with one loaded codec. None: the cluster's GPUs / gpus_per_worker "
        "when actors use GPUs, else its CPUs / cpus_per_worker (never more than the files to do).",
    )
    cpus_per_worker: float | None = Field(
        default=None,
        gt=0,
        description="CPUs each actor reserves, and its torch threads (at least 1). None: "
        f"{DEFAULT_CPUS_PER_WORKER}, or half the CPUs of the largest node where it has fewer than 8.",
    )
    gpus_per_worker: float | None = Field(
        default=None, ge=0, description="GPUs each actor reserves. None: 1 when the cluster has GPUs, else 0."
    )
    device: str = Field(default="auto", description="Each actor's device (auto: its GPU if it has one).")
    precision: str = Field(default="fp32", description="Each actor's precision (audiotok.device.precision).")
    threads: int | None = Field(default=None, ge=1, description="Torch threads per actor; default as above.")
    start_timeout_s: float = Field(
        default=600.0, gt=0, description="Give up when no actor has started (loaded its codec) by then."
    )


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


def import_ray() -> ModuleType:
    """The ``ray`` module.

    Raises
    ------
    UsageError
        If Ray is not installed (one line saying how to install it).
    """
    try:
        import ray
    except ImportError:
        raise UsageError(
            f"`engine` ray needs Ray, which is not installed: {INSTALL_HINT}", param="engine"
        ) from None
    return ray


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


class _Pool:
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
        # a cluster started here has this process's environment (_cluster): no runtime_env, so the
        # actors may take the workers Ray started ahead; elsewhere the settings travel with them
        env = {} if inherited else {"runtime_env": {"env_vars": _env_for_actors(ray)}}
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
                f"the cluster has {_describe_resources(ray.cluster_resources())})"
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


def _largest_node_cpus(ray: ModuleType, default: float) -> float:
    """CPUs of the cluster's largest live node (``default`` when Ray cannot say)."""
    try:
        sizes = [float(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    except Exception:  # pragma: no cover
        sizes = []
    return max([s for s in sizes if s > 0], default=default) or 1.0


def _describe_resources(resources: dict[str, float]) -> str:
    return f"{resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs"


def _local_cluster(ray: ModuleType) -> bool:
    """Whether every node of the cluster is this machine (paths such as ``$HOME`` mean the same there)."""
    try:
        here = {ray.util.get_node_ip_address(), "127.0.0.1", socket.gethostname()}
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return bool(nodes) and all(
            n.get("NodeManagerAddress") in here or n.get("NodeManagerHostname") in here for n in nodes
        )
    except Exception:  # pragma: no cover  # a cluster that cannot say: assume remote nodes
        return False


def _env_for_actors(ray: ModuleType) -> dict[str, str]:
    """The driver's settings handed to every actor: ``AUDIOTOK_*``, model caches, (local) ``HOME``.

    On a local cluster the actors also import audiotok from where the driver
    did (a source checkout, not an installed copy).
    """
    local = _local_cluster(ray)
    names = set(FORWARDED_ENV) | (set(LOCAL_ENV) if local else set())
    env = {k: v for k, v in os.environ.items() if k.startswith("AUDIOTOK_") or k in names}
    if local:
        env.update(_code_path())
    return env


def _code_path() -> dict[str, str]:
    """``PYTHONPATH`` that imports audiotok from where this process did, if that is a source checkout."""
    code = str(Path(__file__).resolve().parents[3])  # the folder holding the audiotok package
    if "site-packages" in Path(code).parts:
        return {}
    return {"PYTHONPATH": os.pathsep.join(p for p in (code, os.environ.get("PYTHONPATH")) if p)}


@contextlib.contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _ToLog(logging.Handler):
    """Ray's log records as audiotok's: shown with ``-v`` (Ray's errors as warnings)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = logging.WARNING if record.levelno >= logging.ERROR else logging.INFO
        log.log(level, "ray: %s", " ".join(record.getMessage().split()))


@contextlib.contextmanager
def _quiet(ray: ModuleType) -> Iterator[None]:
    """Ray's messages through audiotok's log, never on stdout (where ``--json`` records go).

    The driver prints the raylet's messages (an actor died: already our
    failed record or retry) on stdout from a thread of its own; they go to the
    log at info level instead.
    """
    ray_log = logging.getLogger("ray")
    saved = (list(ray_log.handlers), ray_log.propagate)
    ray_log.handlers[:] = [_ToLog()]
    ray_log.propagate = False
    worker_mod = getattr(getattr(ray, "_private", None), "worker", None)
    printer = getattr(worker_mod, "print_to_stdstream", None)

    def to_log(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        for line in data.get("lines", []):
            log.info("ray (%s): %s", data.get("pid"), " ".join(str(line).split()))

    if printer is not None:
        worker_mod.print_to_stdstream = to_log  # type: ignore[union-attr]
    try:
        yield
    finally:
        if printer is not None:
            worker_mod.print_to_stdstream = printer  # type: ignore[union-attr]
        ray_log.handlers[:] = saved[0]
        ray_log.propagate = saved[1]


@contextlib.contextmanager
def _cluster(ray: ModuleType, options: RayOptions) -> Iterator[bool]:
    """Ray, initialised: joined (``ray_address``), or a local cluster started here; yields whether it is ours.

    A Ray already initialised in this process (a caller's) is used as it is
    and left running.
    """
    if ray.is_initialized():
        yield False
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    t0 = time.perf_counter()
    try:
        if options.ray_address is None:  # its processes inherit this environment (and our code path)
            with _environ(_code_path()):
                ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
        else:
            ray.init(address=options.ray_address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = "a local Ray cluster" if options.ray_address is None else f"Ray at {options.ray_address!r}"
        why = " ".join(str(exc).split()).split(". ")[0].rstrip(".")[:300]  # Ray's first sentence
        raise UsageError(f"cannot start or join {where}: {why}", param="ray_address") from None
    log.info("ray: %s in %.1f s", "started a local cluster" if options.ray_address is None else "joined",
             time.perf_counter() - t0)  # fmt: skip
    try:
        yield options.ray_address is None
    finally:
        ray.shutdown()


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
        with _quiet(ray), _cluster(ray, self.options) as ours:
            self.started_cluster = ours
            size, resolved = self._plan_actors(len(todo), ours)
            pool = _Pool(
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

    def _plan_actors(self, files: int, ours: bool) -> tuple[int, RayOptions]:
        """How many actors, and the options with what each reserves, from the cluster's resources."""
        opts = self.options
        total = self.ray.cluster_resources()
        cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
        per_gpu = opts.gpus_per_worker if opts.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
        per_cpu = opts.cpus_per_worker or min(
            float(DEFAULT_CPUS_PER_WORKER), max(1.0, _largest_node_cpus(self.ray, cpus) / 2)
        )
        opts = opts.model_copy(update={"cpus_per_worker": per_cpu, "gpus_per_worker": per_gpu})
        if ours or opts.ray_address is None:  # a cluster that cannot grow: refuse what can never start
            if per_gpu > gpus:
                raise UsageError(
                    f"each Ray actor asks for {per_gpu:g} GPU (`gpus_per_worker`) but the cluster has "
                    f"{_describe_resources(total)}",
                    param="gpus_per_worker",
                )
            if per_cpu > cpus:
                raise UsageError(
                    f"each Ray actor asks for {per_cpu:g} CPUs (`cpus_per_worker`) but the "
                    f"cluster has {_describe_resources(total)}",
                    param="cpus_per_worker",
                )
        if opts.worker_count is not None:
            size = opts.worker_count
        elif per_gpu > 0:
            size = max(1, math.floor(gpus / per_gpu + 1e-9))
        else:
            size = max(1, math.floor(cpus / per_cpu + 1e-9))
        fits = math.floor(cpus / per_cpu + 1e-9)
        if per_gpu > 0:
            fits = min(fits, math.floor(gpus / per_gpu + 1e-9))
        if size > fits and (ours or opts.ray_address is None):  # this cluster will not grow
            log.warning("%d Ray actors asked for, %d fit (%s)", size, fits, _describe_resources(total))
            size = fits
        elif size > fits:
            log.warning(
                "%d Ray actors asked for, the cluster holds %d now (%s); the others start if it grows",
                size, fits, _describe_resources(total),
            )  # fmt: skip
        return min(size, files), opts

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
