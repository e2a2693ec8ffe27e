"""`audiotok esf`: EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps)."""

from __future__ import annotations

import typer

esf_app = typer.Typer(
    help="EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps).",
    no_args_is_help=True,
)
