"""`audiotok npq`: DAC RVQ token files (.npq)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audiotok.cli._compute import compute, encode_summary_line
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import (
    BackendOpt,
    CpusPerWorkerOpt,
    DeviceOpt,
    EngineOpt,
    FromListOpt,
    GpusPerWorkerOpt,
    InputsArg,
    JsonOpt,
    OutdirOpt,
    PrecisionOpt,
    RayAddressOpt,
    RecursiveOpt,
    ShardCountOpt,
    ShardIndexOpt,
    WorkersOpt,
    inputs_of,
    model_option,
    ray_options,
)
from audiotok.cli._output import Output
from audiotok.cli._tables import Col, FitTable
from audiotok.services.npq import inspect as npq_service
from audiotok.services.records import FileRecord

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok import device as device_lib
    from audiotok.services.npq import convert as npq_convert
    from audiotok.services.npq import decode as npq_decode
    from audiotok.services.npq import encode as npq_encode
else:
    device_lib = lazy_import("audiotok.device")
    npq_convert = lazy_import("audiotok.services.npq.convert")
    npq_decode = lazy_import("audiotok.services.npq.decode")
    npq_encode = lazy_import("audiotok.services.npq.encode")


npq_app = typer.Typer(help="DAC RVQ token files (.npq): encode, decode, inspect.", no_args_is_help=True)


def _vocab(sizes: list[int]) -> str:
    """``1024`` when every codebook has that size, else runs: ``1024x9,512x4``."""
    if len(set(sizes)) == 1:
        return str(sizes[0])
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return ",".join(f"{size}x{n}" if n > 1 else str(size) for size, n in runs)


#: ``npq inspect``'s columns; on a narrow terminal the highest ``drop`` go first (mode: said by
#: format and K; fps and T: by seconds), the file name folds instead of being cut.
INSPECT_COLUMNS = (
    Col("file", wrap=True),
    Col("format"),
    Col("mode", drop=5),
    Col("K"),
    Col("fps", drop=4, justify="right"),
    Col("T", drop=3, justify="right"),
    Col("seconds", justify="right"),
    Col("vocab", drop=6),
    Col("dtype", drop=7),
    Col("bytes", drop=8, justify="right"),
    Col("kbps", drop=9, justify="right"),
)


def _row(info: npq_service.NpqFileInfo) -> tuple[str, ...]:
    fmt = info.format if info.version is None else f"{info.format} v{info.version}"
    if info.layout:
        fmt += f" ({info.layout})"
    k = f"{info.k_mid}+{info.k_side}" if info.k_mid is not None else str(info.n_codebooks)
    return (
        info.input, fmt, info.mode, k, f"{info.token_rate:.4f}", str(info.seq_len), f"{info.duration_s:.2f}",
        _vocab(info.vocab_sizes), info.dtype, str(info.bytes), f"{info.orig_bitrate_kbps:.1f}",
    )  # fmt: skip


@npq_app.command(
    "inspect",
    epilog=examples(
        ("One file's header", "audiotok npq inspect song.npq"),
        ("A folder, recursively, checking every token's range", "audiotok npq inspect npq_out/ -r --verify"),
        ("JSON Lines for scripts", 'audiotok npq inspect "npq_out/**/*.npq" --json'),
    ),
)
def inspect(
    inputs: InputsArg = None,
    from_list: FromListOpt = None,
    recursive: RecursiveOpt = False,
    as_json: JsonOpt = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also read the payload and check every token's range.")
    ] = False,
) -> None:
    """Show the header of .npq files (NPQ1, NPQ2, legacy v0); exit 1 if any is bad."""
    table = FitTable(*INSPECT_COLUMNS)

    def add_row(record: FileRecord) -> None:
        if isinstance(record, npq_service.NpqFileInfo):
            table.add_row(*_row(record))

    out = Output(as_json=as_json, human=lambda r: add_row(r))
    summary = out.run(
        "Inspecting",
        npq_service.inspect_paths,
        inputs_of(inputs, from_list),
        recursive=recursive,
        verify=verify,
        exit_on_failure=False,
    )
    out.table(table)
    verb = "checked (every token in range)" if verify else "read"
    out.line(f"{summary.files_read} {verb}, {summary.files_failed} failed")
    if summary.files_failed:
        raise typer.Exit(1)


ModelOpt = Annotated[
    str,
    model_option(
        "DAC model: 44khz, 24khz, 16khz, 44khz-16kbps, a .pth checkpoint, or a Hugging Face repo id."
    ),
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch.", min=1)]


@npq_app.command(
    "encode",
    epilog=examples(
        (
            "The demo clip, written beside it (stereo → NPQ2 Mid/Side)",
            "audiotok npq encode examples/demo_chords.flac",
        ),
        ("A folder, recursively, mirrored under npq_out/", "audiotok npq encode music/ -r -o npq_out"),
        (
            "Worker 3 of 16, JSON Lines for scripts",
            "audiotok npq encode corpus/ -r -o npq_out --shard-index 3 --shard-count 16 --json",
        ),
        (
            "The files a list names, on the Ray cluster this machine is in (README: across nodes)",
            "audiotok npq encode --from-list files.txt -o /shared/npq --engine ray --ray-address auto",
        ),
    ),
)
def encode(
    inputs: InputsArg = None,
    from_list: FromListOpt = None,
    outdir: OutdirOpt = None,
    mono: Annotated[bool, typer.Option("--mono", help="Mix to mono, write NPQ1.")] = False,
    codebooks: Annotated[int, typer.Option("--codebooks", help="K for mono (NPQ1).", min=1)] = 9,
    mid_codebooks: Annotated[int, typer.Option("--mid-codebooks", help="k_mid (NPQ2).", min=1)] = 9,
    side_codebooks: Annotated[int, typer.Option("--side-codebooks", help="k_side (NPQ2).", min=0)] = 4,
    model: ModelOpt = "44khz",
    device: DeviceOpt = "auto",
    backend: BackendOpt = "auto",
    precision: PrecisionOpt = "fp32",
    threads: ThreadsOpt = None,
    chunk_seconds: Annotated[
        float,
        typer.Option(
            "--chunk-seconds",
            help="Audio per encoder chunk (s); bounds memory, never changes the tokens.",
            min=0.01,
        ),
    ] = 2.0,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Windows per encoder call, batched across files (equal lengths only); same tokens. "
            "Default: 1 for eager PyTorch on the CPU, 8 with OpenVINO (one length's windows back to "
            "back), on CUDA what fits in GPU memory.",
            min=1,
        ),
    ] = None,
    recursive: RecursiveOpt = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Re-encode existing outputs.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be encoded.")] = False,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    as_json: JsonOpt = False,
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
    cpus_per_worker: CpusPerWorkerOpt = None,
    gpus_per_worker: GpusPerWorkerOpt = None,
) -> None:
    """Encode audio to DAC tokens: stereo → NPQ2 Mid/Side, mono or --mono → NPQ1."""
    rays = ray_options(
        engine, ray_address=ray_address, workers=workers, cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker, device=device, precision=precision, threads=threads,
    )  # fmt: skip
    paths = inputs_of(inputs, from_list)
    opts = npq_encode.EncodeOptions(
        mono=mono,
        codebooks=codebooks,
        mid_codebooks=mid_codebooks,
        side_codebooks=side_codebooks,
        chunk_seconds=chunk_seconds,
        batch_size=batch_size,
        overwrite=overwrite,
    )
    out = Output(
        as_json=as_json, human=(lambda r: f"{r.status}: {r.input} → {r.output}") if dry_run else None
    )
    with compute(device, precision, threads, rays) as dev:
        out.run(
            "Encoding", npq_encode.encode_paths, paths, outdir=outdir, model=model, device=dev,
            opts=opts, recursive=recursive, shard=(shard_index, shard_count), dry_run=dry_run,
            backend=backend, engine=rays, line=encode_summary_line,
        )  # fmt: skip


def _decoded(record: FileRecord) -> str | None:
    if not isinstance(record, npq_decode.DecodeRecord):
        return None
    return f"{record.output}: {record.channels} ch, {record.sample_rate} Hz, {record.duration_s:.2f} s"


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
    inputs: InputsArg = None,
    from_list: FromListOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output WAV (one input only).")] = None,
    outdir: OutdirOpt = None,
    model: Annotated[
        str | None, model_option("DAC model or checkpoint; default: from each file's token_rate.")
    ] = None,
    device: DeviceOpt = "auto",
    backend: BackendOpt = "auto",
    precision: PrecisionOpt = "fp32",
    threads: ThreadsOpt = None,
    sample_rate: Annotated[
        int | None, typer.Option("--sample-rate", help="Resample the WAV to this rate (Hz).", min=1)
    ] = None,
    recursive: RecursiveOpt = False,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    as_json: JsonOpt = False,
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = None,
    workers: WorkersOpt = None,
    cpus_per_worker: CpusPerWorkerOpt = None,
    gpus_per_worker: GpusPerWorkerOpt = None,
) -> None:
    """Decode .npq files to PCM16 WAV: NPQ1 → mono, NPQ2 → stereo (L = M + S, R = M − S)."""
    rays = ray_options(
        engine, ray_address=ray_address, workers=workers, cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker, device=device, precision=precision, threads=threads,
    )  # fmt: skip
    paths = inputs_of(inputs, from_list)
    sink = Output(as_json=as_json, human=_decoded)
    with compute(device, precision, threads, rays) as dev:
        sink.run(
            "Decoding", npq_decode.decode_paths, paths, out=out, outdir=outdir, model=model,
            device=dev, sample_rate=sample_rate, recursive=recursive, shard=(shard_index, shard_count),
            backend=backend, engine=rays,
        )  # fmt: skip


def _converted(record: FileRecord) -> str | None:
    if not isinstance(record, npq_convert.ConvertResult):
        return None
    verb = "skipped (exists)" if record.status == "skipped" else f"T={record.n_frames} K={record.n_codebooks}"
    return f"{record.output}: {verb}"


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
    inputs: InputsArg = None,
    from_list: FromListOpt = None,
    outdir: OutdirOpt = None,
    model: Annotated[
        str | None, model_option("DAC model that made the codes; default: from the file's sample rate and K.")
    ] = None,
    channel: Annotated[
        int | None, typer.Option("--channel", help="Channel to take from a multi-channel .dac file.", min=0)
    ] = None,
    recursive: RecursiveOpt = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Convert again if the output exists.")
    ] = False,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    as_json: JsonOpt = False,
) -> None:
    """Convert DAC CLI .dac files to NPQ1, token for token (never executes their pickle)."""
    out = Output(as_json=as_json, human=_converted)
    out.run(
        "Converting", npq_convert.convert_paths, inputs_of(inputs, from_list), outdir=outdir, model=model,
        channel=channel, recursive=recursive, overwrite=overwrite, shard=(shard_index, shard_count),
    )  # fmt: skip
