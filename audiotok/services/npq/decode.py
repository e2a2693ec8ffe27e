"""``npq decode``: ``.npq`` token files back to PCM16 WAV through DAC.

NPQ1 (and legacy) files decode to mono; NPQ2 files decode Mid and Side and
write stereo with ``L = M + S`` and ``R = M - S`` (specs/npq-tools.md). The
output has ``T * hop_length`` samples at the model rate, or that length
resampled to ``sample_rate``. Tokens are memory-mapped and decoded in chunks,
and the WAV is written piece by piece, so memory does not grow with length.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from pydantic import Field

from audiotok.audio import from_mid_side
from audiotok.audio_stream import ChunkSource, ResampledSource, wav_writer
from audiotok.codecs import registry
from audiotok.codecs.backends import backend_of
from audiotok.codecs.base import Codec
from audiotok.codecs.stream import decode_codes
from audiotok.errors import FormatError, UsageError
from audiotok.formats import npq
from audiotok.formats._base import FrozenModel
from audiotok.paths import mirror_path
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services import runner
from audiotok.services.records import BatchSummary, FileRecord

if TYPE_CHECKING:
    import torch

    from audiotok.services.engines.ray import RayOptions

__all__ = ["DecodeRecord", "DecodedFile", "decode_file", "decode_paths", "infer_model", "load_dac"]

_WRITE_BLOCK = 1 << 16


class _DecodeFields(FrozenModel):
    """What ``npq decode`` reports of one file besides its paths and status."""

    channels: int = Field(description="1 (NPQ1) or 2 (NPQ2, L/R).")
    sample_rate: int = Field(description="Sample rate of the WAV, Hz.")
    samples: int = Field(description="Samples per channel written.")
    duration_s: float = Field(description="Seconds of audio written.")
    model: str
    weights_sha256: str
    wall_s: float = Field(description="Wall time, seconds.")


class _DecodedHead(FrozenModel):
    path: str = Field(description="The .npq file.")
    output: str = Field(description="The WAV file written.")


class DecodedFile(_DecodeFields, _DecodedHead):
    """One decoded file (``path``, ``output``, then the decode fields)."""


class DecodeRecord(_DecodeFields, FileRecord):
    """One input file of ``npq decode`` (one JSON object per file): a :class:`DecodedFile` as a record."""

    @classmethod
    def of(cls, result: DecodedFile) -> DecodeRecord:
        """``result`` with the record's keys (``path`` becomes ``input``), status ``written``."""
        return cls(input=result.path, status="written", **result.model_dump(exclude={"path"}))


def infer_model(header: npq.NpqHeader, path: str | os.PathLike[str] | None = None) -> str:
    """The known model whose frame rate is the file's ``token_rate`` and that has its K codebooks.

    86.13 fps → ``44khz`` (``44khz-16kbps`` when K > 9), 75 → ``24khz``, 50 → ``16khz``.

    Raises
    ------
    FormatError
        If no known model fits; pass ``model`` then.
    """
    k = max(getattr(header, "k_mid", header.n_codebooks), getattr(header, "k_side", 0))
    for entry in registry.entries("dac"):
        if abs(entry.frame_rate - header.token_rate) < 1e-3 and k <= entry.n_codebooks:
            return entry.short_name
    raise FormatError(
        f"no known DAC model has {header.token_rate:.4f} fps and {k} codebooks; pass `model`",
        path,
        param="model",
    )


def load_dac(model: str, *, device: torch.device | None = None, backend: str = "auto") -> Codec:
    """Load the DAC model ``model`` (name, checkpoint or Hugging Face repo) for decoding.

    ``backend`` runs the decoder (:mod:`audiotok.codecs.backends`).

    Raises
    ------
    ModelError
        If it cannot be loaded.
    UsageError
        If it is not a DAC model.
    """
    return registry.load_codec(model, family="dac", device=device, backend=backend, parts=("decoder",))


def _channel_codebooks(header: npq.NpqHeader) -> tuple[int, ...]:
    if isinstance(header, npq.Npq2Header):
        return (header.k_mid, header.k_side)
    return (header.n_codebooks,)


