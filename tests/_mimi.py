"""Randomly initialised Mimi models (transformers' ``MimiModel``) for tests, never downloaded.

transformers' ``MimiModel(MimiConfig())`` starts with all-zero codebooks
(``embed_sum``): every code would be 0 and any two encodes would agree.
:func:`spread_codebooks` fills each codebook from the residuals of encoded
noise (like a k-means init), so codes vary over frames; the fixtures assert
that they do before an equality test trusts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["TINY_MIMI", "save_mimi", "spread_codebooks"]

TINY_MIMI: dict[str, Any] = {
    "hidden_size": 32, "num_filters": 4, "codebook_dim": 16, "vector_quantization_hidden_dimension": 16,
    "num_hidden_layers": 2, "intermediate_size": 64, "num_attention_heads": 2, "num_key_value_heads": 2,
    "head_dim": 16, "upsample_groups": 32, "sliding_window": 6,
}  # fmt: skip
"""Mimi's architecture (strides 8·6·5·4·2, hop 1920 at 24 kHz, 32 codebooks of 2048, split RVQ, causal
transformer with a sliding window), small: its window (6 frames at 25 Hz) is exceeded within 0.3 s, so
the carried key/value cache drops entries in every multi-chunk test."""


def spread_codebooks(model: Any, seed: int) -> None:
    """Fill every codebook from the residuals of encoded noise plus a little noise (see module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    rvqs = (
        model.quantizer.semantic_residual_vector_quantizer,
        model.quantizer.acoustic_residual_vector_quantizer,
    )
    with torch.no_grad():
        x = torch.randn(4, model.config.audio_channels, model.config.sampling_rate, generator=gen) * 0.1
        latents = model.encoder(x).latents  # [B, D, T]
        for rvq in rvqs:
            res = latents if rvq.input_proj is None else rvq.input_proj(latents)
            res = res.transpose(1, 2).reshape(-1, res.shape[1])  # [B * T, D]
            for layer in rvq.layers:
                book = layer.codebook
                idx = torch.randint(0, res.shape[0], (book.codebook_size,), generator=gen)
                book.embed_sum.copy_(
                    res[idx] + torch.randn(book.embed_sum.shape, generator=gen) * res.std() * 0.3
                )
                book.cluster_usage.fill_(1.0)
                book._embed = None
                res = res - book.embed[book.quantize(res)]


def save_mimi(folder: Path, *, seed: int = 0, tiny: bool = True) -> Path:
    """Save a random Mimi (``tiny``: :data:`TINY_MIMI`, else the full-size ``MimiConfig()``) with spread
    codebooks to ``folder`` (``save_pretrained``: ``config.json``, ``model.safetensors``); returns it."""
    from transformers import MimiConfig, MimiModel

    torch.manual_seed(seed)
    model = MimiModel(MimiConfig(**(TINY_MIMI if tiny else {}))).eval()
    spread_codebooks(model, seed + 1)
    model.save_pretrained(folder)
    return folder
