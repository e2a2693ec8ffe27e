"""Option types shared by the commands: one spelling, and one meaning, of each flag everywhere.

``-o/--outdir``, ``-r/--recursive``, ``--from-list``, ``-j/--jobs`` (worker
processes), ``--io-threads``, ``--skip-errors``, ``--json``, ``--device``,
``--precision``, ``--model``, ``--shard-index/--shard-count``, ``--engine``
and its Ray options. An older spelling lives on for one release as a hidden
option of its own (``hidden=True``), merged into the new one with
:func:`alias`, which warns when it is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from audiotok.errors import AudiotokWarning, UsageError
from audiotok.paths import FileList

if TYPE_CHECKING:
    from audiotok.services.engines.ray import RayOptions

T = TypeVar("T")


class DeprecatedOptionWarning(AudiotokWarning):
    """A command was given an old spelling of a flag (kept working for one release)."""


InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help='Files, glob patterns (quote them: "music/**/*.mp3") or folders; or none with --from-list.',
        show_default=False,
    ),
]
FromListOpt = Annotated[
    Path | None,
    typer.Option(
        "--from-list",
        help='A file listing input files: one path per line, or JSON Lines with "path" (blank lines '
        "and # comments skipped). Relative paths are relative to the list file's folder, and outputs "
        "mirror the paths below that folder. Adds to INPUTS.",
        show_default=False,
    ),
]
OutdirOpt = Annotated[
    Path | None, typer.Option("--outdir", "-o", help="Output folder; input folders are mirrored.")
]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Scan folders recursively.")]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object per line (JSON Lines) for scripts and CI."),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
BACKEND_NAMES = ("auto", "eager", "compile", "openvino")
"""``--backend`` values: :data:`audiotok.codecs.backends.BACKENDS` (spelled here: no torch at start-up)."""


def _one_of(names: tuple[str, ...]) -> Callable[[str], str]:
    """A Typer callback accepting only ``names`` (a usage error naming them otherwise)."""

    def check(value: str) -> str:
        if value not in names:
            raise typer.BadParameter(f"must be {', '.join(names[:-1])} or {names[-1]}, not {value!r}")
        return value

    return check


BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        callback=_one_of(BACKEND_NAMES),
        help="What runs the codec: auto, eager, compile or openvino (auto: OpenVINO on the CPU "
        "where it converts and is installed; checked against eager once, cached).",
    ),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        "--precision",
        help="CUDA math: fp32 (exact), tf32 or bf16 (faster; a few codes may differ from fp32). "
        "On the CPU: fp32, with a warning.",
    ),
]
SkipErrorsOpt = Annotated[bool, typer.Option("--skip-errors", help="Report failing files and go on.")]
ShardIndexOpt = Annotated[
    int, typer.Option("--shard-index", min=0, help="Process only this shard (0-based).")
]
ShardCountOpt = Annotated[
    int, typer.Option("--shard-count", min=1, help="Split the files into this many shards.")
]


ENGINE_NAMES = ("local", "ray")
_RAY_PANEL = "Scale-out (--engine ray)"


EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        callback=_one_of(ENGINE_NAMES),
        rich_help_panel=_RAY_PANEL,
        help="local: this process. ray: actors on a Ray cluster, one loaded codec each, the same "
        "outputs (needs pip install 'audiotok[ray]').",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        rich_help_panel=_RAY_PANEL,
        show_default=False,
        help="A running Ray cluster (ray://host:10001, host:6379), or auto: the one this machine "
        "belongs to. Default: start a local cluster on this machine (stopped at the end).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        rich_help_panel=_RAY_PANEL,
        show_default=False,
        help="Ray actors, each with one loaded codec. Default: the cluster's GPUs / --gpus-per-worker, "
        "else its CPUs / --cpus-per-worker.",
    ),
]
CpusPerWorkerOpt = Annotated[
    float | None,
    typer.Option(
        "--cpus-per-worker",
        min=0.01,
        rich_help_panel=_RAY_PANEL,
        show_default=False,
        help="CPUs each actor reserves, also its torch threads (at least 1) unless --threads. "
        "Default: 4, or half the CPUs of the largest node where it has fewer than 8.",
    ),
]
GpusPerWorkerOpt = Annotated[
    float | None,
    typer.Option(
        "--gpus-per-worker",
        min=0,
        rich_help_panel=_RAY_PANEL,
        show_default=False,
        help="GPUs each actor reserves (fractions share a GPU). Default: 1 if the cluster has GPUs, else 0.",
    ),
]


def inputs_of(inputs: list[str] | None, from_list: Path | None) -> list[str | FileList]:
    """The command's inputs: the positional ones, then the files ``--from-list`` names.

    Raises
    ------
    UsageError
        If there are neither.
    """
    found: list[str | FileList] = list(inputs or [])
    if from_list is not None:
        found.append(FileList(from_list))
    if not found:
        raise UsageError("no `inputs`: give files, globs or folders, or `from_list`", param="inputs")
    return found


def ray_options(
    engine: str,
    *,
    ray_address: str | None,
    workers: int | None,
    cpus_per_worker: float | None,
    gpus_per_worker: float | None,
    device: str,
    precision: str,
    threads: int | None,
) -> RayOptions | None:
    """The Ray engine's options for ``--engine ray``; ``None`` for the local engine.

    Ray itself is not imported here (the service does, when it runs).

    Raises
    ------
    UsageError
        If a Ray option is given with ``--engine local``.
    """
    if engine != "ray":
        given = [
            name
            for name, value, default in (
                ("ray_address", ray_address, None), ("worker_count", workers, None),
                ("cpus_per_worker", cpus_per_worker, None), ("gpus_per_worker", gpus_per_worker, None),
            )
            if value != default
        ]  # fmt: skip
        if given:
            flags = ", ".join(f"`{name}`" for name in given)
            raise UsageError(f"{flags} only apply with `engine` ray", param=given[0])
        return None
    from audiotok.services.engines.ray import RayOptions

    return RayOptions(
        ray_address=ray_address, worker_count=workers, cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker, device=device, precision=precision, threads=threads,
    )  # fmt: skip


def jobs_option(help: str) -> Any:
    """``-j/--jobs`` with this command's ``help``: always worker processes.

    ``--jobs`` means processes on every command, as ``make -j`` and ``pytest -n``
    do: N copies of the work side by side, each with its own interpreter (and
    its own CPU), the number a user sizes to the cores. Threads that only
    overlap file system waits in one process are ``--io-threads``
    (:data:`IoThreadsOpt`).
    """
    return typer.Option("--jobs", "-j", min=1, help=help)


IoThreadsOpt = Annotated[
    int,
    typer.Option(
        "--io-threads",
        min=1,
        help="Threads in this process that overlap file system waits (each file is fsynced).",
    ),
]


def model_option(help: str) -> Any:
    """``--model`` with this command's ``help``: a model name or a checkpoint file."""
    return typer.Option("--model", help=help)


