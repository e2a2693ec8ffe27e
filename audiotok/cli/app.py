"""The ``audiotok`` command: wires the sub-apps and is the single error boundary."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from audiotok import __version__
from audiotok.cli._console import err_console, quiet_progress
from audiotok.cli._diagnostics import diagnostics
from audiotok.cli._errors import EXIT_CODES, exit_code_for, format_error
from audiotok.cli.audio import audio_app
from audiotok.cli.dataset import dataset_app
from audiotok.cli.decode import EXAMPLES as DECODE_EXAMPLES
from audiotok.cli.decode import decode
from audiotok.cli.encode import EXAMPLES as ENCODE_EXAMPLES
from audiotok.cli.encode import encode
from audiotok.cli.esf import esf_app
from audiotok.cli.models import models_app
from audiotok.cli.npq import npq_app
from audiotok.errors import AudiotokError

__all__ = ["EXIT_CODES", "app", "exit_code_for", "format_error", "main"]

app = typer.Typer(
    name="audiotok",
    help="Turn audio corpora into neural-codec token datasets: any codec, any token container.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("encode", epilog=ENCODE_EXAMPLES)(encode)
app.command("decode", epilog=DECODE_EXAMPLES)(decode)
app.add_typer(npq_app, name="npq")
app.add_typer(esf_app, name="esf")
app.add_typer(dataset_app, name="dataset")
app.add_typer(audio_app, name="audio")
app.add_typer(models_app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"audiotok {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="Also show info messages and other packages' warnings (-vv: debug messages).",
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")] = False,
) -> None:
    """Turn audio corpora into neural-codec token datasets."""
    # for this command only: one-line warnings and log records, third-party noise only with -v
    ctx.with_resource(diagnostics(verbose, quiet))
    ctx.with_resource(quiet_progress(quiet))
    ctx.obj = {"quiet": quiet}


def main() -> None:
    """Console-script entry point: run the app, map AudiotokError to one line and an exit code."""
    try:
        app(prog_name="audiotok")
    except AudiotokError as exc:
        if os.environ.get("AUDIOTOK_DEBUG") == "1":
            traceback.print_exc()
        err_console.print(format_error(exc), markup=False, highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(exc))
