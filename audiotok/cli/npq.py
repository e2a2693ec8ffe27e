"""`audiotok npq`: DAC RVQ token files (.npq)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from audiotok.cli._compute import encode_summary_line, local_device
from audiotok.cli._groups import COMPUTE, RAY, SHARD, Compute, Rays, Shard, grouped
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_imports
from audiotok.cli._options import (
    FromListOpt,
    InputsArg,
    JsonOpt,
    OutdirOpt,
    RecursiveOpt,
    inputs_of,
    model_option,
)
from audiotok.cli._output import Output
from audiotok.cli._tables import Col, FitTable
from audiotok.cli.decode import decode_command
from audiotok.records import FileRecord
from audiotok.services.npq import inspect as npq_service

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok.services.npq import convert as npq_convert
    from audiotok.services.npq import decode as npq_decode
    from audiotok.services.npq import encode as npq_encode
else:
    npq_convert, npq_decode, npq_encode = lazy_imports("audiotok.services.npq", "convert", "decode", "encode")


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
    Col("codec", drop=10),
)


def _row(info: npq_service.NpqInspectRecord) -> tuple[str, ...]:
    fmt = info.format if info.version is None else f"{info.format} v{info.version}"
    if info.layout:
        fmt += f" ({info.layout})"
    k = f"{info.k_mid}+{info.k_side}" if info.k_mid is not None else str(info.n_codebooks)
    return (
        info.input, fmt, info.mode, k, f"{info.token_rate:.4f}", str(info.seq_len), f"{info.duration_s:.2f}",
        _vocab(info.vocab_sizes), info.dtype, str(info.bytes), f"{info.orig_bitrate_kbps:.1f}", _codec(info),
    )  # fmt: skip


def _codec(info: npq_service.NpqInspectRecord) -> str:
    """The codec from the manifest, with its strides when its rows hold levels of several rates."""
    if info.codec is None:
        return "-"
    return info.codec + (f" (strides {'·'.join(map(str, info.strides))})" if info.strides else "")


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
        if isinstance(record, npq_service.NpqInspectRecord):
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
@grouped
def encode(
    inputs: InputsArg = None,
    from_list: FromListOpt = None,
    outdir: OutdirOpt = None,
    mono: Annotated[bool, typer.Option("--mono", help="Mix to mono, write NPQ1.")] = False,
    codebooks: Annotated[int, typer.Option("--codebooks", help="K for mono (NPQ1).", min=1)] = 9,
    mid_codebooks: Annotated[int, typer.Option("--mid-codebooks", help="k_mid (NPQ2).", min=1)] = 9,
    side_codebooks: Annotated[int, typer.Option("--side-codebooks", help="k_side (NPQ2).", min=0)] = 4,
    model: ModelOpt = "44khz",
    compute: Compute = COMPUTE,
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
    shard: Shard = SHARD,
    as_json: JsonOpt = False,
    rays: Rays = RAY,
) -> None:
    """Encode audio to DAC tokens: stereo → NPQ2 Mid/Side, mono or --mono → NPQ1."""
    paths = inputs_of(inputs, from_list)
    opts = npq_encode.EncodeOptions(
        mono=mono, codebooks=codebooks, mid_codebooks=mid_codebooks, side_codebooks=side_codebooks,
        chunk_seconds=chunk_seconds, batch_size=batch_size, overwrite=overwrite,
    )  # fmt: skip
    out = Output(
        as_json=as_json, human=(lambda r: f"{r.status}: {r.input} → {r.output}") if dry_run else None
    )
    with local_device(compute, rays) as dev:
        out.run(
            "Encoding", npq_encode.encode_paths, paths, outdir=outdir, model=model, device=dev,
            opts=opts, recursive=recursive, shard=shard, dry_run=dry_run,
            backend=compute.backend, engine=rays, line=encode_summary_line,
        )  # fmt: skip


DECODE_EXAMPLES = examples(
    ("One file to one WAV", "audiotok npq decode song.npq --out song.wav"),
    (
        "Many files, mirrored under wav_out/, resampled",
        'audiotok npq decode "npq_out/**/*.npq" -o wav_out --sample-rate 48000',
    ),
    (
        "On the GPU with an explicit model",
        "audiotok npq decode song.npq --out song.wav --model 44khz --device cuda",
    ),
)
decode = decode_command(
    lambda: npq_decode.decode_paths,
    model_help="DAC model or checkpoint; default: from each file's token_rate.",
    doc="Decode .npq files to PCM16 WAV: NPQ1 → mono, NPQ2 → stereo (L = M + S, R = M − S).",
)
npq_app.command("decode", epilog=DECODE_EXAMPLES)(decode)


def _converted(record: FileRecord) -> str | None:
    if not isinstance(record, npq_convert.ConvertRecord):
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
@grouped
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
    shard: Shard = SHARD,
    as_json: JsonOpt = False,
) -> None:
    """Convert DAC CLI .dac files to NPQ1, token for token (never executes their pickle)."""
    out = Output(as_json=as_json, human=_converted)
    out.run(
        "Converting", npq_convert.convert_paths, inputs_of(inputs, from_list), outdir=outdir, model=model,
        channel=channel, recursive=recursive, overwrite=overwrite, shard=shard,
    )  # fmt: skip
