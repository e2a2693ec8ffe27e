"""``esf encode``: audio files to EnCodec ``.ecdc`` codes, with resume and verification."""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import numpy as np
from pydantic import Field

from audiotok import audio
from audiotok.audio_stream import FileSource, ResampledSource, SampleSource
from audiotok.codecs import encodec_cached, registry, stream
from audiotok.codecs.backends import backend_of
from audiotok.codecs.encodec_cached import EncodecCodecBase
from audiotok.errors import AudiotokError, InputError, UsageError
from audiotok.formats import ecdc
from audiotok.formats._base import FrozenModel
from audiotok.paths import AUDIO_SUFFIXES
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services import runner
from audiotok.services.records import BatchSummary, FileRecord

if TYPE_CHECKING:
    import torch

    from audiotok.codecs.encodec import EncodecCodec
    from audiotok.codecs.encodec_cached import CachedEncodecCodec
    from audiotok.services.engines.ray import RayOptions

EsfCodec: TypeAlias = "EncodecCodec | CachedEncodecCodec"
"""The EnCodec codecs ``esf encode`` runs: the PyTorch model, or its cached OpenVINO encoder."""

__all__ = [
    "EncodeResult",
    "MissingReport",
    "ModelLoader",
    "VerifyResult",
    "encode_file",
    "encode_paths",
    "list_missing",
    "verify_outputs",
]

log = logging.getLogger(__name__)


class EncodeResult(FileRecord):
    """One encoded (``written``), ``skipped`` (valid output existed) or ``planned`` (dry run) file."""

    n_frames: int | None = Field(default=None, description="T, frames at 75 fps.")
    n_codebooks: int | None = Field(default=None, description="Cb, codebooks.")
    duration_s: float | None = Field(default=None, description="Audio duration in seconds.")
    wall_s: float = Field(default=0.0, description="Seconds spent on this file.")


class MissingReport(FrozenModel):
    """Inputs without an output, and outputs without an input."""

    missing: list[str] = Field(description="Audio files whose .ecdc does not exist (or is invalid).")
    orphans: list[str] = Field(description=".ecdc files under the output folder with no audio file.")


class VerifyResult(FrozenModel):
    """Verification of one written ``.ecdc`` file."""

    path: str
    ok: bool
    detail: str = ""


class ModelLoader:
    """Loads an EnCodec codec on first call and keeps it (so dry runs and resumes load nothing).

    Parameters
    ----------
    name : str
        ``encodec-24khz`` or ``encodec-48khz`` (or ``encodec_24khz`` ...).
    path : Path, optional
        A state-dict file instead of the cache.
    device : torch.device or str
    bandwidth : float
        Target bandwidth in kbps; sets the number of codebooks.
    backend : str
        What runs the encoder (:mod:`audiotok.codecs.backends`).
    """

    def __init__(
        self,
        name: str,
        *,
        path: Path | None = None,
        device: torch.device | str = "cpu",
        bandwidth: float = 6.0,
        backend: str = "auto",
    ) -> None:
        self.name, self.path, self.device, self.bandwidth = name, path, device, bandwidth
        self.backend = backend
        self.model: EsfCodec | None = None

    @classmethod
    def from_option(
        cls,
        model: str | None,
        *,
        architecture: str | None = None,
        device: torch.device | str = "cpu",
        bandwidth: float = 6.0,
        backend: str = "auto",
    ) -> ModelLoader:
        """A loader for ``model``: a name (``encodec_48khz``) or a state-dict file of ``architecture``.

        ``architecture`` defaults to ``encodec_24khz``; with a model name it may only repeat it
        (else :class:`UsageError`).
        """
        entry = None if model is None else registry.lookup(model)
        if model is None or (entry is not None and entry.family == "encodec"):
            name = model or architecture or "encodec_24khz"
            same = (
                architecture is None or registry.get(architecture).short_name == registry.get(name).short_name
            )
            if not same:
                raise UsageError(
                    f"`model` {name} and `architecture` {architecture} contradict each other",
                    param=("model", "architecture"),
                )
            return cls(name, device=device, bandwidth=bandwidth, backend=backend)
        return cls(
            architecture or "encodec_24khz",
            path=Path(model),
            device=device,
            bandwidth=bandwidth,
            backend=backend,
        )

    @property
    def label(self) -> str:
        """The model name, or the state-dict file it is loaded from."""
        return self.name if self.path is None else str(self.path)

    def __call__(self) -> EsfCodec:
        """The codec, loaded through :func:`audiotok.codecs.registry.load_codec` once.

        On the CPU with a cached OpenVINO encoder for these weights and
        bandwidth, that is a :class:`~audiotok.codecs.encodec_cached.CachedEncodecCodec`
        (no PyTorch); otherwise the PyTorch model, its encoder on ``backend``.

        Raises
        ------
        UsageError
            If ``name`` is no EnCodec model or ``bandwidth`` is not one it offers.
        ModelError
            If the weights cannot be found, downloaded or loaded.
        """
        if self.model is None:
            encodec_cached.spec_for(self.name).check_bandwidth(self.bandwidth)
            loaded = registry.load_codec(
                self.name, checkpoint=self.path, family="encodec", device=self.device, backend=self.backend,
                parts=("encoder",), bandwidth=self.bandwidth,
            )  # fmt: skip
            if not isinstance(loaded, EncodecCodecBase):
                raise UsageError(f"{self.name!r} is not an EnCodec model")
            self.model = cast("EsfCodec", loaded)
        return self.model

    def for_checks(self) -> EsfCodec:
        """The codec that decodes in checks (``--verify``): the one loaded, else loaded here, eagerly.

        Another engine (Ray) encodes in its own processes, and a resumed run
        loads nothing; the decode check still needs the model in this process.
        """
        if self.model is None:
            self.model = ModelLoader(
                self.name, path=self.path, device=self.device, bandwidth=self.bandwidth, backend="eager"
            )()
        return self.model


