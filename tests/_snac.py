"""Randomly initialised SNAC models (the ``snac`` package) for tests, never downloaded.

A random ``SNAC`` gives few distinct codes (3, 12 and 22 on 10 s of a chirp):
its codebooks are far from its latents. :func:`spread_codebooks` fills each
codebook from the projected residuals of encoded noise (like a k-means init),
so codes vary over frames; the fixtures assert that they do before an
equality test trusts them. :func:`save_snac` writes the Hub layout
(``config.json`` + ``pytorch_model.bin``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "SNAC_24", "SNAC_32", "TINY_SNAC_24", "TINY_SNAC_32", "build_snac", "save_snac", "spread_codebooks",
]  # fmt: skip

SNAC_24: dict[str, Any] = {
    "sampling_rate": 24000, "encoder_dim": 48, "encoder_rates": [2, 4, 8, 8], "decoder_dim": 1024,
    "decoder_rates": [8, 8, 4, 2], "attn_window_size": None, "codebook_size": 4096, "codebook_dim": 8,
    "vq_strides": [4, 2, 1], "noise": True, "depthwise": True,
}  # fmt: skip
"""``hubertsiuzdak/snac_24khz``'s config.json (19.8 M parameters)."""
SNAC_32: dict[str, Any] = {
    "sampling_rate": 32000, "encoder_dim": 64, "encoder_rates": [2, 3, 8, 8], "decoder_dim": 1536,
    "decoder_rates": [8, 8, 3, 2], "attn_window_size": 32, "codebook_size": 4096, "codebook_dim": 8,
    "vq_strides": [8, 4, 2, 1], "noise": True, "depthwise": True,
}  # fmt: skip
"""``hubertsiuzdak/snac_32khz``'s config.json (54.5 M parameters)."""
TINY_SNAC_24: dict[str, Any] = {**SNAC_24, "encoder_dim": 8, "decoder_dim": 64}
"""SNAC 24 kHz's architecture (hop 512, strides 4·2·1, no attention), narrow."""
TINY_SNAC_32: dict[str, Any] = {**SNAC_32, "encoder_dim": 8, "decoder_dim": 64}
"""SNAC 32 kHz's architecture (hop 384, strides 8·4·2·1, attention in windows of 32 frames), narrow
(the decoder's attention needs 64 channels a head)."""


def spread_codebooks(model: Any, seed: int) -> None:
    """Fill every codebook from the projected residuals of encoded noise (see the module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = torch.randn(2, 1, model.sampling_rate * 2, generator=gen) * 0.1
        residual = model.encoder(model.preprocess(x))
        for vq in model.quantizer.quantizers:
            z = torch.nn.functional.avg_pool1d(residual, vq.stride, vq.stride) if vq.stride > 1 else residual
            z_e = vq.in_proj(z).transpose(1, 2).reshape(-1, vq.codebook_dim)
            pick = torch.randint(0, z_e.shape[0], (vq.codebook_size,), generator=gen)
            noise = torch.randn(vq.codebook_size, vq.codebook_dim, generator=gen)
            vq.codebook.weight.copy_(z_e[pick] + 0.05 * z_e.std() * noise)
            z_q, _ = vq(residual)
            residual = residual - z_q


def build_snac(config: dict[str, Any], seed: int = 0) -> Any:
    """A random SNAC of ``config`` with spread codebooks, in eval mode."""
    from snac import SNAC

    torch.manual_seed(seed)
    model = SNAC(**config)
    spread_codebooks(model, seed)
    return model.eval()


def save_snac(model: Any, config: dict[str, Any], folder: Path) -> Path:
    """``config.json`` and ``pytorch_model.bin`` of ``model`` in ``folder`` (the Hub layout); the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder
