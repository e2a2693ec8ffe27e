"""DAC from its backend cache: a codec whose networks are cached OpenVINO models, without PyTorch.

When every network a command needs has a backend cache entry whose
correctness gate passed (:func:`audiotok.codecs.backends.cached_network`),
:func:`load_cached` builds a :class:`CachedDacCodec` from those entries and
the model's :class:`DacShape` stored beside them: neither ``dac``, the
checkpoint's tensors nor PyTorch itself are loaded (importing torch alone
costs about 2 s of a run's start-up). NumPy arrays go in and come out;
PyTorch tensors are accepted too, as :class:`~audiotok.codecs.base.Codec`
promises, and come back as tensors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from audiotok._types import Hz
from audiotok.codecs.plugin import Array, Capabilities, Codec, Context, Network, Part
from audiotok.codecs.weights import sha256_file
from audiotok.errors import ModelError

__all__ = ["DECODE_CONTEXT_FRAMES", "CachedDacCodec", "DacCodecBase", "DacShape", "load_cached"]

#: Frames of context each side of a decoded chunk. A 44.1 kHz decoder's output
#: frame depends on the 10 latent frames each side of it (measured by gradient
#: in ``tests/codecs/test_dac.py``); 12 leaves margin.
DECODE_CONTEXT_FRAMES = 12


@dataclass(frozen=True)
class DacShape:
    """The numbers of a DAC model the encode path needs, without its tensors.

    ``sample_rate``, ``hop_length``, ``n_codebooks`` and ``codebook_size`` are
    the model's, as :class:`~audiotok.codecs.codec.Codec` has them.

    Attributes
    ----------
    encoder_receptive_field : int
        Samples.
    encoder_reach : (int, int)
        Input samples before and after an output sample that it depends on.
    """

    sample_rate: int
    hop_length: int
    n_codebooks: int
    codebook_size: int
    encoder_receptive_field: int
    encoder_reach: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        """As a JSON object (for a backend cache entry)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DacShape:
        """From :meth:`to_json`'s object (``KeyError``, ``TypeError`` or ``ValueError`` if it is not one)."""
        reach = data["encoder_reach"]
        return cls(
            int(data["sample_rate"]), int(data["hop_length"]), int(data["n_codebooks"]),
            int(data["codebook_size"]), int(data["encoder_receptive_field"]), (int(reach[0]), int(reach[1])),
        )  # fmt: skip


#: OpenVINO converts DAC's networks (equal codes; compiled per window length, see backends);
#: ``encode`` pads with zeros to whole frames, so all-zero inputs of one frame count share codes.
#: Export layout 4: the encoder takes ``(audio, valid samples)`` (``networks.MaskedTokens``; 2: it
#: includes the RVQ, 3: Snake as a polynomial and upsampling as a convolution).
DAC_CAPS = Capabilities(
    auto_backends=("openvino",), static_shapes=True, export_layout=4, zero_pads_to_hop=True
)


class DacCodecBase(Codec):
    """What both DAC codecs share: the model's numbers from a :class:`DacShape`, and the encoder context.

    :class:`~audiotok.codecs.dac.model.DacCodec` (the PyTorch model) and
    :class:`CachedDacCodec` (its cached OpenVINO networks) derive from it.
    """

    family = "dac"
    channels = 1
    caps = DAC_CAPS
    implementation = "descript-audio-codec"
    DECODE_CONTEXT_FRAMES = DECODE_CONTEXT_FRAMES
    weights_path: Path
    weights_sha256: str
    shape: DacShape
    encoder_receptive_field: int
    encoder_reach: tuple[int, int]

    def _take(self, shape: DacShape, *, name: str, weights_path: Path, weights_sha256: str) -> None:
        self.name = name
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.shape = shape
        self.sample_rate: Hz = shape.sample_rate
        self.hop_length = shape.hop_length
        self.n_codebooks = shape.n_codebooks
        self.codebook_size = shape.codebook_size
        self.encoder_receptive_field = shape.encoder_receptive_field
        self.encoder_reach = shape.encoder_reach

    def shape_json(self) -> dict[str, Any]:
        """The :class:`DacShape`, stored with the backend entries (:func:`load_cached` needs no model)."""
        return self.shape.to_json()

    @property
    def encoder_context_frames(self) -> Context:
        """Frames of context each side of a chunk that make chunked codes equal whole-file codes.

        Every input sample a kept frame depends on (:attr:`encoder_reach`),
        rounded up to whole frames: 8 each side for DAC 44.1 kHz. Within that
        window no convolution's zero padding at the window's edge reaches a
        kept frame, so its codes are those of a whole-file run.
        """
        left, right = self.encoder_reach
        hop = self.hop_length
        return Context(math.ceil(left / hop), max(0, math.ceil((right - (hop - 1)) / hop)))


