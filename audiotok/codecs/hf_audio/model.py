"""The PyTorch side of the global-context codecs: one adapter over transformers' audio tokenizer classes.

:class:`TransformersAudioCodec` runs a transformers model and its feature
extractor the way transformers documents them (``inputs =
feature_extractor(audio, sampling_rate=..., return_tensors="pt")``, then
``model.encode(...)``), on rows of one length (no padding between rows, so a
row's codes never depend on its batch), and fits the output to the
pipeline's contract ``T = ceil(S / hop)``:

* XCodec2's feature extractor pads every input by one sample and then to
  whole frames, so an input of whole frames gives one frame more (covering
  only the padding): it is dropped. Otherwise ``ceil(S / hop)`` frames.
* NeuCodec's port gives ``floor(S / hop)`` frames (its semantic branch drops
  a frame): an input that is not whole frames is zero-padded to whole frames
  first (what its feature extractor does to the acoustic input anyway), so the
  codes are ``NeuCodecModel``'s codes of the padded samples.
* X-Codec and Higgs (``DacFeatureExtractor``: zeros to whole frames) give ``ceil(S / hop)``.

The per-model parts (:class:`Xcodec2Codec`, :class:`NeuCodecCodec`,
:class:`XcodecCodec`, :class:`HiggsAudioCodec`) say which class loads, where
its numbers are in its config, and which feature-extractor outputs its
``encode`` takes. This module holds tensors only: no audio files are read or written here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from audiotok.codecs._hf import from_pretrained
from audiotok.codecs.codec import Array, Capabilities, Codec, Context, Part
from audiotok.codecs.plugin import Located
from audiotok.codecs.weights import sha256_file

__all__ = [
    "HiggsAudioCodec",
    "NeuCodecCodec",
    "TransformersAudioCodec",
    "Xcodec2Codec",
    "XcodecCodec",
    "load",
]


class TransformersAudioCodec(Codec):
    """A transformers audio tokenizer with a global receptive field, in inference mode.

    Mono; every number is read from the model's config. A subclass (one per
    model class) sets :attr:`family`, :attr:`what`, :meth:`model_class` and
    :meth:`read_config`, and may override :meth:`features` and :meth:`run_encoder`.

    Attributes
    ----------
    model : transformers.PreTrainedModel
    extractor : transformers.FeatureExtractionMixin
        The repo's feature extractor (``preprocessor_config.json``).
    """

    #: Not ``exact_chunking``: every frame depends on the whole input, so a file is one window
    #: (:class:`~audiotok.codecs.segments.SegmentEncoder`) and only a cut file's codes differ.
    caps = Capabilities(static_shapes=False, exact_chunking=False, global_context=True)
    #: Decoded chunks get 2 s of codes each side (the decoders attend to the whole input too).
    DECODE_CONTEXT_SECONDS = 2.0
    implementation = "transformers"
    #: The model in messages.
    what: ClassVar[str] = "a transformers audio tokenizer"
    #: Zero-pad inputs to whole frames before the feature extractor (NeuCodec).
    pad_to_hop: ClassVar[bool] = False

    def __init__(
        self,
        model: Any,
        extractor: Any,
        *,
        name: str,
        weights_path: Any,
        weights_sha256: str,
        device: torch.device,
    ) -> None:
        self.model = model
        self.extractor = extractor
        self.name = name
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.device = device
        self.channels = 1
        facts = self.read_config(model.config)
        self.sample_rate, self.hop_length, self.n_codebooks, self.codebook_size, self._output_rate = facts
        self.DECODE_CONTEXT_FRAMES = max(1, round(self.DECODE_CONTEXT_SECONDS * self.frame_rate))

    # -- per model -----------------------------------------------------------------------------------------

    @staticmethod
    def model_class() -> Any:
        """transformers' model class (imported here: it needs a recent transformers)."""
        raise NotImplementedError

    @staticmethod
    def read_config(cfg: Any) -> tuple[int, int, int, int, int]:
        """``(sample_rate, hop_length, n_codebooks, codebook_size, output_sample_rate)`` from the config."""
        raise NotImplementedError

    def features(self, rows: list[Array]) -> dict[str, Any]:
        """The feature extractor's outputs for ``rows`` (1-D float32, one length), for ``encode``."""
        out: dict[str, Any] = self.extractor(
            audio=rows, sampling_rate=self.sample_rate, return_tensors="pt"
        ).data
        return out

    def run_encoder(self, inputs: dict[str, Any]) -> torch.Tensor:
        """transformers' ``encode`` of ``inputs``: ``audio_codes : LongTensor[B, K, T']`` (all codebooks)."""
        codes: torch.Tensor = self.model.encode(**inputs).audio_codes
        return codes

    # -- the Codec interface -----------------------------------------------------------------------------

    @property
    def output_sample_rate(self) -> int:
        """Hz of the decoded audio (NeuCodec: 24000)."""
        return self._output_rate

    @property
    def encoder_context_frames(self) -> Context:
        """None: the receptive field is the whole input (a file is one window, ``caps.global_context``)."""
        return Context(0, 0)

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """Encode rows of one length, each as transformers encodes one whole file.

        Parameters
        ----------
        audio : Tensor[B, 1, S]
            float32 at :attr:`sample_rate`.
        n_codebooks : int
            K, ``1 <= K <= n_codebooks`` (the first K of the model's).

        Returns
        -------
        codes : LongTensor[B, K, ceil(S / hop_length)]
            On :attr:`device`; each row's codes are ``model.encode`` of that
            row alone (module docstring for the frame count).

        Raises
        ------
        ValueError
            As :meth:`~audiotok.codecs.codec.Codec.check_audio`.
        """
        return self._encode(audio.detach().float().cpu().numpy(), n_codebooks)

    def encode_array(self, audio: Array, n_codebooks: int) -> Array:
        """:meth:`encode` on arrays (the feature extractor takes NumPy arrays: no trip to the device)."""
        with torch.inference_mode():
            return np.asarray(self._encode(audio, n_codebooks).cpu().numpy())

    def _encode(self, audio: Array, n_codebooks: int) -> torch.Tensor:
        self.check_audio(audio, n_codebooks)
        samples = audio.shape[-1]
        frames = -(-samples // self.hop_length)
        rows = np.ascontiguousarray(audio[:, 0], dtype=np.float32)
        if self.pad_to_hop and samples % self.hop_length:
            rows = np.pad(rows, ((0, 0), (0, frames * self.hop_length - samples)))
        dtype = next(self.model.parameters()).dtype  # float32; float64 where a test or user made it so
        inputs = {
            k: v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in self.features(list(rows)).items()
            if isinstance(v, torch.Tensor)
        }
        codes = self.run_encoder(inputs)
        if codes.shape[-1] < frames:  # a transformers whose port counts frames otherwise
            got = codes.shape[-1]
            raise RuntimeError(f"{self.name}: {got} frames for {samples} samples, {frames} expected")
        return codes[:, :n_codebooks, :frames].long()

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode codes (transformers' ``decode``).

        Parameters
        ----------
        codes : LongTensor[B, K, T]
            ``1 <= K <= n_codebooks``.

        Returns
        -------
        audio : Tensor[B, 1, T * output_hop_length]
            float32 at :attr:`output_sample_rate`.

        Raises
        ------
        ValueError
            If ``codes`` is not ``[B, K, T]`` with ``1 <= K <= n_codebooks``.
        """
        self.check_codes(codes)
        audio: torch.Tensor = self.model.decode(codes.to(self.device, torch.long)).audio_values
        n = codes.shape[-1] * self.output_hop_length
        audio = audio.float()[..., :n]
        if audio.shape[-1] < n:
            audio = nn.functional.pad(audio, (0, n - audio.shape[-1]))
        return audio

    def network(self, part: Part) -> nn.Module:
        """transformers' whole model (its ``encode`` takes the feature extractor's outputs, not audio)."""
        module: nn.Module = self.model
        return module


class Xcodec2Codec(TransformersAudioCodec):
    """XCodec2 (``Xcodec2Model``): 16 kHz, hop 320, one FSQ codebook of 65536."""

    family = "xcodec2"
    what = "XCodec2"
    #: ``auto`` runs the acoustic encoder (convolutions with SnakeBeta, over half of an encode on the
    #: CPU) on OpenVINO behind the gate; w2v-BERT, the adapter and the quantizer stay in PyTorch.
    caps = Capabilities(
        static_shapes=False, exact_chunking=False, global_context=True,
        auto_backends=("openvino",), auto_parts=("encoder",),
    )  # fmt: skip

    def export_module(self, part: Part) -> nn.Module:
        """The acoustic encoder (``input_values [B, 1, S] -> [B, D, T]``) for the encoder, a copy whose
        SnakeBeta activations are :class:`~audiotok.codecs.dac.networks.ExportSnake`; else the model."""
        if part != "encoder":
            return self.network(part)
        import copy

        from audiotok.codecs.dac.networks import ExportSnake

        module: nn.Module = copy.deepcopy(self.model.acoustic_encoder)
        for parent in list(module.modules()):
            for name, child in list(parent.named_children()):
                if type(child).__name__.endswith("SnakeBeta"):  # x + sin(x e^a)^2 / (e^b + eps)
                    snake: Any = child
                    alpha = snake.alpha.detach().exp().view(1, -1, 1)
                    inv = (snake.beta.detach().exp() + snake.no_div_by_zero).reciprocal().view(1, -1, 1)
                    setattr(parent, name, ExportSnake(alpha, inv))
        return module

    def export_example(self, part: Part, audio: torch.Tensor) -> torch.Tensor:
        """The acoustic encoder's ``input_values`` for ``audio : Tensor[1, 1, S]`` (the extractor's)."""
        if part != "encoder":
            return super().export_example(part, audio)
        values: torch.Tensor = self.features([audio[0, 0].cpu().numpy()])["input_values"]
        return values.float()

    def run_encoder(self, inputs: dict[str, Any]) -> torch.Tensor:
        """transformers' ``encode``, its acoustic encoder through the backend when one runs it."""
        if "encoder" not in self.backends:
            return super().run_encoder(inputs)
        eager = self.model.acoustic_encoder
        self.model.acoustic_encoder = _Through(lambda x: self.run("encoder", x))
        try:
            return super().run_encoder(inputs)
        finally:
            self.model.acoustic_encoder = eager

    @staticmethod
    def model_class() -> Any:
        """``transformers.Xcodec2Model``."""
        from transformers import Xcodec2Model

        return Xcodec2Model

    @staticmethod
    def read_config(cfg: Any) -> tuple[int, int, int, int, int]:
        """``sampling_rate``, ``hop_length`` (the downsampling ratios' product), levels' product."""
        rate = int(cfg.sampling_rate)
        return rate, int(cfg.hop_length), 1, int(np.prod(cfg.quantization_levels)), rate


