"""Option types shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

InputsArg = Annotated[
    list[str],
    typer.Argument(help='Files, glob patterns (quote them: "music/**/*.mp3") or folders.'),
]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Scan folders recursively.")]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object per line (JSON Lines) for scripts and CI."),
]
