"""``esf encode``: audio files to EnCodec ``.ecdc`` codes, with resume and verification."""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from encodec.model import EncodecModel
from pydantic import Field

from audiotok import audio
from audiotok.codecs import encodec as codec
from audiotok.errors import AudiotokError, InputError, UsageError
from audiotok.formats import ecdc
from audiotok.formats._base import FrozenModel
from audiotok.paths import AUDIO_SUFFIXES
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services import runner
from audiotok.services.records import BatchSummary, FileRecord

__all__ = [
    "EncodeResult",
    "MissingReport",
    "ModelLoader",
    "VerifyResult",
    "encode_file",
    "encode_paths",
    "list_missing",
    "read_window",
    "verify_outputs",
]

log = logging.getLogger(__name__)
_RESAMPLE_MARGIN = 512  # source samples read beyond each window edge for the sinc filter


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
    """Loads an EnCodec model on first call and keeps it (so dry runs and resumes load nothing)."""

    def __init__(
        self,
        name: str,
        *,
        path: Path | None = None,
        device: torch.device | str = "cpu",
        bandwidth: float = 6.0,
    ) -> None:
        self.name, self.path, self.device, self.bandwidth = name, path, device, bandwidth
        self.model: EncodecModel | None = None

    @classmethod
    def from_option(
        cls,
        model: str | None,
        *,
        architecture: str | None = None,
        device: torch.device | str = "cpu",
        bandwidth: float = 6.0,
    ) -> ModelLoader:
        """A loader for ``model``: a name (``encodec_48khz``) or a state-dict file of ``architecture``.

        ``architecture`` defaults to ``encodec_24khz``; with a model name it may only repeat it
        (else :class:`UsageError`).
        """
        if model is None or model in codec.ENCODEC_MODELS:
            name = model or architecture or "encodec_24khz"
            if architecture is not None and architecture != name:
                raise UsageError(
                    f"`model` {name} and `architecture` {architecture} contradict each other",
                    param=("model", "architecture"),
                )
            return cls(name, device=device, bandwidth=bandwidth)
        return cls(architecture or "encodec_24khz", path=Path(model), device=device, bandwidth=bandwidth)

    @property
    def label(self) -> str:
        """The model name, or the state-dict file it is loaded from."""
        return self.name if self.path is None else str(self.path)

    def __call__(self) -> EncodecModel:
        """The model, loaded with :func:`audiotok.codecs.encodec.load_model` once."""
        if self.model is None:
            self.model = codec.load_model(
                self.name, path=self.path, device=self.device, bandwidth=self.bandwidth
            )
        return self.model


def _to_channels(x: np.ndarray, channels: int, path: Path) -> np.ndarray:
    if channels == 1:
        return audio.to_mono(x)
    if x.shape[0] == 1:
        return np.repeat(x, 2, axis=0)
    if x.shape[0] != 2:
        raise InputError(f"the 48 kHz model takes 1 or 2 channels, file has {x.shape[0]}", path)
    return x


