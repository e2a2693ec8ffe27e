"""`audiotok audio`: Audio preparation (normalisation, resampling)."""

from __future__ import annotations

import typer

audio_app = typer.Typer(help="Audio preparation (normalisation, resampling).", no_args_is_help=True)