class CachedDacCodec(DacCodecBase):
    """A DAC codec whose networks are all cached OpenVINO models (the backends' ``export_module``).

    Satisfies :class:`~audiotok.codecs.base.Codec` with the numbers of a
    :class:`DacShape`. :meth:`encode` and :meth:`decode` take NumPy arrays
    or PyTorch tensors and give back the same kind; with only an ``encoder``
    :meth:`decode` raises :class:`~audiotok.errors.ModelError` (and
    :meth:`encode` with only a ``decoder``), as :meth:`network` always does.

    Attributes
    ----------
    name, weights_path, weights_sha256, shape
        As :class:`~audiotok.codecs.dac.DacCodec`'s.
    device : str
        ``"cpu"``: OpenVINO runs on the CPU.
    """

    model = None
    device = "cpu"
    caps = replace(DAC_CAPS, arrays=True)

    def __init__(
        self,
        shape: DacShape,
        runners: dict[Part, Network],
        *,
        name: str,
        weights_path: Path,
        weights_sha256: str,
    ) -> None:
        self._take(shape, name=name, weights_path=weights_path, weights_sha256=weights_sha256)
        for part, runner in runners.items():
            self.set_runner(part, runner, "openvino")

    def network(self, part: Part) -> Network:
        """Always raises :class:`~audiotok.errors.ModelError`: the PyTorch model is not loaded."""
        raise ModelError(f"the {part} needs the PyTorch model, not loaded here", self.weights_path)

    def _needs(self, part: Part) -> None:
        if part not in self.backends:
            self.network(part)

    def encode_array(self, audio: Array, n_codebooks: int) -> Array:
        """Encode ``audio : ndarray[B, 1, S]`` float32 to ``codes : ndarray[B, K, T]`` int64.

        Right-padded with zeros to a multiple of :attr:`hop_length`, as DAC's
        ``preprocess`` does, so ``T = ceil(S / hop_length)``. Raises
        ``ValueError`` as :meth:`~audiotok.codecs.base.CodecBase.check_audio`,
        :class:`~audiotok.errors.ModelError` without a cached encoder.
        """
        self.check_audio(audio, n_codebooks)
        self._needs("encoder")
        n = audio.shape[-1]
        pad = -(-n // self.hop_length) * self.hop_length - n
        x = np.asarray(audio, dtype=np.float32)
        if pad:
            x = np.pad(x, ((0, 0), (0, 0), (0, pad)))
        codes = np.asarray(self.run("encoder", x))  # type: ignore[arg-type]  # OpenVINO: arrays in and out
        return codes[:, :n_codebooks].astype(np.int64)

    def encode(self, audio: Any, n_codebooks: int) -> Any:
        """:meth:`encode_array`; a tensor ``audio : Tensor[B, 1, S]`` gives ``LongTensor[B, K, T]``."""
        if isinstance(audio, np.ndarray):
            return self.encode_array(audio, n_codebooks)
        import torch

        return torch.from_numpy(self.encode_array(_numpy(audio), n_codebooks))

    def decode(self, codes: Any) -> Any:
        """Decode ``codes : [B, K, T]`` (array or tensor) to ``audio : [B, 1, T * hop]`` float32, same kind.

        ``K <= n_codebooks``: missing codebooks contribute nothing. Raises
        ``ValueError`` as :meth:`~audiotok.codecs.base.CodecBase.check_codes`,
        :class:`~audiotok.errors.ModelError` without a cached decoder.
        """
        self.check_codes(codes)
        self._needs("decoder")
        tensor = not isinstance(codes, np.ndarray)
        c = _numpy(codes).astype(np.int64)
        missing = self.n_codebooks - c.shape[1]
        c = np.pad(c, ((0, 0), (0, missing), (0, 0)), constant_values=-1)
        audio = np.asarray(self.run("decoder", c))  # type: ignore[arg-type]
        if not tensor:
            return audio
        import torch

        return torch.from_numpy(audio)

    def decode_array(self, codes: Array) -> Array:
        """:meth:`decode` of an array, without PyTorch."""
        return np.asarray(self.decode(np.asarray(codes)))


def _numpy(x: Any) -> Array:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)


def load_cached(path: Path, name: str, parts: tuple[Part, ...]) -> CachedDacCodec | None:
    """A codec of checkpoint ``path`` running ``parts`` from their OpenVINO cache entries, else ``None``.

    Reads the checkpoint's sha256 (remembered per file, :func:`~audiotok.codecs.weights.sha256_file`)
    and, for each of ``parts``, the entry whose correctness gate passed for
    those weights (:func:`~audiotok.codecs.backends.cached_network`); neither
    ``dac``, the checkpoint's tensors nor PyTorch are loaded. ``None`` when an
    entry is missing (the caller loads the model and makes it).
    """
    from audiotok.codecs.backends import cached_network

    sha = sha256_file(path)
    runners: dict[Part, Network] = {}
    shapes = []
    for part in parts:
        found = cached_network(sha, part, family="dac", caps=CachedDacCodec.caps)
        if found is None:
            return None
        runners[part], shape = found
        try:
            shapes.append(DacShape.from_json(shape))
        except (KeyError, TypeError, ValueError, IndexError):
            return None
    if not shapes or any(s != shapes[0] for s in shapes):
        return None
    return CachedDacCodec(shapes[0], runners, name=name, weights_path=path, weights_sha256=sha)
