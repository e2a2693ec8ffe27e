"""``audiotok decode``: token files of any sink back to PCM16 WAV, through the codec that made them.

Which codec made a file is read, in this order, from ``model`` (the user's
word), the identity manifest above the file (``tokens.json``,
:mod:`audiotok.sinks.manifest`), the model the file itself names (``.ecdc``),
and last, for token files made elsewhere, guessed from the file's frame rate
and codebook count among the registry's models (:func:`infer_model`).

Two coded channels (NPQ2) decode Mid and Side and write stereo with
``L = M + S``, ``R = M - S`` (specs/npq-tools.md); a stereo codec's codes
decode to its two channels; a per-file input scale (EnCodec 48 kHz) multiplies
the audio back. The output has ``T * output_hop_length`` samples at the
codec's output rate (its input rate, but 24 kHz for NeuCodec), or that length
resampled to ``sample_rate``. Codes are memory-mapped where
the format allows and decoded in chunks, and the WAV is written piece by
piece (atomically), so memory does not grow with length.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from audiotok._types import HasDuration
from audiotok.audio import from_mid_side
from audiotok.audio.stream import ChunkSource, ResampledSource, wav_writer
from audiotok.codecs import registry
from audiotok.codecs.plugin import Codec
from audiotok.codecs.stream import decode_codes
from audiotok.errors import FormatError, UsageError
from audiotok.formats import npq
from audiotok.paths import mirror_path
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import runner
from audiotok.sinks import manifest
from audiotok.sinks.base import StoredTokens, sink_for_path, sinks

if TYPE_CHECKING:
    import torch

    from audiotok.services.engines.ray import RayOptions

__all__ = [
    "DecodeRecord",
    "Decoders",
    "RemoteDecode",
    "decode_file",
    "decode_paths",
    "infer_model",
    "read_tokens",
    "which_model",
]

_WRITE_BLOCK = 1 << 16


class DecodeRecord(FileRecord):
    """One decoded token file (one JSON object per file)."""

    channels: int = Field(description="1, or 2 (Mid/Side decoded to L/R, or a stereo codec).")
    sample_rate: int = Field(description="Sample rate of the WAV, Hz.")
    samples: int = Field(description="Samples per channel written.")
    duration_s: float = Field(description="Seconds of audio written.")
    model: str
    weights_sha256: str
    wall_s: float = Field(description="Wall time, seconds.")


def read_tokens(path: Path) -> StoredTokens:
    """A token file's codes, read by the sink whose suffix it has.

    Raises
    ------
    FormatError
        If no sink reads files with its suffix, or the file is invalid.
    """
    sink = sink_for_path(path)
    if sink is None:
        raise FormatError(f"no token format has the suffix {path.suffix!r}", path)
    return sink.read(path)


def infer_model(
    frame_rate: float, k: int, path: str | os.PathLike[str] | None = None, family: str = "dac"
) -> str:
    """The known model of ``family`` whose frame rate is ``frame_rate`` and that has ``k`` codebooks.

    For token files made elsewhere (no manifest): 86.13 fps → ``44khz``
    (``44khz-16kbps`` when K > 9), 75 → ``24khz``, 50 → ``16khz``.

    Raises
    ------
    FormatError
        If no known model fits; pass ``model`` then.
    """
    for entry in registry.entries(family):
        if abs(entry.frame_rate - frame_rate) < 1e-3 and k <= entry.n_codebooks:
            return entry.short_name
    raise FormatError(
        f"no known {registry.plugin(family).label.split(' ', 1)[1]} has {frame_rate:.4f} fps and {k} "
        "codebooks; pass `model`",
        path,
        param="model",
    )


def which_model(path: Path, stored: StoredTokens, family: str | None) -> tuple[str, str | None]:
    """The model that made ``path`` (a name to load) and the weights' sha256 its manifest names, if any.

    Raises
    ------
    FormatError
        If the manifest is unreadable, or nothing tells the model.
    """
    found = manifest.find(path)
    if found is not None:
        entry = registry.lookup(found.info.codec)
        return (entry.short_name if entry is not None else found.info.codec), found.info.weights_sha256
    if stored.model is not None and registry.lookup(stored.model) is not None:
        return stored.model, None
    k = max(stored.codes.groups)
    return infer_model(stored.frame_rate, k, path, family or "dac"), None


def decode_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    codec: Codec,
    *,
    sample_rate: int | None = None,
    chunk_seconds: float = 3.0,
    stored: StoredTokens | None = None,
    on_progress: ProgressFn | None = None,
) -> DecodeRecord:
    """Decode one token file with ``codec`` to a PCM16 WAV at ``dst`` (atomically).

    ``chunk_seconds`` of codes are decoded at a time (with the codec's decoder
    context on both sides). With DAC 44.1 kHz on 2 CPU cores and the OpenVINO
    backend compiled per window length, a 20 s file took 29.6 s and 1.83 GB
    peak with 5 s, 30.9 s and 1.63 GB with 3 s, 32.9 s and 1.53 GB with 2 s
    (``python -m dac decode``: 1.72 GB).

    Raises
    ------
    FormatError
        If the file is invalid, its frame rate is not the codec's, it has more
        codebooks than the codec, or a token is outside the vocabulary.
    """
    t0 = time.perf_counter()
    src = Path(src)
    stored = stored or read_tokens(src)
    if abs(stored.frame_rate - codec.frame_rate) > 1e-3:
        raise FormatError(
            f"{stored.frame_rate:.4f} fps does not match model {codec.name} ({codec.frame_rate:.4f} fps)", src
        )
    codes = stored.codes
    groups = codes.groups if codes.ragged else _levels(codes.groups, codec, src)  # rows count columns
    if max(groups) > codec.n_codebooks:
        raise FormatError(f"{max(groups)} codebooks but model {codec.name} has {codec.n_codebooks}", src)
    tokens = stored.codes.rows(codec.layout)
    vocab = stored.vocab_sizes or tuple(v for k in groups if k for v in codec.layout.first(k).row_vocab_sizes)
    npq.check_tokens(tokens, tuple(min(v, codec.codebook_size) for v in vocab), src)
    chunk_frames = max(1, round(chunk_seconds * codec.frame_rate))
    n_samples = tokens.shape[0] * codec.output_hop_length
    mid_side = len(groups) == 2
    channels = 2 if mid_side else codec.channels
    scale = stored.codes.extras.get("scale")

    def pieces() -> Iterator[np.ndarray[Any, np.dtype[np.float32]]]:
        for piece in decode_codes(tokens, codec, groups, chunk_frames=chunk_frames):
            emit(
                on_progress,
                ProgressEvent("seconds", advance=piece.shape[1] / codec.output_sample_rate, item=str(src)),
            )
            if scale is not None:
                piece = (piece * np.float32(scale)).astype(np.float32, copy=False)
            yield from_mid_side(piece) if mid_side else piece

    rate = sample_rate or codec.output_sample_rate
    stream = ResampledSource(ChunkSource(pieces(), channels, codec.output_sample_rate, n_samples), rate)
    with wav_writer(dst, rate, channels) as out:
        for start in range(0, stream.length, _WRITE_BLOCK):
            out.write(stream.read(start, start + _WRITE_BLOCK).T)
    return DecodeRecord(
        input=str(src), output=str(dst), status="written", channels=channels, sample_rate=rate,
        samples=stream.length, duration_s=stream.length / rate, model=codec.name,
        weights_sha256=codec.weights_sha256, wall_s=time.perf_counter() - t0,
    )  # fmt: skip


def _levels(columns: tuple[int, ...], codec: Codec, src: Path) -> tuple[int, ...]:
    """Codebooks per group of a file whose groups count row columns (``columns``), for ``codec``'s layout.

    Raises
    ------
    FormatError
        If a group's width is no count of the codec's codebooks (rows of another layout).
    """
    if codec.layout.rectangular:
        return columns
    widths = {codec.columns(k): k for k in range(codec.n_codebooks + 1)}
    for width in columns:
        if width not in widths:
            raise FormatError(f"rows of {width} codes fit no codebook count of model {codec.name}", src)
    return tuple(widths[w] for w in columns)


class Decoders:
    """The codecs of one decode run (or one Ray actor), loaded once each, by the name they were asked by.

    Parameters
    ----------
    model : str, optional
        Decode every file with this model (no manifest, no guess).
    family : str, optional
        Refuse models of another family (the ``npq decode`` preset: DAC).
    device : torch.device, optional
    backend : str
        What runs the decoders.
    """

    def __init__(
        self, model: str | None, *, family: str | None, device: torch.device | str | None, backend: str
    ) -> None:
        self.model, self.family, self.device, self.backend = model, family, device, backend
        self.codecs: dict[str, Codec] = {}

    def get(self, name: str) -> Codec:
        """The codec ``name``, loaded on first use (its decoder on the backend)."""
        if name not in self.codecs:
            self.codecs[name] = registry.load_codec(
                name, family=self.family, device=self.device, backend=self.backend, parts=("decoder",)
            )
        return self.codecs[name]

    def for_file(self, path: Path, stored: StoredTokens) -> Codec:
        """The codec that decodes ``path``: ``model``, else the one its manifest or header names.

        Raises
        ------
        FormatError
            If the manifest names other weights than those found for its codec,
            or nothing tells the model.
        """
        if self.model is not None:
            return self.get(self.model)
        name, sha = which_model(path, stored, self.family)
        codec = self.get(name)
        if sha is not None and codec.weights_sha256 and sha != codec.weights_sha256:
            raise FormatError(
                f"made with {name} weights of sha256 {sha[:12]}…, but those found have "
                f"{codec.weights_sha256[:12]}…; pass `model` with the right checkpoint",
                path,
                param="model",
            )
        return codec


def decode_paths(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    out: Path | None = None,
    outdir: Path | None = None,
    model: str | None = None,
    family: str | None = None,
    suffixes: tuple[str, ...] | None = None,
    device: torch.device | str | None = None,
    sample_rate: int | None = None,
    recursive: bool = False,
    shard: tuple[int, int] = (0, 1),
    backend: str = "auto",
    engine: RayOptions | None = None,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Decode every token file named by ``inputs`` (``.npq``, ``.ecdc``: every sink that reads back).

    Each file's codec is found as the module docstring says; models are
    loaded once and reused. ``on_record`` gets a :class:`DecodeRecord` per
    file, or a failed record; the batch goes on. With ``engine`` the files
    are decoded on Ray actors (each loading the models it needs on its own
    device; ``device`` is not used), one file a call, with the same WAVs.

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

        ray = RayEngine(engine, RemoteDecode(model, family, backend, sample_rate))  # checks Ray is installed
    if out is not None and outdir is not None:
        raise UsageError("`out` and `outdir` exclude each other", param=("out", "outdir"))
    if suffixes is None:
        suffixes = tuple(s.suffix for s in sinks().values() if s.suffix)
    files, unmatched = runner.expand(inputs, suffixes=suffixes, recursive=recursive)
    if out is not None and len(files) != 1:
        raise UsageError(
            f"`out` takes exactly one input file, got {len(files)}; use `outdir`", param=("out", "outdir")
        )
    batch = runner.plan_files(
        files, unmatched, shard=shard, probe=_head,
        output=(lambda _: out) if out is not None else (lambda f: mirror_path(f, outdir, ".wav")),
    )  # fmt: skip
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
    decoders = Decoders(model, family=family, device=device, backend=backend)
    if model is not None:
        decoders.get(model)  # a named model that cannot load stops the run before any file

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> DecodeRecord:
        stored = read_tokens(item.path)
        codec = decoders.for_file(item.path, stored)
        return decode_file(
            item.path, item.dst, codec, sample_rate=sample_rate, stored=stored, on_progress=on_progress
        )

    summary = runner.run(batch, work, on_record=on_record, on_progress=on_progress)
    codecs = decoders.codecs
    only = next(iter(codecs.values())) if len(codecs) == 1 else None
    return runner.finish(
        summary, BatchSummary, since=t0, model=",".join(sorted(codecs)) or None,
        weights_sha256=None if only is None else only.weights_sha256,
        backend=",".join(sorted({c.backend_of("decoder") for c in codecs.values()})) or None,
    )  # fmt: skip


def _head(path: Path) -> HasDuration | None:
    """A token file's header (for the progress total), or ``None`` (decoding then says why)."""
    sink = sink_for_path(path)
    return None if sink is None else sink.head(path)


