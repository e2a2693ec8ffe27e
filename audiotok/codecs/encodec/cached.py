"""EnCodec without PyTorch: the architectures' numbers, and a codec on a cached OpenVINO encoder.

:class:`EncodecSpec` (:data:`ENCODEC_MODELS`) holds what a released EnCodec
architecture is; :class:`EncodecCodecBase` what both EnCodec codecs share (the
bandwidth, the encoder context, the backends' entry per codebook count).
:class:`~audiotok.codecs.encodec.model.EncodecCodec` runs the PyTorch model;
:class:`CachedEncodecCodec` runs the 24 kHz encoder and RVQ from its OpenVINO
backend cache entry (:func:`load_cached`) without importing torch (about
2.7 s of a run's start-up, more than encoding a 20 s file). What that entry
cannot run (inputs of at most :attr:`EncodecShape.min_samples` samples, more
codebooks than it gives, decoding) goes to the PyTorch model, loaded on
first need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiotok._types import FramesPerSecond, Hz, Kbps, Seconds
from audiotok.codecs.plugin import Array, Capabilities, Codec, Context, Network, Part
from audiotok.codecs.weights import sha256_file
from audiotok.errors import UsageError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DECODE_CONTEXT_FRAMES",
    "ENCODEC_MODELS",
    "CachedEncodecCodec",
    "EncodecCodecBase",
    "EncodecShape",
    "EncodecSpec",
    "load_cached",
    "spec_for",
]

#: Frames of context each side of a decoded chunk (1 s at 75 fps).
DECODE_CONTEXT_FRAMES = 75


@dataclass(frozen=True)
class EncodecSpec:
    """Fixed properties of a released EnCodec architecture.

    ``sample_rate``, ``channels`` (2: the 48 kHz model) and ``hop_length`` are
    as :class:`~audiotok.codecs.codec.Codec` has them.

    Attributes
    ----------
    name : str
        EnCodec's own name (``encodec_24khz``), written into ``.ecdc`` files.
    bandwidths : tuple of float
        Target bandwidths offered, kbps.
    causal : bool
        Causal convolutions (24 kHz); the 48 kHz model is not causal.
    """

    name: str
    sample_rate: Hz
    channels: int
    hop_length: int
    bandwidths: tuple[Kbps, ...]
    causal: bool

    @property
    def fps(self) -> FramesPerSecond:
        """Frame rate in frames per second (75 or 150)."""
        return self.sample_rate / self.hop_length

    def n_codebooks(self, bandwidth: Kbps) -> int:
        """Codebooks used at ``bandwidth`` kbps (10 bits per codebook per frame)."""
        return round(bandwidth * 1000 / (self.fps * 10))

    def bandwidth_for(self, k: int) -> Kbps:
        """The bandwidth (kbps) at which the model uses ``k`` codebooks.

        Raises
        ------
        UsageError
            If no bandwidth the model offers uses ``k`` codebooks.
        """
        counts = {self.n_codebooks(b): b for b in self.bandwidths}
        if k not in counts:
            raise UsageError(
                f"{self.name} encodes {', '.join(map(str, counts))} codebooks "
                f"(bandwidths {list(self.bandwidths)} kbps), not {k}",
                param="codebooks",
            )
        return k * self.fps * 10 / 1000

    def check_bandwidth(self, bandwidth: Kbps) -> int:
        """Codebooks at ``bandwidth`` kbps, which the model must offer.

        Raises
        ------
        UsageError
            If ``bandwidth`` is not one of :attr:`bandwidths`.
        """
        if bandwidth not in self.bandwidths:
            raise UsageError(f"{self.name} offers bandwidths {list(self.bandwidths)} kbps, not {bandwidth}")
        return self.n_codebooks(bandwidth)


ENCODEC_MODELS: dict[str, EncodecSpec] = {
    "encodec_24khz": EncodecSpec("encodec_24khz", 24_000, 1, 320, (1.5, 3.0, 6.0, 12.0, 24.0), True),
    "encodec_48khz": EncodecSpec("encodec_48khz", 48_000, 2, 320, (3.0, 6.0, 12.0, 24.0), False),
}
"""Architectures by EnCodec's own name (the registry's short name)."""


def spec_for(name: str) -> EncodecSpec:
    """The architecture of a registered EnCodec model (``encodec-24khz`` or ``encodec_24khz``).

    Raises
    ------
    UsageError
        If ``name`` is no EnCodec model of the registry.
    """
    from audiotok.codecs import registry

    return ENCODEC_MODELS[registry.get(name, "encodec").short_name]


@dataclass(frozen=True)
class EncodecShape:
    """What a cached EnCodec encoder entry maps, stored beside it (``gate.json``).

    Attributes
    ----------
    name : str
        The architecture (``encodec_24khz``).
    sample_rate : int
        Hz.
    hop_length : int
        Samples per frame.
    n_codebooks, codebook_size : int
        The model's RVQ codebooks and entries per codebook.
    export_codebooks : int
        Codebooks the entry gives (those of one bandwidth).
    min_samples : int
        Inputs of at most this many samples run on the PyTorch model.
    """

    name: str
    sample_rate: int
    hop_length: int
    n_codebooks: int
    codebook_size: int
    export_codebooks: int
    min_samples: int

    def to_json(self) -> dict[str, Any]:
        """As a JSON object (for a backend cache entry)."""
        return {"family": "encodec", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncodecShape:
        """From :meth:`to_json`'s object (``KeyError``, ``TypeError`` or ``ValueError`` if it is not one)."""
        if data["family"] != "encodec":
            raise ValueError("not an EnCodec entry")
        return cls(
            str(data["name"]), int(data["sample_rate"]), int(data["hop_length"]), int(data["n_codebooks"]),
            int(data["codebook_size"]), int(data["export_codebooks"]), int(data["min_samples"]),
        )  # fmt: skip


