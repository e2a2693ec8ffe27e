"""Descript Audio Codec (DAC) models: registry, loading, tensor encode/decode.

Models are found by name (``44khz``, ``24khz``, ``16khz``, ``44khz-16kbps``)
in descript-audio-codec's own cache
(``~/.cache/descript/dac/weights_<type>_<bitrate>_<tag>.pth``, downloaded
there through ``dac.utils.download`` when missing and allowed), or from a
local checkpoint path. Checkpoints are read with ``torch.load(...,
weights_only=True)``; nothing is ever unpickled.

This module holds tensors only: no audio files are read or written here.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from audiotok._types import FramesPerSecond, Hz
from audiotok.codecs._dac_hf import is_hf_reference, load_hf_dac
from audiotok.errors import ModelError

__all__ = [
    "MODELS",
    "DacCodec",
    "ModelSpec",
    "cache_path",
    "fetch",
    "load_codec",
    "resolve_spec",
    "sha256_file",
]

log = logging.getLogger(__name__)

_RELEASES = "https://github.com/descriptinc/descript-audio-codec/releases/download"


@dataclass(frozen=True)
class ModelSpec:
    """A published DAC model.

    Attributes
    ----------
    name : str
        audiotok's name (``--model``).
    model_type, bitrate, tag : str
        descript-audio-codec's names (``44khz``, ``8kbps``, ``0.0.1``).
    sample_rate : int
        Hz.
    hop_length : int
        Samples per frame (product of the encoder strides).
    n_codebooks : int
        RVQ codebooks of the model.
    codebook_size : int
        Entries per codebook (the vocabulary).
    url : str
        Where ``dac.utils.download`` fetches the weights.
    """

    name: str
    model_type: str
    bitrate: str
    tag: str
    sample_rate: Hz
    hop_length: int
    n_codebooks: int
    codebook_size: int
    url: str

    @property
    def token_rate(self) -> FramesPerSecond:
        """Frames per second, ``sample_rate / hop_length`` (86.1328125 at 44.1 kHz)."""
        return self.sample_rate / self.hop_length

    @property
    def filename(self) -> str:
        """File name in DAC's cache, ``weights_<type>_<bitrate>_<tag>.pth``."""
        return f"weights_{self.model_type}_{self.bitrate}_{self.tag}.pth"


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec("44khz", "44khz", "8kbps", "0.0.1", 44100, 512, 9, 1024, f"{_RELEASES}/0.0.1/weights.pth"),
        ModelSpec(
            "24khz", "24khz", "8kbps", "0.0.4", 24000, 320, 32, 1024, f"{_RELEASES}/0.0.4/weights_24khz.pth"
        ),
        ModelSpec(
            "16khz", "16khz", "8kbps", "0.0.5", 16000, 320, 12, 1024, f"{_RELEASES}/0.0.5/weights_16khz.pth"
        ),
        ModelSpec(
            "44khz-16kbps",
            "44khz",
            "16kbps",
            "1.0.0",
            44100,
            512,
            18,
            1024,
            f"{_RELEASES}/1.0.0/weights_44khz_16kbps.pth",
        ),
    )
}
"""Known models by name, as ``dac.utils`` publishes them."""


def cache_path(spec: ModelSpec) -> Path:
    """Where descript-audio-codec caches ``spec``'s weights (``$HOME/.cache/descript/dac/...``)."""
    return Path.home() / ".cache" / "descript" / "dac" / spec.filename


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("AUDIOTOK_OFFLINE", "HF_HUB_OFFLINE"))