def decode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    codec: Codec,
    *,
    sample_rate: int | None = None,
    chunk_seconds: float = 3.0,
    on_progress: ProgressFn | None = None,
) -> DecodedFile:
    """Decode one ``.npq`` file to a PCM16 WAV at ``dst``.

    ``chunk_seconds`` of codes are decoded at a time (with the codec's decoder
    context on both sides). With the full 44.1 kHz model on 2 CPU cores and the
    OpenVINO backend compiled per window length, a 20 s file took 29.6 s and
    1.83 GB peak with 5 s, 30.9 s and 1.63 GB with 3 s, 32.9 s and 1.53 GB with 2 s
    (``python -m dac decode``: 1.72 GB).

    Raises
    ------
    FormatError
        If the file is invalid, its token rate is not the model's, it has more
        codebooks than the model, or a token is outside the vocabulary.
    """
    t0 = time.perf_counter()
    src = Path(src)
    tokens, header = npq.read(src, mmap=True)
    if abs(header.token_rate - codec.frame_rate) > 1e-3:
        raise FormatError(
            f"{header.token_rate:.4f} fps does not match model {codec.name} ({codec.frame_rate:.4f} fps)",
            src,
        )
    ks = _channel_codebooks(header)
    if max(ks) > codec.n_codebooks:
        raise FormatError(f"{max(ks)} codebooks but model {codec.name} has {codec.n_codebooks}", src)
    npq.check_tokens(tokens, tuple(min(v, codec.codebook_size) for v in header.vocab_sizes), src)
    chunk_frames = max(1, round(chunk_seconds * codec.frame_rate))
    n_samples = header.seq_len * codec.hop_length
    channels = len(ks)

    def pieces() -> Iterator[np.ndarray[Any, np.dtype[np.float32]]]:
        for piece in decode_codes(tokens, codec, ks, chunk_frames=chunk_frames):
            emit(
                on_progress,
                ProgressEvent("seconds", advance=piece.shape[1] / codec.sample_rate, item=str(src)),
            )
            yield from_mid_side(piece) if channels == 2 else piece

    rate = sample_rate or codec.sample_rate
    stream = ResampledSource(ChunkSource(pieces(), channels, codec.sample_rate, n_samples), rate)
    with wav_writer(dst, rate, channels) as out:
        for start in range(0, stream.length, _WRITE_BLOCK):
            out.write(stream.read(start, start + _WRITE_BLOCK).T)
    return DecodedFile(
        path=str(src),
        output=str(dst),
        channels=channels,
        sample_rate=rate,
        samples=stream.length,
        duration_s=stream.length / rate,
        model=codec.name,
        weights_sha256=codec.weights_sha256,
        wall_s=time.perf_counter() - t0,
    )


