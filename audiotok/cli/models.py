"""`audiotok models`: Codec weights: list known models, fetch them into the cache."""

from __future__ import annotations

import typer

models_app = typer.Typer(
    help="Codec weights: list known models, fetch them into the cache.", no_args_is_help=True
)
