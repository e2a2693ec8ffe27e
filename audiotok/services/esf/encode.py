"""``esf encode``: audio files to EnCodec ``.ecdc`` codes, with resume and verification."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, cast

import numpy as np
from pydantic import Field

from audiotok.codecs import registry, stream
from audiotok.codecs.encodec import cached as encodec_cached
from audiotok.codecs.encodec.cached import EncodecCodecBase
from audiotok.errors import AudiotokError, UsageError
from audiotok.formats import ecdc
from audiotok.formats._base import FrozenModel
from audiotok.paths import AUDIO_SUFFIXES
from audiotok.progress import ProgressFn
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import encode, runner
from audiotok.sinks.ecdc import existing

if TYPE_CHECKING:
    import torch

    from audiotok.codecs.encodec.cached import CachedEncodecCodec
    from audiotok.codecs.encodec.model import EncodecCodec
    from audiotok.services.engines.ray import RayOptions

EsfCodec: TypeAlias = "EncodecCodec | CachedEncodecCodec"
"""The EnCodec codecs ``esf encode`` runs: the PyTorch model, or its cached OpenVINO encoder."""

__all__ = [
    "MissingSummary",
    "ModelLoader",
    "VerifyRecord",
    "encode_file",
    "encode_paths",
    "list_missing",
    "verify_outputs",
]

log = logging.getLogger(__name__)


class MissingSummary(FrozenModel):
    """Inputs without an output, and outputs without an input."""

    missing: list[str] = Field(description="Audio files whose .ecdc does not exist (or is invalid).")
    orphans: list[str] = Field(description=".ecdc files under the output folder with no audio file.")


class VerifyRecord(FrozenModel):
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
        bandwidth, that is a :class:`~audiotok.codecs.encodec.cached.CachedEncodecCodec`
        (no PyTorch); otherwise the PyTorch model, its encoder on ``backend``.

        Raises
        ------
        UsageError
            If ``name`` is no EnCodec model or ``bandwidth`` is not one it offers.
        ModelError
            If the weights cannot be found, downloaded or loaded.
        """
        if self.model is None:
            k = encodec_cached.spec_for(self.name).check_bandwidth(self.bandwidth)
            loaded = registry.load_codec(
                self.name, checkpoint=self.path, family="encodec", device=self.device, backend=self.backend,
                parts=("encoder",), codebooks=k,
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


def _opts(
    bandwidth: float, name: str, chunk_s: float, context_s: float, batch_size: int, overwrite: bool = False
) -> encode.EncodeOptions:
    k = encodec_cached.spec_for(name).check_bandwidth(bandwidth)
    return encode.EncodeOptions(
        codebooks=k, stereo="downmix", chunk_seconds=chunk_s, context_seconds=context_s,
        batch_size=batch_size, overwrite=overwrite,
    )  # fmt: skip


def _resume(item: runner.PlanItem) -> FileRecord | None:
    """The skipped record when the ``.ecdc`` output exists and validates (invalid leftovers: encode again)."""
    return existing(item.path, item.dst)


def encode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    model: EsfCodec,
    *,
    chunk_s: float = 30.0,
    context_s: float = 1.0,
    batch_size: int = 1,
    on_progress: ProgressFn | None = None,
) -> ecdc.EcdcMeta:
    """Encode one audio file at ``model.bandwidth`` and write its ``.ecdc`` atomically.

    The file is decoded and resampled window by window, so memory stays
    bounded by ``chunk_s`` whatever the file's length. Each chunk is encoded
    with ``context_s`` seconds of audio before it (and after it, for the
    non-causal 48 kHz model), whose frames are dropped; a normalising model
    (48 kHz) gets the audio divided by one scale for the whole file, stored
    in the ``.ecdc`` file. ``on_progress`` gets ``ProgressEvent("seconds",
    advance=...)`` per encoded batch of chunks. (:func:`audiotok.services.encode.encode_file`
    with the ``ecdc`` sink.)

    Returns
    -------
    EcdcMeta
        As written: ``n_frames = ceil(N / hop)`` for ``N`` samples at the model's rate.

    Raises
    ------
    InputError
        If the audio cannot be decoded or has unusable channels.
    """
    opts = _opts(model.bandwidth, model.name, chunk_s, context_s, batch_size, overwrite=True)
    encode.encode_file(src, dst, model, sink="ecdc", opts=opts, on_progress=on_progress)
    return ecdc.read_meta(dst)


def encode_paths(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    load: ModelLoader,
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

    :func:`audiotok.services.encode.encode_paths` with ``load``'s EnCodec
    model and the ``ecdc`` sink. Valid existing outputs are skipped unless
    ``overwrite`` (resume); invalid leftovers are encoded again. ``load`` is
    called once, only when there is something to encode. ``on_record`` gets
    an :class:`~audiotok.sinks.ecdc.EcdcEncodeRecord` per file, or a failed record; the batch goes
    on. With ``engine`` (:class:`~audiotok.services.engines.ray.RayOptions`)
    the files to encode go to Ray actors, each loading the model on its own
    device: the same outputs. A dry run plans here.

    Returns
    -------
    BatchSummary
        With the model's name (``load.label``).

    Raises
    ------
    UsageError
        If two inputs map to one output (``a.wav`` and ``a.flac``: naming
        both, before any file is written), or the shard does not exist.
    """
    choice = encode.CodecChoice(
        load.name,
        checkpoint=None if load.path is None else str(load.path),
        family="encodec",
        backend=load.backend,
    )
    opts = _opts(load.bandwidth, load.name, chunk_s, context_s, batch_size, overwrite)
    summary = encode.encode_paths(
        list(inputs), outdir=outdir, codec=choice, sink="ecdc", opts=opts, device=load.device,
        recursive=recursive, suffixes=suffixes, shard=shard, dry_run=dry_run, engine=engine, loader=load,
        on_record=on_record, on_progress=on_progress,
    )  # fmt: skip
    fields = summary.model_dump(
        exclude={"files_mono", "files_cut", "model", "weights_sha256", "codec", "sink", "exact_chunking"}
    )
    return BatchSummary(**{**fields, "model": load.label})


def list_missing(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    outdir: Path | None,
    recursive: bool = False,
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
) -> MissingSummary:
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
    return MissingSummary(missing=missing, orphans=orphans)


def verify_outputs(
    paths: list[str],
    model: EsfCodec | None,
    *,
    samples: int | None = 8,
    seed: int = 0,
) -> Iterator[VerifyRecord]:
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
            yield VerifyRecord(path=p, ok=not problems, detail="; ".join(problems))
        except AudiotokError as exc:
            yield VerifyRecord(path=p, ok=False, detail=exc.reason)
