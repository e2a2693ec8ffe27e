"""The Ray cluster of a run: started or joined, sized for the actors, its logs in audiotok's.

:func:`session` starts a local cluster (or joins ``ray_address``),
:func:`plan_actors` sizes the actors from the cluster's resources,
:func:`env_for_actors` is the environment forwarded to them, and
:func:`quiet` routes Ray's messages to audiotok's log.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from audiotok.errors import UsageError
from audiotok.services.engines.ray.options import (
    DEFAULT_CPUS_PER_WORKER,
    FORWARDED_ENV,
    LOCAL_ENV,
    RayOptions,
)

__all__ = ["describe_resources", "env_for_actors", "plan_actors", "quiet", "session"]

log = logging.getLogger(__name__)


def _largest_node_cpus(ray: ModuleType, default: float) -> float:
    """CPUs of the cluster's largest live node (``default`` when Ray cannot say)."""
    try:
        sizes = [float(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    except Exception:  # pragma: no cover
        sizes = []
    return max([s for s in sizes if s > 0], default=default) or 1.0


def describe_resources(resources: dict[str, float]) -> str:
    """``resources`` (Ray's ``cluster_resources()``) in words: ``"2 CPUs and 0 GPUs"``."""
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


def env_for_actors(ray: ModuleType) -> dict[str, str]:
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
    code = str(Path(__file__).resolve().parents[4])  # the folder holding the audiotok package
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
def quiet(ray: ModuleType) -> Iterator[None]:
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
def session(ray: ModuleType, options: RayOptions) -> Iterator[bool]:
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


def plan_actors(ray: ModuleType, options: RayOptions, files: int, *, ours: bool) -> tuple[int, RayOptions]:
    """How many actors, and the options with what each reserves, from the cluster's resources.

    Parameters
    ----------
    ray : module
        Ray, initialised (:func:`session`).
    options : RayOptions
        What the run asked for (``None`` fields: from the cluster).
    files : int
        Files to do: never more actors than that.
    ours : bool
        Whether :func:`session` started the cluster (it cannot grow).

    Returns
    -------
    tuple of (int, RayOptions)
        The actors to start, and ``options`` with ``cpus_per_worker`` and ``gpus_per_worker`` set.

    Raises
    ------
    UsageError
        If one actor can never fit on a cluster that cannot grow.
    """
    opts = options
    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
    per_gpu = opts.gpus_per_worker if opts.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
    per_cpu = opts.cpus_per_worker or min(
        float(DEFAULT_CPUS_PER_WORKER), max(1.0, _largest_node_cpus(ray, cpus) / 2)
    )
    opts = opts.model_copy(update={"cpus_per_worker": per_cpu, "gpus_per_worker": per_gpu})
    if ours or opts.ray_address is None:  # a cluster that cannot grow: refuse what can never start
        if per_gpu > gpus:
            raise UsageError(
                f"each Ray actor asks for {per_gpu:g} GPU (`gpus_per_worker`) but the cluster has "
                f"{describe_resources(total)}",
                param="gpus_per_worker",
            )
        if per_cpu > cpus:
            raise UsageError(
                f"each Ray actor asks for {per_cpu:g} CPUs (`cpus_per_worker`) but the "
                f"cluster has {describe_resources(total)}",
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
        log.warning("%d Ray actors asked for, %d fit (%s)", size, fits, describe_resources(total))
        size = fits
    elif size > fits:
        log.warning(
            "%d Ray actors asked for, the cluster holds %d now (%s); the others start if it grows",
            size, fits, describe_resources(total),
        )  # fmt: skip
    return min(size, files), opts
