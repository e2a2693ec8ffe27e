"""`audiotok audio`: Audio preparation (normalisation, resampling)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audiotok.cli._groups import SHARD, Shard, grouped
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import (
    ExtensionsOpt,
    FromListOpt,
    JsonOpt,
    OutdirOpt,
    RecursiveOpt,
    SrcArg,
    inputs_of,
    outdir_of,
    suffixes_of,
)
from audiotok.cli._output import Output
from audiotok.errors import UsageError
from audiotok.records import FileRecord

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok.services.audio import normalize as normalize_service
else:
    normalize_service = lazy_import("audiotok.services.audio.normalize")


audio_app = typer.Typer(help="Audio preparation (normalisation, resampling).", no_args_is_help=True)


@audio_app.command(
    "normalize",
    epilog=examples(
        (
            "A folder to 24 kHz mono PCM16, mirrored under norm/",
            "audiotok audio normalize music norm --recursive",
        ),
        (
            "Keep the sample rate and the channels",
            "audiotok audio normalize music norm -r --sample-rate 0 --keep-channels",
        ),
        (
            "Quieter target, hard-limit the peaks",
            "audiotok audio normalize take.wav norm --target-rms 0.05 --clip clip",
        ),
    ),
)
@grouped
def normalize(
    src: SrcArg = None,
    out: Annotated[
        Path | None, typer.Argument(help="Output folder (input tree mirrored, .wav PCM16); or -o.")
    ] = None,
    outdir: OutdirOpt = None,
    target_rms: Annotated[float, typer.Option("--target-rms", help="Peak windowed RMS (linear).")] = 0.1,
    window_ms: Annotated[float, typer.Option("--window-ms", help="RMS window, 75 % overlap.")] = 250.0,
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Output Hz (0: keep).")] = 24000,
    keep_channels: Annotated[bool, typer.Option("--keep-channels", help="Do not mix to mono.")] = False,
    clip: Annotated[
        str, typer.Option("--clip", help="Peaks > 1.0: 'scale' the gain down, or 'clip'.")
    ] = "scale",
    recursive: RecursiveOpt = False,
    extensions: ExtensionsOpt = "wav,flac,ogg,mp3",
    shard: Shard = SHARD,
    as_json: JsonOpt = False,
    from_list: FromListOpt = None,
) -> None:
    """Normalise loudness (peak 250 ms windowed RMS), resample, mix to mono."""
    if clip not in ("scale", "clip"):
        raise UsageError(f"--clip must be scale or clip, not {clip}")
    inputs = inputs_of(None if src is None else [src], from_list)
    folder = outdir_of(out, outdir)
    if folder is None:
        raise UsageError("an output folder is needed: OUT or -o/--outdir")
    sink = Output(as_json=as_json, human=lambda r: _normalized(r, clip))
    sink.run(
        "Normalizing", normalize_service.normalize_paths, inputs, folder, recursive=recursive,
        suffixes=suffixes_of(extensions), target_rms=target_rms, window_ms=window_ms,
        sample_rate=sample_rate or None, keep_channels=keep_channels, clip=clip, shard=shard,
    )  # fmt: skip


def _normalized(record: FileRecord, clip: str) -> str | None:
    if not isinstance(record, normalize_service.NormalizeRecord):
        return None
    note = f", peak {record.peak_after:.2f} > 1: {'gain lowered' if clip == 'scale' else 'clipped'}"
    return f"{record.input} -> {record.output} ({record.gain_db:+.1f} dB{note if record.limited else ''})"