class _Scaled:
    """A :class:`SampleSource` divided by a constant (the 48 kHz model's input scale)."""

    def __init__(self, source: SampleSource, scale: float) -> None:
        self.source, self.scale = source, scale
        self.channels, self.sample_rate, self.length = source.channels, source.sample_rate, source.length

    def read(self, start: int, stop: int) -> audio.Audio:
        """Samples ``[start, min(stop, length))`` divided by the scale (in torch, float32)."""
        import torch  # the 48 kHz model runs on PyTorch anyway

        out: audio.Audio = (torch.from_numpy(self.source.read(start, stop)) / self.scale).numpy()
        return out


def _channel_mode(codec: EsfCodec, info: audio.AudioInfo, path: Path) -> audio.ChannelMode:
    if codec.channels == 1:
        return "mono"
    if info.channels > 2:
        raise InputError(f"the 48 kHz model takes 1 or 2 channels, file has {info.channels}", path)
    return "stereo"


def _scale_of(path: Path, mode: audio.ChannelMode) -> float:
    """RMS of the mono mix over the whole file (the 48 kHz model's input normalisation)."""
    total, count = 0.0, 0
    for block in audio.iter_blocks(path, 1 << 20):
        mono = audio.apply_channel_mode(block, mode, path).mean(axis=0, dtype=np.float64)
        total += float(np.square(mono).sum())
        count += mono.size
    return math.sqrt(total / max(count, 1)) + 1e-8


def encode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    model: EsfCodec,
    *,
    chunk_s: float | None = 30.0,
    context_s: float = 1.0,
    batch_size: int = 1,
    on_progress: ProgressFn | None = None,
) -> ecdc.EcdcMeta:
    """Encode one audio file at ``model.bandwidth`` and write its ``.ecdc`` atomically.

    The file is decoded and resampled window by window
    (:class:`~audiotok.audio_stream.ResampledSource`), so memory stays
    bounded by ``chunk_s`` whatever the file's length. Each chunk is encoded
    with ``context_s`` seconds of audio before it (and after it, for the
    non-causal 48 kHz model), whose frames are dropped; a normalising model
    (48 kHz) gets the audio divided by one scale for the whole file, stored
    in the ``.ecdc`` file. ``on_progress`` gets ``ProgressEvent("seconds",
    advance=...)`` per encoded batch of chunks.

    Returns
    -------
    EcdcMeta
        As written: ``n_frames = ceil(N / hop)`` for ``N`` samples at the model's rate.

    Raises
    ------
    InputError
        If the audio cannot be decoded or has unusable channels.
    """
    path = Path(src)
    info = audio.probe(path)
    mode = _channel_mode(model, info, path)
    scale = _scale_of(path, mode) if model.normalizes else None

    def tick(samples: int) -> None:
        emit(on_progress, ProgressEvent("seconds", advance=samples / model.sample_rate, item=str(path)))

    with FileSource(path, mode, info) as file:
        source: SampleSource = ResampledSource(file, model.sample_rate)
        n = source.length
        if scale is not None:
            source = _Scaled(source, scale)
        codes = stream.encode_source(
            source, model, (model.spec.n_codebooks(model.bandwidth),), chunk_seconds=chunk_s,
            context=model.encoder_context(context_s), batch_size=batch_size, on_chunk=tick,
        )  # fmt: skip
    meta = ecdc.EcdcMeta(
        n_codebooks=codes.shape[1],
        n_frames=codes.shape[0],
        sample_rate=model.sample_rate,
        fps=model.frame_rate,
        bandwidth=model.bandwidth,
        model=model.name,
        audio_length=n,
    )
    return ecdc.write(dst, codes, meta, scales=[scale])