def decode_paths(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    out: Path | None = None,
    outdir: Path | None = None,
    model: str | None = None,
    device: torch.device | None = None,
    sample_rate: int | None = None,
    recursive: bool = False,
    shard: tuple[int, int] = (0, 1),
    backend: str = "auto",
    engine: RayOptions | None = None,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Decode every ``.npq`` file named by ``inputs``.

    Without ``model`` each file's model is inferred from its token rate
    (:func:`infer_model`); models are loaded once and reused. ``on_record``
    gets a :class:`DecodeRecord` per file, or a failed record; the batch goes on.
    With ``engine`` (:class:`~audiotok.services.engines.ray.RayOptions`) the
    files are decoded on Ray actors (each loading the models it needs on its
    own device; ``device`` is not used), one file a call, with the same WAVs.

    Returns
    -------
    BatchSummary
        With the model (names joined by commas when files needed several) and,
        for one model, its weights' sha256.

    Raises
    ------
    UsageError
        If ``out`` is given with ``outdir`` or with more than one input file,
        two inputs map to one output, or the shard does not exist.
    ModelError
        If an explicitly named model cannot be loaded.
    """
    t0 = time.perf_counter()
    ray = None
    if engine is not None:
        from audiotok.services.engines.ray import RayEngine

        ray = RayEngine(engine, _RemoteDecode(model, backend, sample_rate))  # checks Ray is installed
    if out is not None and outdir is not None:
        raise UsageError("`out` and `outdir` exclude each other", param=("out", "outdir"))
    files, unmatched = runner.expand(inputs, suffixes=(".npq",), recursive=recursive)
    if out is not None and len(files) != 1:
        raise UsageError(
            f"`out` takes exactly one input file, got {len(files)}; use `outdir`", param=("out", "outdir")
        )
    batch = runner.plan_files(
        files,
        unmatched,
        output=(lambda _: out) if out is not None else (lambda f: mirror_path(f, outdir, ".wav")),
        shard=shard,
        probe=_header_or_none,
    )
    if ray is not None:
        summary = runner.run(batch, _unreachable, on_record=on_record, on_progress=on_progress, engine=ray)
        models: dict[str, str] = {}
        for desc in ray.descriptions:
            models.update(desc.get("models", {}))
        used = sorted({b for desc in ray.descriptions for b in desc.get("backends", [])})
        return runner.finish(
            summary, BatchSummary, since=t0, model=",".join(sorted(models)) or None,
            weights_sha256=next(iter(models.values())) if len(models) == 1 else None,
            backend=",".join(used) or None,
        )  # fmt: skip
    codecs: dict[str, Codec] = {}
    if model is not None:
        codecs[model] = load_dac(model, device=device, backend=backend)

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> DecodeRecord:
        header = cast("npq.NpqHeader | None", item.info) or npq.read_header(item.path)
        name = model or infer_model(header, item.path)
        if name not in codecs:
            codecs[name] = load_dac(name, device=device, backend=backend)
        result = decode_file(
            item.path, item.dst, codecs[name], sample_rate=sample_rate, on_progress=on_progress
        )
        return DecodeRecord.of(result)

    summary = runner.run(batch, work, on_record=on_record, on_progress=on_progress)
    only = next(iter(codecs.values())) if len(codecs) == 1 else None
    return runner.finish(
        summary,
        BatchSummary,
        since=t0,
        model=",".join(sorted(codecs)) or None,
        weights_sha256=None if only is None else only.weights_sha256,
        backend=",".join(sorted({backend_of(c, "decoder") for c in codecs.values()})) or None,
    )


def _unreachable(item: runner.PlanItem, on_progress: ProgressFn | None) -> FileRecord:  # pragma: no cover
    raise TypeError(f"{item.path}: decode plans have no resume; every file goes to the engine")


@dataclass
class _Decoders:
    """One Ray actor's models, by name (:class:`_RemoteDecode`)."""

    codecs: dict[str, Codec] = field(default_factory=dict)


@dataclass(frozen=True)
class _RemoteDecode:
    """``npq decode`` in a Ray actor (:class:`~audiotok.services.engines.ray.RemoteJob`): one file a call."""

    model: str | None
    backend: str
    sample_rate: int | None

    def setup(self, device: torch.device) -> tuple[_Decoders, torch.device]:
        state = _Decoders()
        if self.model is not None:  # a named model that cannot load stops the run, as locally
            state.codecs[self.model] = load_dac(self.model, device=device, backend=self.backend)
        return state, device

    def work(self, state: tuple[_Decoders, torch.device], item: runner.PlanItem) -> DecodeRecord:
        decoders, device = state
        header = cast("npq.NpqHeader | None", item.info) or npq.read_header(item.path)
        name = self.model or infer_model(header, item.path)
        if name not in decoders.codecs:
            decoders.codecs[name] = load_dac(name, device=device, backend=self.backend)
        result = decode_file(item.path, item.dst, decoders.codecs[name], sample_rate=self.sample_rate)
        return DecodeRecord.of(result)

    def describe(self, state: tuple[_Decoders, torch.device]) -> dict[str, Any]:
        codecs = state[0].codecs
        return {
            "models": {name: c.weights_sha256 for name, c in codecs.items()},
            "backends": sorted({backend_of(c, "decoder") for c in codecs.values()}),
        }


def _header_or_none(path: Path) -> npq.NpqHeader | None:
    """The file's header, or ``None`` when it is invalid (the decode loop then reports why)."""
    try:
        return npq.read_header(path)
    except FormatError:
        return None
