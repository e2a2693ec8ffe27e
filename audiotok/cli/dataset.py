"""`audiotok dataset`: Build Hugging Face datasets from token files and sidecars."""

from __future__ import annotations

import typer

dataset_app = typer.Typer(
    help="Build Hugging Face datasets from token files and sidecars.", no_args_is_help=True
)