class NeuCodecCodec(Xcodec2Codec):
    """NeuCodec (``NeuCodecModel``): 16 kHz in, hop 320, one FSQ codebook of 65536; decodes at 24 kHz."""

    family = "neucodec"
    what = "NeuCodec"
    pad_to_hop = True

    @staticmethod
    def model_class() -> Any:
        """``transformers.NeuCodecModel``."""
        from transformers import NeuCodecModel

        return NeuCodecModel

    @staticmethod
    def read_config(cfg: Any) -> tuple[int, int, int, int, int]:
        """``input_sampling_rate``, ``encoder_hop_length``, levels' product, ``output_sampling_rate``."""
        levels = int(np.prod(cfg.quantization_levels))
        rate, out = int(cfg.input_sampling_rate), int(cfg.output_sampling_rate)
        return rate, int(cfg.encoder_hop_length), 1, levels, out


class XcodecCodec(TransformersAudioCodec):
    """X-Codec (``XcodecModel``): 16 kHz, hop 320, residual VQ of 8 x 1024 (the first K kept)."""

    family = "xcodec"
    what = "X-Codec"

    @staticmethod
    def model_class() -> Any:
        """``transformers.XcodecModel``."""
        from transformers import XcodecModel

        return XcodecModel

    @staticmethod
    def read_config(cfg: Any) -> tuple[int, int, int, int, int]:
        """``sample_rate``, ``hop_length``, ``num_quantizers`` (largest bandwidth), ``codebook_size``."""
        rate = int(cfg.sample_rate)
        return rate, int(cfg.hop_length), int(cfg.num_quantizers), int(cfg.codebook_size), rate

    def features(self, rows: list[Array]) -> dict[str, Any]:
        """``DacFeatureExtractor``'s ``input_values`` (zeros to whole frames); ``encode`` takes no mask."""
        out = self.extractor(rows, sampling_rate=self.sample_rate, return_tensors="pt")
        return {"input_values": out["input_values"]}

    def run_encoder(self, inputs: dict[str, Any]) -> torch.Tensor:
        """``encode`` at the largest bandwidth: every codebook (a lower bandwidth gives the first ones)."""
        codes: torch.Tensor = self.model.encode(
            inputs["input_values"], bandwidth=max(self.model.config.target_bandwidths)
        ).audio_codes
        return codes


