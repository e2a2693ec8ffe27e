"""EnCodec (``encodec`` 0.1.1) models: loading state dicts, tensor encode/decode.

Two models, both with 1024-entry codebooks (10 bits per codebook per frame):
their rates, hops and bandwidths are the table of :mod:`audiotok.codecs.encodec`.

``specs/esf-format.md`` says "48 kHz -> hop 640" (75 fps), but the released
48 kHz model (``encodec`` 0.1.1) uses the same encoder strides as the 24 kHz
one, hop 320, so its codes run at 150 fps. audiotok records the true frame
rate in the ``.ecdc`` file and sidecars follow it; ESF's 75 fps holds for the
24 kHz model.

:class:`EncodecCodec` runs a model as one stream: no 1 s segments and no
normalisation inside :meth:`~EncodecCodec.encode`. The 48 kHz model
normalises its input (:attr:`~EncodecCodec.normalizes`): the caller divides
the audio by one scale for the whole file (``esf encode`` takes the RMS of
the mono mix and stores it in the ``.ecdc`` file) and multiplies decoded
audio by it.

Chunked encoding (:mod:`audiotok.codecs.stream`) runs each chunk with
context before it (``encoder_context(seconds)``, 1 s by default) and, for the
non-causal 48 kHz model, after it. The 24 kHz model is causal, but its
encoder ends in an LSTM, so frame ``i`` then sees the same receptive field as
in a whole-file encode except for LSTM state older than the context;
``benchmarks/bench_esf.py`` and the tests measure how often chunked codes
equal a whole-file encode.

Backends (:mod:`audiotok.codecs.backends`): the 24 kHz model's encoder and
RVQ export as one network, audio -> codes (:class:`_MaskedEncodecTokens`),
which OpenVINO runs with a dynamic time axis, the same codes as eager
PyTorch; ``auto`` picks it on the CPU. The 48 kHz model (not causal, time
group norm) stays eager under ``auto``. Once that entry is cached,
:class:`~audiotok.codecs.encodec_cached.CachedEncodecCodec` runs it without
this module (no PyTorch); the architectures' numbers (:class:`EncodecSpec`)
live there too.

Weights come from ``encodec``'s own cache (``$TORCH_HOME/hub/checkpoints``,
see :mod:`audiotok.codecs.weights`) or a state-dict file; every checkpoint is
loaded with ``weights_only=True``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from encodec.model import EncodecModel
from torch import nn

from audiotok._types import Hz, Kbps
from audiotok.codecs.encodec.cached import (
    DECODE_CONTEXT_FRAMES,
    ENCODEC_CAPS,
    ENCODEC_MODELS,
    EncodecCodecBase,
    EncodecShape,
    EncodecSpec,
    spec_for,
)
from audiotok.codecs.encodec.networks import MaskedEncodecTokens
from audiotok.codecs.plugin import Located, Part
from audiotok.codecs.weights import sha256_file
from audiotok.errors import ModelError

__all__ = ["DECODE_CONTEXT_FRAMES", "ENCODEC_MODELS", "EncodecCodec", "EncodecSpec", "load", "spec_for"]


def _architecture(spec: EncodecSpec) -> EncodecModel:
    norm = "weight_norm" if spec.causal else "time_group_norm"
    model: EncodecModel = EncodecModel._get_model(
        list(spec.bandwidths),
        spec.sample_rate,
        spec.channels,
        causal=spec.causal,
        model_norm=norm,
        audio_normalize=not spec.causal,
        segment=None if spec.causal else 1.0,
        name=spec.name,
    )
    return model


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise ModelError("no such model file", path) from None
    except Exception as exc:  # corrupt or hostile checkpoints raise many types
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"not a loadable EnCodec state dict ({why})", path) from None
    if not isinstance(state, dict):
        raise ModelError("not an EnCodec state dict", path)
    return state


def _spec_of_state(state: dict[str, torch.Tensor], path: Path) -> EncodecSpec:
    """The architecture whose input channels match the state dict's first convolution."""
    for key in ("encoder.model.0.conv.conv.weight_v", "encoder.model.0.conv.conv.weight"):
        weight = state.get(key)
        if isinstance(weight, torch.Tensor) and weight.ndim == 3:
            fits = [s for s in ENCODEC_MODELS.values() if s.channels == weight.shape[1]]
            if len(fits) == 1:
                return fits[0]
    raise ModelError("cannot tell which EnCodec model this state dict is for; name the model", path)


