"""``audiotok decode``: token files (``.npq``, ``.ecdc``) back to WAV through the codec that made them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audiotok.cli._compute import compute
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
from audiotok.services.records import FileRecord

if TYPE_CHECKING:
    from audiotok.services import decode as decode_service
else:
    decode_service = lazy_import("audiotok.services.decode")

__all__ = ["EXAMPLES", "decode"]


def _decoded(record: FileRecord) -> str | None:
    if not isinstance(record, decode_service.DecodeRecord):
        return None
    return f"{record.output}: {record.channels} ch, {record.sample_rate} Hz, {record.duration_s:.2f} s"


def decode(
    inputs: InputsArg = None,
    from_list: FromListOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output WAV (one input only).")] = None,
    outdir: OutdirOpt = None,
    model: Annotated[
        str | None,
        model_option("The codec; default: the one the files' tokens.json names (else the file's own word)."),
    ] = None,
    device: DeviceOpt = "auto",
    backend: BackendOpt = "auto",
    precision: PrecisionOpt = "fp32",
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads for torch.", min=1)] = None,
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
    """Decode token files to PCM16 WAV with the codec that made them (Mid/Side → L/R)."""
    rays = ray_options(
        engine, ray_address=ray_address, workers=workers, cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker, device=device, precision=precision, threads=threads,
    )  # fmt: skip
    sink = Output(as_json=as_json, human=_decoded)
    with compute(device, precision, threads, rays) as dev:
        sink.run(
            "Decoding", decode_service.decode_paths, inputs_of(inputs, from_list), out=out, outdir=outdir,
            model=model, device=dev, sample_rate=sample_rate, recursive=recursive,
            shard=(shard_index, shard_count), backend=backend, engine=rays,
        )  # fmt: skip


EXAMPLES = examples(
    ("Every token file of a folder, mirrored under wav/", "audiotok decode out -r -o wav"),
    ("One file to one WAV", "audiotok decode out/take1.npq --out take1.wav"),
    (
        "With an explicit codec, on the GPU",
        "audiotok decode song.ecdc --out song.wav --model encodec-48khz --device cuda",
    ),
)