class HiggsAudioCodec(XcodecCodec):
    """Higgs Audio v2's tokenizer (``HiggsAudioV2TokenizerModel``): 24 kHz, hop 960, 8 x 1024."""

    family = "higgs-audio-v2"
    what = "Higgs Audio v2 tokenizer"

    @staticmethod
    def model_class() -> Any:
        """``transformers.HiggsAudioV2TokenizerModel``."""
        from transformers import HiggsAudioV2TokenizerModel

        return HiggsAudioV2TokenizerModel


class _Through(nn.Module):
    """A module that calls ``fn`` (a backend's network in place of a submodule)."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fn(x)
        return out


CODECS: dict[str, type[TransformersAudioCodec]] = {
    c.family: c for c in (Xcodec2Codec, NeuCodecCodec, XcodecCodec, HiggsAudioCodec)
}
"""The codec class of each family of :mod:`audiotok.codecs.hf_audio`."""


def load(located: Located, device: torch.device, fast: bool) -> TransformersAudioCodec:
    """Load a model folder (transformers' layout, with ``preprocessor_config.json``) offline.

    Parameters
    ----------
    located : Located
        ``path`` the weights file of a model folder; its plugin's family picks the class.
    device : torch.device
    fast : bool
        Unused (no speed-up keeps these models' codes).

    Raises
    ------
    ModelError
        If transformers (with the model's class) is missing or the folder cannot be loaded.
    """
    cls = CODECS[located.plugin.family]

    def from_folder(folder: str) -> tuple[Any, Any]:
        from transformers import AutoFeatureExtractor

        model = cls.model_class().from_pretrained(folder, local_files_only=True)
        return model, AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)

    model, extractor = from_pretrained(located, from_folder, cls.what)
    model.eval()
    model.to(device)
    return cls(
        model,
        extractor,
        name=located.name,
        weights_path=located.path,
        weights_sha256=sha256_file(located.path),
        device=device,
    )
