"""`audiotok npq`: DAC RVQ token files (.npq)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from audiotok.cli._console import console, err_console, progress
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import InputsArg, JsonOpt, RecursiveOpt
from audiotok.services.npq import inspect as npq_service
from audiotok.services.records import FileFailure

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok import device as device_lib
    from audiotok.services.npq import convert as npq_convert
    from audiotok.services.npq import decode as npq_decode
    from audiotok.services.npq import encode as npq_encode
    from audiotok.services.npq.decode import DecodedFile
    from audiotok.services.npq.encode import EncodedFile, EncodeSummary
else:
    device_lib = lazy_import("audiotok.device")
    npq_convert = lazy_import("audiotok.services.npq.convert")
    npq_decode = lazy_import("audiotok.services.npq.decode")
    npq_encode = lazy_import("audiotok.services.npq.encode")


npq_app = typer.Typer(help="DAC RVQ token files (.npq): encode, decode, inspect.", no_args_is_help=True)


def _vocab(sizes: list[int]) -> str:
    return f"{sizes[0]}" if len(set(sizes)) == 1 else ",".join(map(str, sizes))


def report_failure(failure: FileFailure) -> None:
    """One line on stderr for a file that failed."""
    err_console.print(
        f"error: {failure.path}: {failure.error}", markup=False, highlight=False, soft_wrap=True
    )


@npq_app.command(
    "inspect",
    epilog=examples(
        ("One file's header", "audiotok npq inspect song.npq"),
        ("A folder, recursively, checking every token's range", "audiotok npq inspect npq_out/ -r --verify"),
        ("JSON Lines for scripts", 'audiotok npq inspect "npq_out/**/*.npq" --json'),
    ),
)
def inspect(
    inputs: InputsArg,
    recursive: RecursiveOpt = False,
    as_json: JsonOpt = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also read the payload and check every token's range.")
    ] = False,
) -> None:
    """Show the header of .npq files (NPQ1, NPQ2, legacy v0); exit 1 if any is bad."""
    table = Table(
        "file", "format", "mode", "K", "fps", "T", "duration (s)", "vocab", "dtype", "bytes", "kbps"
    )
    failed = 0
    with progress("Inspecting", enabled=not as_json) as on_progress:
        for result in npq_service.inspect_paths(
            inputs, recursive=recursive, verify=verify, on_progress=on_progress
        ):
            if isinstance(result, FileFailure):
                failed += 1
                report_failure(result)
                if as_json:
                    typer.echo(result.model_dump_json())
                continue
            if as_json:
                typer.echo(result.model_dump_json())
                continue
            fmt = result.format if result.version is None else f"{result.format} v{result.version}"
            if result.layout:
                fmt += f" ({result.layout})"
            k = f"{result.k_mid}+{result.k_side}" if result.k_mid is not None else str(result.n_codebooks)
            table.add_row(
                result.path,
                fmt,
                result.mode,
                k,
                f"{result.token_rate:.4f}",
                str(result.seq_len),
                f"{result.duration_s:.2f}",
                _vocab(result.vocab_sizes),
                result.dtype,
                str(result.bytes),
                f"{result.orig_bitrate_kbps:.1f}",
            )
    if not as_json and table.row_count:
        console.print(table)
    if failed:
        raise typer.Exit(1)


ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="DAC model: 44khz, 24khz, 16khz, 44khz-16kbps, a .pth checkpoint, or a Hugging Face repo id.",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch.", min=1)]


def _render_summary(summary: EncodeSummary) -> None:
    mono = f"{summary.files_mono} mono → NPQ1; " if summary.files_mono else ""
    console.print(
        f"{summary.files_ok} ok, {summary.files_skipped} skipped, {summary.files_failed} failed; {mono}"
        f"{summary.audio_hours:.3f} h of audio in {summary.wall_s:.1f} s "
        f"({summary.real_time_factor:.2f}x real time); model {summary.model}"
        + (f" sha256 {summary.weights_sha256[:16]}…" if summary.weights_sha256 else ""),
        highlight=False,
        soft_wrap=True,
    )
    if summary.failures:
        console.print(f"{summary.files_failed} failed:", style="red")
        for failure in summary.failures:
            console.print(f"  {failure.path}: {failure.error}", markup=False, highlight=False)


@npq_app.command(
    "encode",
    epilog=examples(
        (
            "The demo clip, written beside it (stereo → NPQ2 Mid/Side)",
            "audiotok npq encode examples/demo_chords.flac",
        ),
        ("A folder, recursively, mirrored under npq_out/", "audiotok npq encode music/ -r -o npq_out"),
        (
            "Every file mixed to mono with 4 codebooks (NPQ1)",
            'audiotok npq encode "music/**/*.mp3" -o npq_out --mono --codebooks 4',
        ),
        (
            "Worker 3 of 16, JSON Lines for scripts",
            "audiotok npq encode corpus/ -r -o npq_out --shard-index 3 --shard-count 16 --json",
        ),
    ),
)
def encode(
    inputs: InputsArg,
    outdir: Annotated[
        Path | None, typer.Option("--outdir", "-o", help="Output folder; input folders are mirrored.")
    ] = None,
    mono: Annotated[bool, typer.Option("--mono", help="Mix to mono, write NPQ1.")] = False,
    codebooks: Annotated[int, typer.Option("--codebooks", help="K for mono (NPQ1).", min=1)] = 9,
    mid_codebooks: Annotated[int, typer.Option("--mid-codebooks", help="k_mid (NPQ2).", min=1)] = 9,
    side_codebooks: Annotated[int, typer.Option("--side-codebooks", help="k_side (NPQ2).", min=0)] = 4,
    model: ModelOpt = "44khz",
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    chunk_seconds: Annotated[
        float,
        typer.Option(
            "--chunk-seconds",
            help="Audio per encoder chunk (s); bounds memory, never changes the tokens.",
            min=0.01,
        ),
    ] = 4.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Chunks per encoder call.", min=1)] = 1,
    recursive: RecursiveOpt = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Re-encode existing outputs.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be encoded.")] = False,
    shard_index: Annotated[int, typer.Option("--shard-index", help="This worker's shard.", min=0)] = 0,
    shard_count: Annotated[int, typer.Option("--shard-count", help="Number of shards.", min=1)] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Encode audio to DAC tokens: stereo → NPQ2 Mid/Side, mono or --mono → NPQ1."""
    device_lib.set_threads(threads)
    opts = npq_encode.EncodeOptions(
        mono=mono,
        codebooks=codebooks,
        mid_codebooks=mid_codebooks,
        side_codebooks=side_codebooks,
        chunk_seconds=chunk_seconds,
        batch_size=batch_size,
        overwrite=overwrite,
    )
    with progress("Encoding", enabled=not as_json) as on_progress:
        summary = npq_encode.encode_paths(
            inputs,
            outdir=outdir,
            model=model,
            device=device_lib.select_device(device),
            opts=opts,
            recursive=recursive,
            shard=(shard_index, shard_count),
            dry_run=dry_run,
            on_result=lambda r: _render_result(r, as_json=as_json, dry_run=dry_run),
            on_progress=on_progress,
        )
    if as_json:
        typer.echo(summary.model_dump_json())
    else:
        _render_summary(summary)
    if summary.files_failed:
        raise typer.Exit(1)


