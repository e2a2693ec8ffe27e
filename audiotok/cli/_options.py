"""Option types shared by the commands: one spelling of each flag everywhere.

``-o/--outdir``, ``-r/--recursive``, ``--jobs``, ``--skip-errors``,
``--json``, ``--device``, ``--precision``, ``--model``, ``--shard-index/--shard-count``. An
older spelling lives on for one release as a hidden option of its own
(``hidden=True``), merged into the new one with :func:`alias`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from audiotok.errors import UsageError

T = TypeVar("T")

InputsArg = Annotated[
    list[str],
    typer.Argument(help='Files, glob patterns (quote them: "music/**/*.mp3") or folders.'),
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


def _check_backend(value: str) -> str:
    if value not in BACKEND_NAMES:
        raise typer.BadParameter(f"must be {', '.join(BACKEND_NAMES)}, not {value!r}")
    return value


BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        callback=_check_backend,
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


def jobs_option(help: str) -> Any:
    """``--jobs/-j`` with this command's ``help`` (threads or processes)."""
    return typer.Option("--jobs", "-j", min=1, help=help)


def model_option(help: str) -> Any:
    """``--model`` with this command's ``help``: a model name or a checkpoint file."""
    return typer.Option("--model", help=help)


def hidden_alias(flag: str) -> Any:
    """An older spelling of a flag, accepted for one release and left out of ``--help``."""
    return typer.Option(flag, hidden=True, help=f"Old spelling ({flag}), kept for one release.")


def alias(new: T, old: T | None, *, default: T, names: tuple[str, str]) -> T:
    """The value of an option given by its new name or its old (hidden) one.

    Raises
    ------
    UsageError
        If both names are given different values.
    """
    if old is None or old == new:
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
