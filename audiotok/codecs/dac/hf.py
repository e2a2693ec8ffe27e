"""DAC models from the Hugging Face Hub (``descript/dac_44khz``) through transformers' ``DacModel``.

An optional extra: ``pip install "audiotok[hf]"``. The model is wrapped so that
:class:`audiotok.codecs.dac.DacCodec` drives it exactly like a
descript-audio-codec model (same encoder, RVQ and decoder structure).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiotok.errors import ModelError

__all__ = ["is_hf_reference", "load_hf_dac"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def is_hf_reference(model: str) -> bool:
    """Whether ``model`` names a Hugging Face model: a local model folder or an ``owner/name`` repo id."""
    path = Path(model)
    if path.is_dir():
        return (path / "config.json").is_file()
    return not path.exists() and bool(_REPO_ID.match(model))


class HfDac(nn.Module):
    """transformers' ``DacModel`` with the attributes :class:`DacCodec` uses."""

    def __init__(self, hf: Any) -> None:
        super().__init__()
        self.hf = hf
        self.encoder = hf.encoder
        self.quantizer = hf.quantizer
        self.decoder = hf.decoder
        cfg = hf.config
        self.sample_rate = int(cfg.sampling_rate)
        self.hop_length = int(cfg.hop_length)
        self.n_codebooks = int(cfg.n_codebooks)
        self.codebook_size = int(cfg.codebook_size)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, D, T]`` to audio ``[B, 1, T * hop_length]``."""
        out: torch.Tensor = self.decoder(z)
        return out


def _weights_file(model: str) -> Path:
    folder = Path(model)
    if folder.is_dir():
        candidates = [folder / name for name in _WEIGHT_FILES]
    else:
        from huggingface_hub import try_to_load_from_cache

        candidates = []
        for name in _WEIGHT_FILES:
            hit = try_to_load_from_cache(model, name)
            if isinstance(hit, str):
                candidates.append(Path(hit))
    for path in candidates:
        if path.is_file():
            return path
    raise ModelError("no model.safetensors or pytorch_model.bin found for this model", model)


def load_hf_dac(model: str | os.PathLike[str], *, offline: bool = False) -> tuple[HfDac, Path]:
    """Load a ``DacModel`` by repo id (downloaded into the Hugging Face cache) or from a folder.

    Parameters
    ----------
    offline : bool
        Only use files already in the Hugging Face cache (``local_files_only``).

    Returns
    -------
    model : HfDac
        In eval mode, on the CPU.
    weights : Path
        The weights file read (for its sha256).

    Raises
    ------
    ModelError
        If transformers is not installed, or the model cannot be found or loaded.
    """
    ref = os.fspath(model)
    try:
        from transformers import DacModel
    except ImportError:
        raise ModelError("Hugging Face models need transformers: pip install 'audiotok[hf]'", ref) from None
    try:
        hf = DacModel.from_pretrained(ref, local_files_only=offline)
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ModelError(f"cannot load Hugging Face DAC model ({reason})", ref) from None
    hf.eval()  # type: ignore[no-untyped-call]
    return HfDac(hf), _weights_file(ref)
