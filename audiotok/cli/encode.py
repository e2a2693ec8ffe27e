"""``audiotok encode``: audio to any codec's tokens in any container (codec plugins × token sinks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from audiotok.cli._compute import encode_summary_line, local_device
from audiotok.cli._groups import COMPUTE, RAY, SHARD, Compute, Rays, Shard, grouped
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import FromListOpt, InputsArg, JsonOpt, OutdirOpt, RecursiveOpt, inputs_of
from audiotok.cli._output import Output

if TYPE_CHECKING:
    from audiotok.services import encode as encode_service
    from audiotok.services.encode import EncodeRunSummary
else:
    encode_service = lazy_import("audiotok.services.encode")

__all__ = ["encode"]

STEREO = ("mid-side", "downmix")


def _stereo(value: str | None) -> str | None:
    if value is not None and value not in STEREO:
        raise typer.BadParameter(f"must be mid-side or downmix, not {value!r}")
    return value


def _line(summary: EncodeRunSummary) -> str:
    line = encode_summary_line(summary, mono="one channel")
    if summary.files_cut:
        line += (
            f"\nnote: {summary.files_cut} file(s) longer than {summary.codec}'s longest window were cut at "
            "quiet points and their segments encoded separately: their codes differ from a whole-file "
            "encode (records: segments; README: Long files)"
        )
    elif summary.exact_chunking is False and summary.files_written:
        line += (
            f"\nnote: {summary.codec}'s chunked codes only nearly equal its whole-file encode "
            "(README: Exactness)"
        )
    return line


@grouped
def encode(
    inputs: InputsArg = None,
    from_list: FromListOpt = None,
    outdir: OutdirOpt = None,
    codec: Annotated[
        str,
        typer.Option(
            "--codec",
            help="The codec: a registry name (dac-44khz, encodec-24khz, ...; `audiotok models list`), a "
            "checkpoint file, or a Hugging Face repo id or model folder.",
        ),
    ] = "dac-44khz",
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            "--model",
            help="With a name: read its weights from this file, or from this model folder (a Hugging Face "
            "repo's files: config.json and weights) instead of the Hugging Face cache.",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Where the codes go: npq, ecdc, hf, or straight into shards: parquet, shar, webdataset "
            "(default: the codec family's own).",
        ),
    ] = None,
    codebooks: Annotated[
        int | None, typer.Option("--codebooks", min=1, help="K per coded channel (default: the family's).")
    ] = None,
    side_codebooks: Annotated[
        int | None, typer.Option("--side-codebooks", min=0, help="K for Side under Mid/Side.")
    ] = None,
    stereo: Annotated[
        str | None,
        typer.Option(
            "--stereo",
            callback=_stereo,
            help="Stereo input to a mono codec: mid-side (Mid and Side coded, NPQ2) or downmix "
            "(default: the family's; DAC mid-side, EnCodec downmix).",
        ),
    ] = None,
    mono: Annotated[bool, typer.Option("--mono", help="Short for --stereo downmix.")] = False,
    chunk_seconds: Annotated[
        float | None,
        typer.Option(
            "--chunk-seconds",
            min=0.01,
            help="Audio per encoder chunk (s); bounds memory. XCodec2, NeuCodec, X-Codec, Higgs: the "
            "longest window (default 30 s); longer files are cut at quiet points.",
        ),
    ] = None,
    context_seconds: Annotated[
        float | None,
        typer.Option("--context-seconds", min=0.0, help="Context each side of a chunk (s; EnCodec)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Windows per encoder call (same codes).")
    ] = None,
    compute: Compute = COMPUTE,
    recursive: RecursiveOpt = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Encode existing outputs again.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be encoded.")] = False,
    shard: Shard = SHARD,
    max_shard_bytes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="--to parquet|shar|webdataset: bytes of codes per shard (default: parquet 500 MB, "
            "webdataset and shar 1 GB).",
        ),
    ] = None,
    max_shard_items: Annotated[
        int | None,
        typer.Option(min=1, help="--to parquet|shar|webdataset: items per shard (default: shar 1000)."),
    ] = None,
    as_json: JsonOpt = False,
    rays: Rays = RAY,
) -> None:
    """Encode audio with any codec into any token container; resumable, atomic, batched across files."""
    opts = encode_service.EncodeOptions(
        codebooks=codebooks, side_codebooks=side_codebooks, stereo="downmix" if mono else stereo,
        chunk_seconds=chunk_seconds, context_seconds=context_seconds, batch_size=batch_size,
        overwrite=overwrite,
    )  # fmt: skip
    choice = encode_service.CodecChoice(codec, checkpoint=checkpoint, backend=compute.backend)
    out = Output(
        as_json=as_json, human=(lambda r: f"{r.status}: {r.input} → {r.output}") if dry_run else None
    )
    with local_device(compute, rays) as dev:
        out.run(
            "Encoding", encode_service.encode_paths, inputs_of(inputs, from_list), outdir=outdir,
            codec=choice, sink=to, opts=opts, device=dev, recursive=recursive,
            shard=shard, shard_limits=(max_shard_bytes, max_shard_items), dry_run=dry_run, engine=rays,
            line=_line,
        )  # fmt: skip


EXAMPLES = examples(
    ("DAC 44.1 kHz tokens of a folder, NPQ2 Mid/Side", "audiotok encode music/ -r -o out --codec dac-44khz"),
    (
        "EnCodec 24 kHz at 6 kbps (8 codebooks) into .ecdc files",
        "audiotok encode speech/ -r -o ecdc --codec encodec-24khz --codebooks 8 --to ecdc",
    ),
    ("Straight into a Hugging Face dataset", "audiotok encode corpus/ -r -o ds --codec dac-44khz --to hf"),
    (
        "Straight into lhotse Shar shards, no file per item (also parquet, webdataset)",
        "audiotok encode corpus/ -r -o codes_shar --codec dac-44khz --to shar",
    ),
)