def _existing(dst: Path) -> ecdc.EcdcMeta | None:
    if not dst.exists():
        return None
    try:
        return ecdc.read_meta(dst)
    except AudiotokError:
        return None


def _resume(item: runner.PlanItem) -> EncodeResult | None:
    """The skipped record when the `.ecdc` output exists and validates (invalid leftovers: encode again)."""
    old = _existing(item.dst)
    return None if old is None else _result(item, "skipped", old)


def _result(
    item: runner.PlanItem, status: Literal["written", "skipped"], meta: ecdc.EcdcMeta, wall_s: float = 0.0
) -> EncodeResult:
    fields = {"n_frames": meta.n_frames, "n_codebooks": meta.n_codebooks, "duration_s": meta.duration_s}
    return item.record(EncodeResult, status, wall_s=wall_s, **fields)


def encode_paths(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    load: Callable[[], EsfCodec],
    recursive: bool = False,
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
    overwrite: bool = False,
    dry_run: bool = False,
    shard: tuple[int, int] = (0, 1),
    chunk_s: float = 30.0,
    context_s: float = 1.0,
    batch_size: int = 1,
    engine: RayOptions | None = None,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Encode every audio file named by ``inputs``; outputs mirror the input tree under ``outdir``.

    Valid existing outputs are skipped unless ``overwrite`` (resume); invalid
    leftovers are encoded again. ``load`` is called once, only when there is
    something to encode. ``on_record`` gets an :class:`EncodeResult` per
    file, or a failed record; the batch goes on. With ``engine``
    (:class:`~audiotok.services.engines.ray.RayOptions`) the files to encode
    go to Ray actors, each calling ``load`` once (a :class:`ModelLoader` on
    the actor's own device) and encoding one file a call: the same outputs.
    A dry run plans here.

    Returns
    -------
    BatchSummary
        With the model's name (``load.label`` of a :class:`ModelLoader`).

    Raises
    ------
    UsageError
        If two inputs map to one output (``a.wav`` and ``a.flac``: naming
        both, before any file is written), or the shard does not exist.
    """
    t0 = time.perf_counter()
    ray = None
    if engine is not None and not dry_run:
        from audiotok.services.engines.ray import RayEngine

        job = _RemoteEsf(load, chunk_s=chunk_s, context_s=context_s, batch_size=batch_size)
        ray = RayEngine(engine, job)  # checks Ray is installed
    batch = runner.plan(
        inputs, suffixes=suffixes, outdir=outdir, out_suffix=".ecdc", recursive=recursive, shard=shard,
        resume=_resume, overwrite=overwrite, probe=_probe_or_none,
    )  # fmt: skip
    if ray is not None:
        summary = runner.run(batch, _unreachable, on_record=on_record, on_progress=on_progress, engine=ray)
        backends = ",".join(sorted({str(d["backend"]) for d in ray.descriptions})) or None
        label = getattr(load, "label", None)
        return runner.finish(summary, BatchSummary, since=t0, model=label, backend=backends)
    model: EsfCodec | None = None

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> EncodeResult:
        nonlocal model
        if dry_run:
            return item.record(EncodeResult, "planned")
        start = time.perf_counter()
        model = model or load()
        meta = encode_file(
            item.path, item.dst, model, chunk_s=chunk_s, context_s=context_s, batch_size=batch_size,
            on_progress=on_progress,
        )  # fmt: skip
        return _result(item, "written", meta, time.perf_counter() - start)

    summary = runner.run(batch, work, on_record=on_record, on_progress=on_progress)
    loaded = getattr(load, "model", None)
    used = None if loaded is None else backend_of(loaded, "encoder")
    return runner.finish(summary, BatchSummary, since=t0, model=getattr(load, "label", None), backend=used)


def _unreachable(item: runner.PlanItem, on_progress: ProgressFn | None) -> FileRecord:  # pragma: no cover
    raise TypeError(f"{item.path}: only files skipped by resume stay here, and they are not worked on")


@dataclass(frozen=True)
class _RemoteEsf:
    """``esf encode`` in a Ray actor (:class:`~audiotok.services.engines.ray.RemoteJob`): one file a call."""

    load: Callable[[], EsfCodec]
    chunk_s: float
    context_s: float
    batch_size: int

    def setup(self, device: torch.device) -> EsfCodec:
        load = self.load
        if isinstance(load, ModelLoader):  # on this actor's device, whatever the driver's was
            load = ModelLoader(
                load.name, path=load.path, device=device, bandwidth=load.bandwidth, backend=load.backend
            )
        return load()

    def work(self, model: EsfCodec, item: runner.PlanItem) -> EncodeResult:
        start = time.perf_counter()
        meta = encode_file(
            item.path, item.dst, model, chunk_s=self.chunk_s, context_s=self.context_s,
            batch_size=self.batch_size,
        )  # fmt: skip
        return _result(item, "written", meta, time.perf_counter() - start)

    def describe(self, model: EsfCodec) -> dict[str, Any]:
        return {"model": model.name, "backend": backend_of(model, "encoder")}


def _probe_or_none(path: Path) -> audio.AudioInfo | None:
    """The file's header, or ``None`` when unreadable (encoding then reports why)."""
    try:
        return audio.probe(path)
    except AudiotokError:
        return None


def list_missing(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    recursive: bool = False,
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
) -> MissingReport:
    """Audio files without a valid ``.ecdc`` and ``.ecdc`` files without an audio file.

    Orphans are looked for under ``outdir`` (or, without one, beside the inputs).
    """
    batch = runner.plan(
        inputs, suffixes=suffixes, outdir=outdir, out_suffix=".ecdc", recursive=recursive, resume=_resume
    )
    missing = [str(item.path) for item in batch.items if item.skipped is None]
    expected = {item.dst.resolve() for item in batch.items}
    roots = [outdir] if outdir is not None else sorted({item.file.root for item in batch.items})
    found: set[Path] = set()
    for root in roots:
        if root.is_dir():
            found.update(
                p for p in root.glob("**/*.ecdc" if recursive or outdir else "*.ecdc") if p.is_file()
            )
    orphans = sorted(str(p) for p in found if p.resolve() not in expected)
    return MissingReport(missing=missing, orphans=orphans)


def verify_outputs(
    paths: list[str],
    model: EsfCodec | None,
    *,
    samples: int | None = 8,
    seed: int = 0,
) -> Iterator[VerifyResult]:
    """Re-read a random sample of written ``.ecdc`` files and check them.

    Checks: the file loads, ``T = ceil(audio_length / hop)``, Cb matches the
    bandwidth, every code is below 1024, and (with ``model``) the first
    150 frames (2 s at 75 fps) decode to finite audio.
    """
    chosen = paths if samples is None or samples >= len(paths) else random.Random(seed).sample(paths, samples)
    for p in chosen:
        try:
            codes, meta = ecdc.read(p)
            problems = []
            spec = encodec_cached.ENCODEC_MODELS.get(meta.model or "")
            if spec is not None and meta.audio_length is not None:
                want = -(-meta.audio_length // spec.hop_length)
                if want != meta.n_frames:
                    problems.append(f"T = {meta.n_frames}, expected {want} for {meta.audio_length} samples")
            if spec is not None and meta.bandwidth and spec.n_codebooks(meta.bandwidth) != meta.n_codebooks:
                problems.append(f"{meta.n_codebooks} codebooks at {meta.bandwidth} kbps")
            if codes.size and int(codes.max()) >= 1024:
                problems.append(f"code {int(codes.max())} >= 1024")
            if model is not None and not problems and len(codes) and codes.shape[1] <= model.n_codebooks:
                head = codes[:150]
                if not all(np.isfinite(x).all() for x in stream.decode_codes(head, model, (head.shape[1],))):
                    problems.append("decoded audio is not finite")
            yield VerifyResult(path=p, ok=not problems, detail="; ".join(problems))
        except AudiotokError as exc:
            yield VerifyResult(path=p, ok=False, detail=exc.reason)