def _render_result(result: EncodedFile | FileFailure, *, as_json: bool, dry_run: bool) -> None:
    if isinstance(result, FileFailure):
        report_failure(result)
    if as_json:
        typer.echo(result.model_dump_json())
    elif dry_run and isinstance(result, npq_encode.EncodedFile):
        console.print(f"{result.status}: {result.path} → {result.output}", markup=False, highlight=False)


@npq_app.command(
    "decode",
    epilog=examples(
        ("One file to one WAV", "audiotok npq decode song.npq --out song.wav"),
        (
            "Many files, mirrored under wav_out/, resampled",
            'audiotok npq decode "npq_out/**/*.npq" -o wav_out --sample-rate 48000',
        ),
        (
            "On the GPU with an explicit model",
            "audiotok npq decode song.npq --out song.wav --model 44khz --device cuda",
        ),
    ),
)
def decode(
    inputs: InputsArg,
    out: Annotated[Path | None, typer.Option("--out", help="Output WAV (one input only).")] = None,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Output folder (mirrored).")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="DAC model or checkpoint; default: from token_rate.")
    ] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = None,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Resample the WAV to this rate (Hz).", min=1)
    ] = None,
    recursive: RecursiveOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Decode .npq files to PCM16 WAV: NPQ1 → mono, NPQ2 → stereo (L = M + S, R = M − S)."""
    device_lib.set_threads(threads)

    def render(result: DecodedFile | FileFailure) -> None:
        if isinstance(result, FileFailure):
            report_failure(result)
        if as_json:
            typer.echo(result.model_dump_json())
        elif isinstance(result, npq_decode.DecodedFile):
            console.print(
                f"{result.output}: {result.channels} ch, {result.sample_rate} Hz, {result.duration_s:.2f} s",
                markup=False,
                highlight=False,
            )

    with progress("Decoding", enabled=not as_json) as on_progress:
        failures = npq_decode.decode_paths(
            inputs,
            out=out,
            outdir=outdir,
            model=model,
            device=device_lib.select_device(device),
            sample_rate=sample_rate,
            recursive=recursive,
            on_result=render,
            on_progress=on_progress,
        )
    if failures:
        raise typer.Exit(1)


@npq_app.command(
    "convert",
    epilog=examples(
        ("One DAC CLI file, written beside it", "audiotok npq convert song.dac"),
        (
            "A folder, recursively, mirrored under npq_out/",
            "audiotok npq convert dac_out/ -r -o npq_out --model 44khz",
        ),
        ("The right channel of a stereo .dac file", "audiotok npq convert stereo.dac --channel 1"),
    ),
)
def convert(
    inputs: InputsArg,
    outdir: Annotated[Path | None, typer.Option("--outdir", "-o", help="Output folder (mirrored).")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="DAC model that made the codes; default: from the file's sample rate and K."
        ),
    ] = None,
    channel: Annotated[
        int | None, typer.Option("--channel", help="Channel to take from a multi-channel .dac file.", min=0)
    ] = None,
    recursive: RecursiveOpt = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Convert again if the output exists.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Convert DAC CLI .dac files to NPQ1, token for token (never executes their pickle)."""
    failed = 0
    with progress("Converting", enabled=not as_json) as on_progress:
        for result in npq_convert.convert_paths(
            inputs,
            outdir=outdir,
            model=model,
            channel=channel,
            recursive=recursive,
            overwrite=overwrite,
            on_progress=on_progress,
        ):
            if isinstance(result, FileFailure):
                failed += 1
                report_failure(result)
            if as_json:
                typer.echo(result.model_dump_json())
            elif isinstance(result, npq_convert.ConvertResult):
                verb = "skipped (exists)" if result.skipped else f"T={result.n_frames} K={result.n_codebooks}"
                console.print(f"{result.dst}: {verb}", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)
