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
to what the cluster holds. Ray is imported only in this package, and only when
the engine runs (:func:`import_ray`).

Modules: :mod:`.options` (:class:`RayOptions`, defaults, :func:`import_ray`),
:mod:`.actor` (:class:`RemoteJob`, the actor class :class:`AudiotokWorker`),
:mod:`.pool` (the actors of one run, retries), :mod:`.cluster` (starting or
joining the cluster, sizing the actors, their environment) and :mod:`.engine`
(:class:`RayEngine`).
"""

from __future__ import annotations

from audiotok.services.engines.ray.actor import AudiotokWorker, RemoteJob
from audiotok.services.engines.ray.engine import RayEngine
from audiotok.services.engines.ray.options import (
    DEFAULT_CPUS_PER_WORKER,
    FORWARDED_ENV,
    INSTALL_HINT,
    LOCAL_ENV,
    RayOptions,
    import_ray,
)

__all__ = [
    "DEFAULT_CPUS_PER_WORKER",
    "FORWARDED_ENV",
    "INSTALL_HINT",
    "LOCAL_ENV",
    "AudiotokWorker",
    "RayEngine",
    "RayOptions",
    "RemoteJob",
    "import_ray",
]