class EncodecCodec(EncodecCodecBase):
    """A loaded EnCodec model in inference mode, with tensor-only encode and decode.

    A :class:`~audiotok.codecs.plugin.Codec`.

    Attributes
    ----------
    model : EncodecModel
    spec : EncodecSpec
    name : str
        EnCodec's name of the architecture (``encodec_24khz``), also when the
        weights come from a file: ``.ecdc`` files carry it.
    sample_rate, channels, hop_length : int
        Hz, 1 or 2, samples per frame.
    n_codebooks, codebook_size : int
        32 (24 kHz) or 16 (48 kHz); 1024.
    normalizes : bool
        Whether the model expects audio divided by its scale (48 kHz).
    bandwidth : float
        Target bandwidth in kbps for ``esf encode`` (K = :meth:`EncodecSpec.n_codebooks`).
    weights_path : Path
    weights_sha256 : str
    device : torch.device
    """

    def __init__(
        self,
        model: EncodecModel,
        *,
        spec: EncodecSpec,
        weights_path: Path,
        weights_sha256: str,
        device: torch.device,
        bandwidth: Kbps = 6.0,
    ) -> None:
        self.model = model
        self.spec = spec
        self.name = spec.name
        self.sample_rate: Hz = int(model.sample_rate)
        self.channels = int(model.channels)
        self.hop_length = int(math.prod(model.encoder.ratios))
        self.n_codebooks = int(model.quantizer.n_q)
        self.codebook_size = int(model.quantizer.bins)
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.device = device
        spec.check_bandwidth(bandwidth)
        self.bandwidth = bandwidth
        self._exports = MaskedEncodecTokens.fits(model.encoder) and all(
            isinstance(layer.project_in, nn.Identity) for layer in model.quantizer.vq.layers
        )
        # OpenVINO where the encoder exports as MaskedEncodecTokens (the 24 kHz model), else eager
        self.caps = replace(
            ENCODEC_CAPS,
            auto_backends=("openvino",) if self._exports else (),
            normalizes=bool(model.normalize),
        )

    @property
    def shape(self) -> EncodecShape | None:
        """What the exported encoder maps (stored with its backend entry); ``None``: it does not export."""
        if not self._exports:
            return None
        return EncodecShape(
            self.name, self.sample_rate, self.hop_length, self.n_codebooks, self.codebook_size,
            self.export_codebooks, self._min_samples,
        )  # fmt: skip

    def shape_json(self) -> dict[str, Any] | None:
        """:attr:`shape` as a JSON object, stored with its backend entry."""
        shape = self.shape
        return None if shape is None else shape.to_json()

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """Encode ``audio : Tensor[B, C, S]`` to ``codes : LongTensor[B, K, T]``, as :meth:`Codec.encode`.

        One stream: no segments, no normalisation. ``audio`` is float32 at
        :attr:`sample_rate`, ``C = channels``, divided by the file's scale first
        when :attr:`normalizes`; the encoder pads the last frame itself
        (reflection), so ``T = ceil(S / hop_length)``. ``codes`` are on
        :attr:`device`. Raises ``ValueError`` as
        :meth:`~audiotok.codecs.base.CodecBase.check_audio`.
        """
        self.check_audio(audio, n_codebooks)
        x = audio.to(self.device, torch.float32)
        if "encoder" in self.backends and self._exports and x.shape[-1] > self._min_samples:
            given = torch.as_tensor(self.run("encoder", x))  # a backend runs encoder and RVQ
            if given.shape[1] >= n_codebooks:
                return given[:, :n_codebooks].long().to(self.device)
        emb = self.network("encoder")(x)
        with torch.autocast(self.device.type, enabled=False):  # RVQ in fp32 even under --precision bf16
            codes: torch.Tensor = self.model.quantizer.vq.encode(emb.float(), n_q=n_codebooks)  # [K, B, T]
        return codes.transpose(0, 1)

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode ``codes : LongTensor[B, K, T]`` to ``audio : Tensor[B, C, T * hop]``, see Codec.decode.

        Not multiplied by any scale. ``audio`` is float32 at :attr:`sample_rate`,
        on :attr:`device`. Raises ``ValueError`` as
        :meth:`~audiotok.codecs.base.CodecBase.check_codes`.
        """
        self.check_codes(codes)
        emb = self.model.quantizer.decode(codes.to(self.device, torch.long).transpose(0, 1))
        return self.run("decoder", emb)

    def network(self, part: Part) -> torch.nn.Module:
        """EnCodec's ``encoder`` or ``decoder`` module (SEANet)."""
        module: torch.nn.Module = getattr(self.model, part)
        return module

    @property
    def _min_samples(self) -> int:
        """Inputs of at most this many samples run eagerly (see :class:`MaskedEncodecTokens`)."""
        return MaskedEncodecTokens.min_samples(self.model.encoder) if self._exports else 0

    def export_module(self, part: Part) -> torch.nn.Module:
        """For the backends: the 24 kHz encoder and RVQ as one network (:class:`MaskedEncodecTokens`).

        ``forward(audio, valid)``: ``audio : Tensor[1, 1, S]`` -> ``codes :
        IntTensor[1, export_codebooks, ceil(S / hop)]``. Other networks, and
        the 48 kHz encoder: :meth:`network`.
        """
        if part == "encoder" and self._exports:
            return MaskedEncodecTokens(self.model, self.export_codebooks)
        return self.network(part)


def load(located: Located, device: torch.device, fast: bool) -> EncodecCodec:
    """Load an EnCodec state dict (the EnCodec plugin's loader).

    Parameters
    ----------
    located : Located
        ``path`` a state-dict file (``encodec_24khz-d7cc33bc.th``); its
        ``entry`` names the architecture, else it is told from the state dict
        (1 input channel: 24 kHz, 2: 48 kHz). The codec is named after its
        architecture (``.ecdc`` files carry that name), whatever ``located.name``.
    device : torch.device
    fast : bool
        Unused (no speed-ups beyond the model's own).

    Raises
    ------
    ModelError
        If the file is missing, not a state dict, or does not fit the architecture.
    """
    path, entry = located.path, located.entry
    state = _load_state(path)
    spec = ENCODEC_MODELS[entry.short_name] if entry is not None else _spec_of_state(state, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's weight_norm deprecation, not ours
        model = _architecture(spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"weights do not fit {spec.name} ({str(exc).splitlines()[0][:200]})", path) from None
    model.eval().to(device)
    return EncodecCodec(model, spec=spec, weights_path=path, weights_sha256=sha256_file(path), device=device)