def hidden_alias(*flags: str) -> Any:
    """An older spelling of a flag (``"--jobs", "-j"``), accepted for one release, left out of ``--help``."""
    return typer.Option(*flags, hidden=True, help=f"Old spelling ({flags[0]}), kept for one release.")


def alias(new: T, old: T | None, *, default: T, names: tuple[str, str], why: str = "") -> T:
    """The value of an option given by its new name or its old (hidden) one.

    Using the old name warns (:class:`DeprecatedOptionWarning`, one line on
    stderr), with ``why`` appended when the old name now means something else.

    Raises
    ------
    UsageError
        If both names are given different values.
    """
    if old is None:
        return new
    warnings.warn(
        DeprecatedOptionWarning(
            f"{names[1]} is an old spelling of {names[0]}{why}; it will be removed in the next release"
        ),
        stacklevel=2,
    )
    if old == new:
        return new
    if new != default:
        raise UsageError(f"{names[0]} and its old spelling {names[1]} disagree; give only {names[0]}")
    return old


def outdir_of(positional: Path | None, option: Path | None) -> Path | None:
    """The output folder given as the positional OUT (kept working) or as ``-o/--outdir``.

    Raises
    ------
    UsageError
        If both are given and differ.
    """
    if positional is not None and option is not None and positional != option:
        raise UsageError(f"OUT {positional} and --outdir {option} disagree; give one of them")
    return option if option is not None else positional