def fetch(spec: ModelSpec, *, download: bool = True) -> Path:
    """Return the cached weights of ``spec``, downloading them first if needed.

    Downloads go through ``dac.utils.download`` into :func:`cache_path`. Set
    ``AUDIOTOK_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) to never touch the network.

    Raises
    ------
    ModelError
        If the weights are not cached and cannot be downloaded; the message
        names the URL and the exact cache path to put the file in.
    """
    path = cache_path(spec)
    if path.is_file():
        return path
    hint = f"download {spec.url} and save it as {path}"
    if not download or _offline():
        raise ModelError(f"weights for {spec.name!r} are not cached and downloads are off; {hint}")
    try:
        from dac.utils import download as dac_download

        got = Path(dac_download(model_type=spec.model_type, model_bitrate=spec.bitrate, tag=spec.tag))
    except Exception as exc:  # network, HTTP status, disk: all end the same way
        raise ModelError(f"cannot download weights for {spec.name!r} ({exc}); {hint}") from None
    return got


def resolve_spec(model: str) -> ModelSpec | None:
    """The registry entry for a model name, or ``None`` for a checkpoint path."""
    return MODELS.get(model.strip().lower())


def _receptive_field(module: nn.Module) -> int:
    """Receptive field, in input samples, of a stack of 1-d convolutions in module order.

    Every ``nn.Conv1d`` in ``module`` (residual branches included, which is an
    over-estimate and therefore safe) widens the field by
    ``dilation * (kernel - 1)`` times the stride accumulated before it.
    """
    field, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d):
            field += layer.dilation[0] * (layer.kernel_size[0] - 1) * jump
            jump *= layer.stride[0]
    return field


def _remove_weight_norm(model: nn.Module) -> None:
    """Fold weight norm into plain weights (inference only; same outputs, less work per call)."""
    for layer in model.modules():
        if hasattr(layer, "weight_g") and hasattr(layer, "weight_v"):
            torch.nn.utils.remove_weight_norm(layer)


class _FastSnake(nn.Module):
    """Snake activation ``x + sin(alpha x)^2 / alpha`` with fewer temporaries than DAC's.

    Same maths as ``dac.nn.layers.snake``: ``1 / (alpha + 1e-9)`` is precomputed
    once and the element-wise chain runs in place on one buffer.
    """

    def __init__(self, alpha: torch.Tensor) -> None:
        super().__init__()
        self.alpha = nn.Parameter(alpha.detach().clone(), requires_grad=False)
        self.register_buffer("inv_alpha", (alpha.detach() + 1e-9).reciprocal())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inv_alpha = cast(torch.Tensor, self.inv_alpha)
        y = torch.mul(x, self.alpha)
        y.sin_().square_().mul_(inv_alpha).add_(x)
        return y


def _speed_up(model: nn.Module) -> None:
    from dac.nn.layers import Snake1d

    _remove_weight_norm(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Snake1d):
                setattr(parent, name, _FastSnake(child.alpha))


