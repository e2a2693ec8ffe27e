"""`audiotok esf`: EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audiotok.cli._console import console, err_console, progress
from audiotok.cli._options import JsonOpt, RecursiveOpt
from audiotok.device import select_device
from audiotok.services import esf_encode
from audiotok.services._common import FileFailure

esf_app = typer.Typer(
    help="EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps).",
    no_args_is_help=True,
)

ShardIndexOpt = Annotated[int, typer.Option("--shard-index", help="Process only this shard (0-based).")]
ShardCountOpt = Annotated[int, typer.Option("--shard-count", help="Split the files into this many shards.")]


def _fail(failure: FileFailure, as_json: bool) -> None:
    err_console.print(
        f"error: {failure.path}: {failure.error}", markup=False, highlight=False, soft_wrap=True
    )
    if as_json:
        typer.echo(failure.model_dump_json())


def _suffixes(extensions: str) -> tuple[str, ...]:
    return tuple("." + e.strip().lower().lstrip(".") for e in extensions.split(",") if e.strip())


@esf_app.command("encode")
def encode(
    src: Annotated[str, typer.Argument(help="Audio file, folder or quoted glob.")],
    out: Annotated[
        Path | None, typer.Argument(help="Output folder (mirrors the input tree); default: beside.")
    ] = None,
    codec: Annotated[str, typer.Option("--codec", help="encodec_24khz or encodec_48khz.")] = "encodec_24khz",
    model: Annotated[
        Path | None, typer.Option("--model", help="State-dict file instead of the cache.")
    ] = None,
    bandwidth: Annotated[float, typer.Option("--bandwidth", "-b", help="kbps: 1.5, 3, 6, 12 or 24.")] = 6.0,
    recursive: RecursiveOpt = False,
    extensions: Annotated[str, typer.Option("--extensions", help="Audio suffixes.")] = "wav,flac,ogg,mp3",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Re-encode existing outputs.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be encoded.")] = False,
    list_missing: Annotated[
        bool, typer.Option("--list-missing", help="List missing outputs, orphans.")
    ] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-read a sample of outputs afterwards.")] = False,
    verify_samples: Annotated[int, typer.Option("--verify-samples", help="Files to verify.")] = 8,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Chunks per forward pass.")] = 1,
    chunk_seconds: Annotated[
        float, typer.Option("--chunk-seconds", min=1.0, help="Chunk length (s).")
    ] = 30.0,
    context_seconds: Annotated[float, typer.Option("--context-seconds", min=0.0, help="Context (s).")] = 1.0,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    as_json: JsonOpt = False,
) -> None:
    """Encode audio to EnCodec .ecdc codes (75 fps; resumable, atomic)."""
    exts = _suffixes(extensions)
    if list_missing:
        report = esf_encode.list_missing([src], outdir=out, recursive=recursive, suffixes=exts)
        if as_json:
            typer.echo(report.model_dump_json())
        else:
            for p in report.missing:
                console.print(f"missing {p}", markup=False, highlight=False)
            for p in report.orphans:
                console.print(f"orphan  {p}", markup=False, highlight=False)
            console.print(f"{len(report.missing)} missing, {len(report.orphans)} orphans")
        raise typer.Exit(1 if report.missing else 0)

    load = esf_encode.ModelLoader(codec, path=model, device=select_device(device), bandwidth=bandwidth)
    written: list[str] = []
    counts = {"encoded": 0, "skipped": 0, "planned": 0, "failed": 0}
    with progress("Encoding", enabled=not as_json) as on_progress:
        for r in esf_encode.encode_paths(
            [src], outdir=out, load=load, recursive=recursive, suffixes=exts, overwrite=overwrite,
            dry_run=dry_run, shard_index=shard_index, shard_count=shard_count, chunk_s=chunk_seconds,
            context_s=context_seconds, batch_size=batch_size, on_progress=on_progress,
        ):  # fmt: skip
            if isinstance(r, FileFailure):
                counts["failed"] += 1
                _fail(r, as_json)
                continue
            counts[r.status] += 1
            if r.status != "planned":
                written.append(r.dst)
            if as_json:
                typer.echo(r.model_dump_json())
            elif r.status != "skipped":
                console.print(f"{r.status:8} {r.src} -> {r.dst}", markup=False, highlight=False)
    if verify and written and not dry_run:
        for v in esf_encode.verify_outputs(written, load.model, samples=verify_samples):
            counts["failed"] += not v.ok
            if as_json:
                typer.echo(v.model_dump_json())
            elif not v.ok:
                err_console.print(f"error: {v.path}: verify: {v.detail}", markup=False, highlight=False)
    if not as_json:
        console.print(", ".join(f"{v} {k}" for k, v in counts.items() if v or k == "failed"))
    if counts["failed"]:
        raise typer.Exit(1)