#: What EnCodec 24 kHz can do. OpenVINO runs its encoder as fast with a dynamic time axis as compiled
#: per length (no Snake to fuse), so windows of any length run on one model (``static_shapes``
#: False; its entries are per codebook count, :meth:`EncodecCodecBase.export_tag`). Its encoder ends
#: in an LSTM, whose state reaches back past any context: chunked codes only nearly equal a
#: whole-file encode (``exact_chunking`` False; ``benchmarks/bench_esf.py`` measures how nearly).
#: The 48 kHz model (not causal, time group norm, normalised input) stays eager.
ENCODEC_CAPS = Capabilities(
    auto_backends=("openvino",),
    auto_parts=("encoder",),
    static_shapes=False,
    exact_chunking=False,
    context_seconds=True,
)


class EncodecCodecBase(Codec):
    """What both EnCodec codecs share: the bandwidth, the encoder context and the backend entry's tag."""

    family = "encodec"
    caps = ENCODEC_CAPS
    implementation = "encodec"
    DECODE_CONTEXT_FRAMES = DECODE_CONTEXT_FRAMES
    spec: EncodecSpec
    bandwidth: Kbps
    codebook_size: int
    weights_path: Path
    weights_sha256: str
    _exports: bool

    @property
    def normalizes(self) -> bool:
        """Whether the model expects audio divided by one scale per file (48 kHz; ``caps.normalizes``)."""
        return self.caps.normalizes

    def select_codebooks(self, k: int) -> None:
        """Encode at the bandwidth that uses ``k`` codebooks (:meth:`EncodecSpec.bandwidth_for`).

        Raises
        ------
        UsageError
            If no bandwidth the model offers uses ``k`` codebooks.
        """
        self.bandwidth = self.spec.bandwidth_for(k)

    @property
    def export_codebooks(self) -> int:
        """Codebooks the exported encoder gives: those of :attr:`bandwidth` (an entry per count)."""
        return self.spec.n_codebooks(self.bandwidth)

    def export_tag(self, part: Part) -> str:
        """What besides the weights keys a backend's ``part``: ``q8`` for an encoder giving 8 codebooks."""
        return f"q{self.export_codebooks}" if part == "encoder" and self._exports else ""

    def encoder_context(self, seconds: Seconds | None = None) -> Context:
        """``round(seconds * fps)`` frames before a chunk, as many after it unless causal (default 1 s)."""
        frames = round((1.0 if seconds is None else seconds) * self.frame_rate)
        return Context(frames, 0 if self.spec.causal else frames)

    @property
    def encoder_context_frames(self) -> Context:
        """1 s of context: :meth:`encoder_context` ``(1.0)``."""
        return self.encoder_context(1.0)