class DacCodec:
    """A loaded DAC model in inference mode, with tensor-only encode and decode.

    Attributes
    ----------
    name : str
        Model name (``44khz``) or the checkpoint path.
    sample_rate : int
        Hz.
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
    ) -> None:
        self.model = model
        self._fast = fast
        self._decoder_ready = False
        self.name = name
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.device = device
        self.sample_rate: Hz = int(model.sample_rate)
        self.hop_length = int(model.hop_length)
        self.n_codebooks = int(model.n_codebooks)
        self.codebook_size = int(model.codebook_size)
        self.encoder_receptive_field = _receptive_field(model.encoder)

    @property
    def token_rate(self) -> FramesPerSecond:
        """Frames per second, ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    @property
    def encoder_context_frames(self) -> int:
        """Frames of context each side of a chunk that make chunked codes equal whole-file codes.

        The encoder's full receptive field, rounded up to whole frames (twice
        what is strictly needed, so the zero padding each convolution adds at
        a chunk's edge never reaches a kept frame).
        """
        return math.ceil(self.encoder_receptive_field / self.hop_length)

    def n_frames(self, n_samples: int) -> int:
        """Frames for ``n_samples`` samples at the model rate: ``ceil(n_samples / hop_length)``."""
        return -(-n_samples // self.hop_length)

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """Encode audio to RVQ codes.

        Parameters
        ----------
        audio : Tensor[B, 1, N]
            float32 at :attr:`sample_rate`; right-padded with zeros to a
            multiple of :attr:`hop_length` (as DAC's ``preprocess`` does).
        n_codebooks : int
            K, the first K codebooks, ``1 <= K <= n_codebooks``.

        Returns
        -------
        codes : LongTensor[B, K, T]
            ``T = ceil(N / hop_length)``.

        Raises
        ------
        ValueError
            If ``n_codebooks`` is out of range or ``audio`` is not ``[B, 1, N]``.
        """
        if not 1 <= n_codebooks <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in [1, {self.n_codebooks}], got {n_codebooks}")
        if audio.ndim != 3 or audio.shape[1] != 1:
            raise ValueError(f"audio must be [B, 1, N], got {tuple(audio.shape)}")
        n = audio.shape[-1]
        pad = self.n_frames(n) * self.hop_length - n
        x = nn.functional.pad(audio.to(self.device, torch.float32), (0, pad))
        z = self.model.encoder(x)
        _, codes, *_ = self.model.quantizer(z, n_codebooks)
        out: torch.Tensor = codes[:, :n_codebooks]
        return out

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Decode RVQ codes to audio.

        Parameters
        ----------
        codes : LongTensor[B, K, T]
            ``K <= n_codebooks``; missing codebooks contribute nothing.

        Returns
        -------
        audio : Tensor[B, 1, T * hop_length]
            float32 at :attr:`sample_rate`.
        """
        if codes.ndim != 3 or not 1 <= codes.shape[1] <= self.n_codebooks:
            raise ValueError(f"codes must be [B, K<={self.n_codebooks}, T], got {tuple(codes.shape)}")
        if self._fast and not self._decoder_ready:
            _speed_up(self.model.decoder)
        self._decoder_ready = True
        z = self.model.quantizer.from_codes(codes.to(self.device, torch.long))[0]
        audio: torch.Tensor = self.model.decode(z)
        return audio


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


def load_codec(
    model: str | os.PathLike[str],
    *,
    device: torch.device | None = None,
    download: bool = True,
    fast: bool = True,
) -> DacCodec:
    """Load a DAC model by name, from a checkpoint file, or from the Hugging Face Hub.

    Parameters
    ----------
    model : str or os.PathLike
        A name of :data:`MODELS` (``44khz`` ...), a path to a ``.pth``
        checkpoint saved by DAC (``{"state_dict", "metadata": {"kwargs"}}``),
        or a Hugging Face repo id / model folder for transformers' ``DacModel``
        (``descript/dac_44khz``; needs the ``hf`` extra).
    device : torch.device, optional
        Defaults to the CPU.
    download : bool
        Allow downloading a named model that is not cached.
    fast : bool
        Fold weight norm and use an in-place Snake (same codes, less time).

    Raises
    ------
    ModelError
        If the weights are missing (message: URL and cache path), unreadable,
        or do not fit the DAC architecture.
    """
    dev = device or torch.device("cpu")
    name = os.fspath(model)
    spec = resolve_spec(name)
    net: Any
    if spec is not None:
        path = fetch(spec, download=download)
        name = spec.name
        net = _build(path).eval()
    elif Path(name).is_file():
        path = Path(name)
        net = _build(path).eval()
    elif Path(name).suffix.lower() in (".pth", ".pt"):
        raise ModelError("no such checkpoint file", name)
    elif is_hf_reference(name):
        net, path = load_hf_dac(name, offline=not download or _offline())
    else:
        known = ", ".join(MODELS)
        raise ModelError(f"not a known model name ({known}), checkpoint file or Hugging Face model", name)
    if fast:  # the decoder is sped up on first use, so encoding never reads its weights
        _speed_up(net.encoder)
        _speed_up(net.quantizer)
    net.to(dev)
    return DacCodec(
        net, name=name, weights_path=path, weights_sha256=sha256_file(path), device=dev, fast=fast
    )
