"""DAC models from the Hugging Face Hub (``descript/dac_44khz``) through transformers' ``DacModel``.

An optional extra: ``pip install "audiotok[hf]"``. A repo id's files come from
the standard Hugging Face cache (:func:`audiotok.codecs.weights.fetch_hub`:
``HF_HOME``, ``HF_HUB_OFFLINE``); a model folder is read as it is. The model is
wrapped so that :class:`audiotok.codecs.dac.model.DacCodec` drives it exactly
like a descript-audio-codec model (same encoder, RVQ and decoder structure).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from audiotok.codecs._hf import quiet_loading
from audiotok.errors import ModelError

__all__ = ["HfDac", "load_hf_dac"]


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


def load_hf_dac(folder: str | os.PathLike[str], name: str) -> HfDac:
    """Load a ``DacModel`` from a model folder (``config.json`` and its weights), offline.

    Parameters
    ----------
    folder : str or os.PathLike
        A ``save_pretrained`` folder, or a snapshot folder of the Hugging Face cache.
    name : str
        The repo id or folder as the user gave it, for messages.

    Returns
    -------
    HfDac
        In eval mode, on the CPU.

    Raises
    ------
    ModelError
        If transformers is not installed, or the model cannot be loaded.
    """
    try:
        from transformers import DacModel
    except ImportError:
        raise ModelError("Hugging Face models need transformers: pip install 'audiotok[hf]'", name) from None
    try:
        with quiet_loading():
            hf = DacModel.from_pretrained(os.fspath(folder), local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: weights of another shape
        reason = " ".join(str(exc).split())[:300]
        raise ModelError(f"cannot load Hugging Face DAC model ({reason})", name) from None
    hf.eval()  # type: ignore[no-untyped-call]
    return HfDac(hf)
