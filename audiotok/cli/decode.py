"""``audiotok decode``: token files (``.npq``, ``.ecdc``) back to WAV through the codec that made them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from audiotok.cli._compute import local_device
from audiotok.cli._groups import COMPUTE, RAY, SHARD, Compute, Rays, Shard, grouped, option
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import (
    FromListOpt,
    InputsArg,
    JsonOpt,
    OutdirOpt,
    RecursiveOpt,
    SampleRateOpt,
    WavOutOpt,
    inputs_of,
    model_option,
)
from audiotok.cli._output import Output
from audiotok.records import BatchSummary, FileRecord

if TYPE_CHECKING:
    from audiotok.services import decode as decode_service
else:
    decode_service = lazy_import("audiotok.services.decode")

__all__ = ["EXAMPLES", "decode", "decode_command"]


def _decoded(record: FileRecord) -> str | None:
    if not isinstance(record, decode_service.DecodeRecord):
        return None
    return f"{record.output}: {record.channels} ch, {record.sample_rate} Hz, {record.duration_s:.2f} s"


def decode_command(
    decode_paths: Callable[[], Callable[..., BatchSummary]], *, model_help: str, doc: str
) -> Callable[..., None]:
    """A decode command: ``audiotok decode``, or a preset of it (``npq decode``).

    Parameters
    ----------
    decode_paths : callable
        Gives the service that decodes (called when the command runs: the service is imported lazily).
    model_help : str
        The ``--model`` help.
    doc : str
        The command's help (its docstring).
    """

    def decode(
        inputs: InputsArg = None,
        from_list: FromListOpt = None,
        out: WavOutOpt = None,
        outdir: OutdirOpt = None,
        model: str | None = option(Annotated[str | None, model_option(model_help)], None),
        compute: Compute = COMPUTE,
        sample_rate: SampleRateOpt = None,
        recursive: RecursiveOpt = False,
        shard: Shard = SHARD,
        as_json: JsonOpt = False,
        rays: Rays = RAY,
    ) -> None:
        paths = inputs_of(inputs, from_list)
        sink = Output(as_json=as_json, human=_decoded)
        with local_device(compute, rays) as dev:
            sink.run(
                "Decoding", decode_paths(), paths, out=out, outdir=outdir, model=model, device=dev,
                sample_rate=sample_rate, recursive=recursive, shard=shard, backend=compute.backend,
                engine=rays,
            )  # fmt: skip

    decode.__doc__ = doc
    return grouped(decode)


decode = decode_command(
    lambda: decode_service.decode_paths,
    model_help="The codec; default: the one the files' tokens.json names (else the file's own word).",
    doc="Decode token files to PCM16 WAV with the codec that made them (Mid/Side → L/R).",
)

EXAMPLES = examples(
    ("Every token file of a folder, mirrored under wav/", "audiotok decode out -r -o wav"),
    ("One file to one WAV", "audiotok decode out/take1.npq --out take1.wav"),
    (
        "With an explicit codec, on the GPU",
        "audiotok decode song.ecdc --out song.wav --model encodec-48khz --device cuda",
    ),
)
