"""The Ray engine's options (:class:`RayOptions`), its defaults, and the lazy import of Ray."""

from __future__ import annotations

from types import ModuleType

from pydantic import Field

from audiotok.errors import UsageError
from audiotok.formats._base import FrozenModel

__all__ = [
    "ATTEMPTS",
    "BATCH_FILES",
    "DEFAULT_CPUS_PER_WORKER",
    "FORWARDED_ENV",
    "INSTALL_HINT",
    "LOCAL_ENV",
    "STARTUP_DEATHS",
    "RayOptions",
    "import_ray",
]

INSTALL_HINT = "pip install 'audiotok[ray]'"
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