class CachedEncodecCodec(EncodecCodecBase):
    """EnCodec 24 kHz whose encoder and RVQ run from a cached OpenVINO model, without PyTorch.

    A :class:`~audiotok.codecs.plugin.Codec`. :meth:`encode_array`
    takes and gives NumPy arrays; :meth:`encode` and :meth:`decode` take
    arrays or tensors and give back the same kind. The codes equal those of
    :class:`~audiotok.codecs.encodec.model.EncodecCodec` on the same entry.

    Parameters
    ----------
    shape : EncodecShape
    runner : Network
        The entry's compiled model: ``(audio [1, 1, S], valid)`` -> ``codes [1, export_codebooks, T]``.
    weights_path : Path
    weights_sha256 : str
    bandwidth : float
        kbps; gives ``shape.export_codebooks`` codebooks.
    eager : callable
        Loads the PyTorch codec (same weights and bandwidth, eager backend),
        called once, on first need.
    """

    model = None
    device = "cpu"
    channels = 1
    caps = replace(ENCODEC_CAPS, arrays=True)
    _exports = True

    def __init__(
        self,
        shape: EncodecShape,
        runner: Network,
        *,
        weights_path: Path,
        weights_sha256: str,
        bandwidth: Kbps,
        eager: Callable[[], Codec],
    ) -> None:
        self.shape = shape
        self.spec = ENCODEC_MODELS[shape.name]
        self.name = shape.name
        self.sample_rate: Hz = shape.sample_rate
        self.hop_length = shape.hop_length
        self.n_codebooks = shape.n_codebooks
        self.codebook_size = shape.codebook_size
        self.bandwidth = bandwidth
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self._load_eager = eager
        self._eager: Codec | None = None
        self.set_runner("encoder", runner, "openvino")

    def eager(self) -> Any:
        """The PyTorch codec (:class:`~audiotok.codecs.encodec.model.EncodecCodec`), loaded on first call."""
        if self._eager is None:
            self._eager = self._load_eager()
        return self._eager

    def network(self, part: Part) -> Network:
        """The PyTorch model's ``part`` (loads it)."""
        return self.eager().network(part)  # type: ignore[no-any-return]

    def encode_array(self, audio: Array, n_codebooks: int) -> Array:
        """Encode ``audio : ndarray[B, 1, S]`` float32 to ``codes : ndarray[B, K, T]`` int64.

        ``T = ceil(S / hop_length)`` (EnCodec pads the last frame by
        reflection). Inputs of at most :attr:`EncodecShape.min_samples`
        samples, and more codebooks than the entry gives, run on the PyTorch
        model. Raises ``ValueError`` as :meth:`~audiotok.codecs.base.CodecBase.check_audio`.
        """
        self.check_audio(audio, n_codebooks)
        x = np.ascontiguousarray(audio, dtype=np.float32)
        if x.shape[-1] > self.shape.min_samples and n_codebooks <= self.shape.export_codebooks:
            codes = np.asarray(self.run("encoder", x))  # type: ignore[arg-type]  # OpenVINO: arrays in and out
            return codes[:, :n_codebooks].astype(np.int64)
        import torch

        return np.asarray(self.eager().encode(torch.from_numpy(x), n_codebooks).cpu().numpy())

    def encode(self, audio: Any, n_codebooks: int) -> Any:
        """:meth:`encode_array`; a tensor ``audio : Tensor[B, 1, S]`` gives ``LongTensor[B, K, T]``."""
        if isinstance(audio, np.ndarray):
            return self.encode_array(audio, n_codebooks)
        import torch

        return torch.from_numpy(self.encode_array(audio.detach().cpu().numpy(), n_codebooks))

    def shape_json(self) -> dict[str, Any]:
        """The :class:`EncodecShape` of the entry it runs."""
        return self.shape.to_json()

    def select_codebooks(self, k: int) -> None:
        """Check that ``k`` is its entry's codebook count (its bandwidth is fixed).

        Raises
        ------
        UsageError
            If ``k`` needs another bandwidth.
        """
        if self.spec.bandwidth_for(k) != self.bandwidth:
            raise UsageError(f"this codec encodes at {self.bandwidth} kbps, not at that of {k} codebooks")

    def decode(self, codes: Any) -> Any:
        """Decode ``codes : [B, K, T]`` on the PyTorch model (loads it), as its ``decode``; same kind out."""
        import torch

        tensor = not isinstance(codes, np.ndarray)
        audio: torch.Tensor = self.eager().decode(codes if tensor else torch.from_numpy(codes))
        return audio if tensor else audio.cpu().numpy()


def load_cached(
    path: Path, spec: EncodecSpec, bandwidth: Kbps, eager: Callable[[], Codec]
) -> CachedEncodecCodec | None:
    """The codec of state-dict ``path`` on its cached OpenVINO encoder at ``bandwidth``, else ``None``.

    Reads the file's sha256 (remembered per file) and the entry whose
    correctness gate passed for those weights and that codebook count
    (:func:`~audiotok.codecs.backends.cached_network`); neither ``encodec``,
    the state dict nor PyTorch are loaded. ``None`` when there is no such
    entry or it is for another architecture (the caller loads the model).
    """
    from audiotok.codecs.backends import cached_network

    k = spec.n_codebooks(bandwidth)
    sha = sha256_file(path)
    found = cached_network(sha, "encoder", family="encodec", caps=ENCODEC_CAPS, tag=f"q{k}")
    if found is None:
        return None
    runner, data = found
    try:
        shape = EncodecShape.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None
    if shape.name != spec.name or shape.export_codebooks != k or shape.sample_rate != spec.sample_rate:
        return None
    return CachedEncodecCodec(
        shape, runner, weights_path=path, weights_sha256=sha, bandwidth=bandwidth, eager=eager
    )