def _unreachable(item: runner.PlanItem, on_progress: ProgressFn | None) -> FileRecord:  # pragma: no cover
    raise TypeError(f"{item.path}: decode plans have no resume; every file goes to the engine")


@dataclass(frozen=True)
class RemoteDecode:
    """``decode`` in a Ray actor (:class:`~audiotok.services.engines.ray.RemoteJob`): one file a call."""

    model: str | None
    family: str | None
    backend: str
    sample_rate: int | None

    def setup(self, device: torch.device) -> Decoders:
        """This actor's decoders (a named model is loaded now: one that cannot load stops the run)."""
        decoders = Decoders(self.model, family=self.family, device=device, backend=self.backend)
        if self.model is not None:
            decoders.get(self.model)
        return decoders

    def work(self, decoders: Decoders, item: runner.PlanItem) -> DecodeRecord:
        """One file, as locally."""
        stored = read_tokens(item.path)
        codec = decoders.for_file(item.path, stored)
        return decode_file(item.path, item.dst, codec, sample_rate=self.sample_rate, stored=stored)

    def describe(self, decoders: Decoders) -> dict[str, Any]:
        """The models loaded (name -> weights' sha256) and their decoders' backends."""
        codecs = decoders.codecs
        return {
            "models": {name: c.weights_sha256 for name, c in codecs.items()},
            "backends": sorted({c.backend_of("decoder") for c in codecs.values()}),
        }