def read_window(
    path: Path, info: audio.AudioInfo, start: int, end: int, sample_rate: int, channels: int
) -> torch.Tensor:
    """Samples ``[start, end)`` at ``sample_rate``, decoded and resampled from the file's own rate.

    Resampling starts on a sample where both rates' grids coincide and reads
    ``_RESAMPLE_MARGIN`` extra source samples on each side, so windows agree
    with a whole-file resample except at the file's ends.

    Returns
    -------
    Tensor[channels, end - start] float32
        Zero-padded past the end of the file.
    """
    sr = info.sample_rate
    if sr == sample_rate:
        x = audio.read(path, start, end - start)
        out = audio.resample(_to_channels(x, channels, path), sr, sr)
    else:
        g = math.gcd(sr, sample_rate)
        step_in, step_out = sr // g, sample_rate // g
        want = max(0, start * sr // sample_rate - _RESAMPLE_MARGIN)
        s0 = want // step_in * step_in
        o0 = s0 // step_in * step_out
        s1 = min(info.frames, math.ceil(end * sr / sample_rate) + _RESAMPLE_MARGIN)
        x = _to_channels(audio.read(path, s0, s1 - s0), channels, path)
        out = audio.resample(x, sr, sample_rate)[:, start - o0 : end - o0]
    if out.shape[-1] < end - start:
        out = torch.nn.functional.pad(out, (0, end - start - out.shape[-1]))
    return out


def _scale_of(path: Path, info: audio.AudioInfo, channels: int) -> float:
    """RMS of the mono mix over the whole file (the 48 kHz model's input normalisation)."""
    total, count = 0.0, 0
    for block in audio.iter_blocks(path, 1 << 20):
        mono = _to_channels(block, channels, path).mean(axis=0, dtype=np.float64)
        total += float(np.square(mono).sum())
        count += mono.size
    return math.sqrt(total / max(count, 1)) + 1e-8


def encode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    model: EncodecModel,
    *,
    chunk_s: float = 30.0,
    context_s: float = 1.0,
    batch_size: int = 1,
    on_progress: ProgressFn | None = None,
) -> ecdc.EcdcMeta:
    """Encode one audio file and write its ``.ecdc`` atomically.

    The file is decoded and resampled window by window, so memory stays
    bounded by ``chunk_s`` whatever the file's length. ``on_progress`` gets
    ``ProgressEvent("seconds", advance=...)`` per encoded batch of chunks.

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
    spec = codec.spec_of(model)
    info = audio.probe(path)
    n = math.ceil(info.frames * spec.sample_rate / info.sample_rate)
    scale = _scale_of(path, info, spec.channels) if model.normalize else None

    def reader(a: int, b: int) -> torch.Tensor:
        x = read_window(path, info, a, b, spec.sample_rate, spec.channels)
        return x if scale is None else x / scale

    def tick(samples: int) -> None:
        emit(on_progress, ProgressEvent("seconds", advance=samples / spec.sample_rate, item=str(path)))

    codes = codec.encode_stream(
        model, reader, n, chunk_s=chunk_s, context_s=context_s, batch_size=batch_size, on_chunk=tick
    )
    meta = ecdc.EcdcMeta(
        n_codebooks=codes.shape[1],
        n_frames=codes.shape[0],
        sample_rate=spec.sample_rate,
        fps=spec.fps,
        bandwidth=model.bandwidth,
        model=spec.name,
        audio_length=n,
    )
    return ecdc.write(dst, codes.numpy(), meta, scales=[scale])


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
    load: Callable[[], EncodecModel],
    recursive: bool = False,
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
    overwrite: bool = False,
    dry_run: bool = False,
    shard: tuple[int, int] = (0, 1),
    chunk_s: float = 30.0,
    context_s: float = 1.0,
    batch_size: int = 1,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Encode every audio file named by ``inputs``; outputs mirror the input tree under ``outdir``.

    Valid existing outputs are skipped unless ``overwrite`` (resume); invalid
    leftovers are encoded again. ``load`` is called once, only when there is
    something to encode. ``on_record`` gets an :class:`EncodeResult` per
    file, or a failed record; the batch goes on.

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
    batch = runner.plan(
        inputs, suffixes=suffixes, outdir=outdir, out_suffix=".ecdc", recursive=recursive, shard=shard,
        resume=_resume, overwrite=overwrite, probe=_probe_or_none,
    )  # fmt: skip
    model: EncodecModel | None = None

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
    return runner.finish(summary, BatchSummary, since=t0, model=getattr(load, "label", None))


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
    model: EncodecModel | None,
    *,
    samples: int | None = 8,
    seed: int = 0,
) -> Iterator[VerifyResult]:
    """Re-read a random sample of written ``.ecdc`` files and check them.

    Checks: the file loads, ``T = ceil(audio_length / hop)``, Cb matches the
    bandwidth, every code is below 1024, and (with ``model``) the first
    2 seconds decode to finite audio.
    """
    chosen = paths if samples is None or samples >= len(paths) else random.Random(seed).sample(paths, samples)
    for p in chosen:
        try:
            codes, meta = ecdc.read(p)
            problems = []
            spec = codec.ENCODEC_MODELS.get(meta.model or "")
            if spec is not None and meta.audio_length is not None:
                want = codec.n_frames_for(meta.audio_length, spec.hop_length)
                if want != meta.n_frames:
                    problems.append(f"T = {meta.n_frames}, expected {want} for {meta.audio_length} samples")
            if spec is not None and meta.bandwidth and spec.n_codebooks(meta.bandwidth) != meta.n_codebooks:
                problems.append(f"{meta.n_codebooks} codebooks at {meta.bandwidth} kbps")
            if codes.size and int(codes.max()) >= 1024:
                problems.append(f"code {int(codes.max())} >= 1024")
            if model is not None and not problems and codes.shape[1] <= model.quantizer.n_q:
                wav = codec.decode_codes(model, torch.from_numpy(codes[:150]))
                if not bool(torch.isfinite(wav).all()):
                    problems.append("decoded audio is not finite")
            yield VerifyResult(path=p, ok=not problems, detail="; ".join(problems))
        except AudiotokError as exc:
            yield VerifyResult(path=p, ok=False, detail=exc.reason)
