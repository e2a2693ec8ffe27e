"""Option types shared by the commands: one spelling, and one meaning, of each flag everywhere.

``-o/--outdir``, ``-r/--recursive``, ``--from-list``, ``-j/--jobs`` (worker
processes), ``--io-threads``, ``--skip-errors``, ``--json``, ``--device``,
``--precision``, ``--threads``, ``--model``, ``--shard-index/--shard-count``;
the groups of them that commands share, and ``--engine`` with its Ray
options, are :mod:`audiotok.cli._groups`. An older spelling lives on for one
release as a hidden option of its own (``hidden=True``), merged into the new
one with :func:`alias`, which warns when it is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from audiotok.errors import AudiotokWarning, UsageError
from audiotok.paths import FileList

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
SrcArg = Annotated[
    str | None,
    typer.Argument(
        help="Audio file, folder or quoted glob (none: --from-list, with -o).", show_default=False
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


def one_of(names: tuple[str, ...]) -> Callable[[str], str]:
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
        callback=one_of(BACKEND_NAMES),
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
ExtensionsOpt = Annotated[str, typer.Option("--extensions", help="Audio suffixes.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch.", min=1)]
WavOutOpt = Annotated[Path | None, typer.Option("--out", help="Output WAV (one input only).")]
SampleRateOpt = Annotated[
    int | None, typer.Option("--sample-rate", help="Resample the WAV to this rate (Hz).", min=1)
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


def suffixes_of(extensions: str) -> tuple[str, ...]:
    """``--extensions wav,FLAC`` as suffixes: ``(".wav", ".flac")``."""
    return tuple("." + e.strip().lower().lstrip(".") for e in extensions.split(",") if e.strip())


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
