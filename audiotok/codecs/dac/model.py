"""DAC (descript-audio-codec) models in PyTorch: loading checkpoints, tensor encode and decode.

The published models (``dac-44khz``, ``dac-24khz``, ``dac-16khz``,
``dac-44khz-16kbps``) are the entries of the DAC plugin
(:mod:`audiotok.codecs.dac`), whose weights are found in
descript-audio-codec's own cache (:mod:`audiotok.codecs.weights`) and loaded
by :func:`load`. Checkpoints are read with ``torch.load(...,
weights_only=True)``; nothing is ever unpickled. Hugging Face ``DacModel``
folders load through transformers (:mod:`audiotok.codecs.dac.hf`).

This module holds tensors only: no audio files are read or written here.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from audiotok.codecs.dac.cached import DECODE_CONTEXT_FRAMES, DacCodecBase, DacShape
from audiotok.codecs.dac.hf import load_hf_dac
from audiotok.codecs.dac.networks import (
    FromCodes,
    MaskedTokens,
    Tokens,
    for_export,
    reach,
    receptive_field,
    speed_up,
)
from audiotok.codecs.plugin import Located, Part
from audiotok.codecs.weights import sha256_file
from audiotok.errors import ModelError

__all__ = ["DECODE_CONTEXT_FRAMES", "DacCodec", "DacShape", "load"]

log = logging.getLogger(__name__)


class DacCodec(DacCodecBase):
    """A loaded DAC model in inference mode, with tensor-only encode and decode.

    Satisfies :class:`~audiotok.codecs.base.Codec` (mono: ``channels == 1``).

    Attributes
    ----------
    name : str
        Model name (``44khz``), the checkpoint path or the Hugging Face repo id.
    sample_rate : int
        Hz.
    channels : int
        1: DAC encodes each audio channel separately.
    hop_length : int
        Samples per frame.
    n_codebooks : int
        RVQ codebooks available.
    codebook_size : int
        Vocabulary of each codebook.
    weights_path : Path
        The checkpoint read.
    weights_sha256 : str
        Hex sha256 of the checkpoint, for provenance.
    encoder_receptive_field : int
        The encoder's receptive field in samples.
    encoder_reach : (int, int)
        Input samples before and after an output sample's own position that it depends on.
    device : torch.device
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        weights_path: Path,
        weights_sha256: str,
        device: torch.device,
        fast: bool = False,
        shape: DacShape | None = None,
    ) -> None:
        self.model = model
        self._fast = fast
        self._ready: set[str] = set()
        self.device = device
        self._take(
            shape or _shape_of(model), name=name, weights_path=weights_path, weights_sha256=weights_sha256
        )

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """Encode ``audio : Tensor[B, 1, S]`` to ``codes : LongTensor[B, K, T]``, as :meth:`Codec.encode`.

        ``audio`` is float32 at :attr:`sample_rate`, right-padded here with
        zeros to a multiple of :attr:`hop_length` (as DAC's ``preprocess``
        does), so ``T = ceil(S / hop_length)``; ``codes`` are on :attr:`device`.
        Raises ``ValueError`` as :meth:`~audiotok.codecs.base.CodecBase.check_audio`.
        """
        self.check_audio(audio, n_codebooks)
        n = audio.shape[-1]
        pad = -(-n // self.hop_length) * self.hop_length - n
        x = nn.functional.pad(audio.to(self.device, torch.float32), (0, pad))
        if "encoder" in self.backends:  # a backend runs encoder and RVQ (export_module)
            codes = self.run("encoder", x)
        else:
            codes = Tokens(self.network("encoder"), self.network_quantizer())(x)
        out: torch.Tensor = codes[:, :n_codebooks].long()
        return out

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode ``codes : LongTensor[B, K, T]`` to ``audio : Tensor[B, 1, T * hop]``, see Codec.decode.

        ``K <= n_codebooks``: missing codebooks contribute nothing. ``audio`` is
        float32 at :attr:`sample_rate`, on :attr:`device`. Raises ``ValueError``
        as :meth:`~audiotok.codecs.base.CodecBase.check_codes`.
        """
        self.check_codes(codes)
        codes = codes.to(self.device, torch.long)
        if "decoder" in self.backends:  # a backend runs RVQ lookup and decoder (export_module)
            missing = self.n_codebooks - codes.shape[1]
            return self.run("decoder", nn.functional.pad(codes, (0, 0, 0, missing), value=-1))
        z = self.network_quantizer().from_codes(codes)[0]
        return cast(torch.Tensor, self.network("decoder")(z))

    def network(self, part: Part) -> nn.Module:
        """DAC's ``encoder`` or ``decoder`` module; the decoder is sped up on first use when ``fast``.

        Raises
        ------
        ModelError
            If the model is not loaded.
        """
        if self.model is None:
            raise ModelError(f"the {part} needs the PyTorch model, not loaded here", self.weights_path)
        module: nn.Module = getattr(self.model, part)
        if self._fast and part == "decoder" and part not in self._ready:
            speed_up(module)  # the encoder was sped up at load time
        self._ready.add(part)
        return module

    def export_module(self, part: Part) -> nn.Module:
        """What a backend runs for ``part``: the encoder with the RVQ (audio -> all codes), or the decoder.

        The encoder's module maps ``audio : Tensor[B, 1, S]`` (``S`` a
        multiple of :attr:`hop_length`) to ``codes : IntTensor[B, n_codebooks, S / hop]``.
        """
        if part == "encoder":
            encoder = for_export(self.network("encoder"))
            if MaskedTokens.fits(encoder):  # takes (audio, valid samples): shorter windows run exactly
                return MaskedTokens(encoder, self.network_quantizer())
            return Tokens(encoder, self.network_quantizer())
        return FromCodes(self.network_quantizer(), for_export(self.network("decoder")))

    def export_example(self, part: Part, audio: torch.Tensor) -> torch.Tensor:
        """Audio for the encoder; for the decoder, codes of every codebook (``LongTensor[1, K, T]``)."""
        if part == "encoder":
            return audio
        n = audio.shape[-1] // self.hop_length * self.hop_length
        codes: torch.Tensor = Tokens(self.network("encoder"), self.network_quantizer())(audio[..., :n])
        return codes.long()

    def network_quantizer(self) -> Any:
        """DAC's ``ResidualVectorQuantize`` (raises as :meth:`network`)."""
        if self.model is None:
            raise ModelError("decoding needs the PyTorch model, not loaded here", self.weights_path)
        return self.model.quantizer


def _shape_of(model: Any) -> DacShape:
    """The :class:`~audiotok.codecs.dac.cached.DacShape` of a ``dac.DAC`` (or transformers' adapter)."""
    return DacShape(
        int(model.sample_rate), int(model.hop_length), int(model.n_codebooks), int(model.codebook_size),
        receptive_field(model.encoder), reach(model.encoder),
    )  # fmt: skip


def _read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        try:  # memory-mapped: only the tensors actually used are ever read into memory
            blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            blob = torch.load(path, map_location="cpu", weights_only=True)  # legacy, non-zip format
    except Exception as exc:  # not a torch file, pickled code, truncated ...
        reason = " ".join(str(exc).split())[:200]
        raise ModelError(f"cannot read DAC checkpoint ({reason})", path) from None
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ModelError("not a DAC checkpoint (no 'state_dict')", path)
    meta = blob.get("metadata") or {}
    kwargs = meta.get("kwargs") if isinstance(meta, dict) else None
    return (kwargs if isinstance(kwargs, dict) else {}), blob["state_dict"]


def _build(path: Path) -> Any:
    import inspect

    import dac

    kwargs, state = _read_checkpoint(path)
    allowed = set(inspect.signature(dac.DAC).parameters)
    # Built on the meta device (no random init, no memory), then the checkpoint's
    # tensors are assigned as the parameters.
    with warnings.catch_warnings(), torch.device("meta"):  # DAC uses the deprecated weight_norm
        warnings.simplefilter("ignore", FutureWarning)
        model = dac.DAC(**{k: v for k, v in kwargs.items() if k in allowed})
    result = model.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys:
        raise ModelError(
            f"checkpoint does not fit the DAC architecture in its metadata "
            f"({len(result.missing_keys)} missing tensors, e.g. {result.missing_keys[0]})",
            path,
        )
    if result.unexpected_keys:
        log.info("%s: ignoring %d unexpected tensors", path, len(result.unexpected_keys))
    return model


def _codec(net: Any, *, name: str, path: Path, device: torch.device, fast: bool) -> DacCodec:
    if fast:  # the decoder is sped up on first use, so encoding never reads its weights
        speed_up(net.encoder)
        speed_up(net.quantizer)
    net.to(device)
    return DacCodec(
        net, name=name, weights_path=path, weights_sha256=sha256_file(path), device=device, fast=fast
    )


def load(located: Located, device: torch.device, fast: bool) -> DacCodec:
    """Load a DAC model (the DAC plugin's loader): a checkpoint, or a Hugging Face ``DacModel`` folder.

    Parameters
    ----------
    located : Located
        ``path`` a ``.pth`` checkpoint saved by DAC (``{"state_dict",
        "metadata": {"kwargs"}}``; its metadata gives the architecture), or
        with ``source == "hf"`` the weights file of a transformers model folder.
        ``name`` becomes the codec's :attr:`~DacCodec.name`.
    device : torch.device
    fast : bool
        Fold weight norm and use an in-place Snake (same codes, less time).

    Raises
    ------
    ModelError
        If the file is unreadable or does not fit the DAC architecture, or
        (Hugging Face) transformers is missing or the folder cannot be loaded.
    """
    if located.source == "hf":
        net = load_hf_dac(located.path.parent, located.name)
        return _codec(net, name=located.name, path=located.path, device=device, fast=fast)
    return _codec(_build(located.path).eval(), name=located.name, path=located.path, device=device, fast=fast)
