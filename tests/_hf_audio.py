"""Random models of the global-context codecs (transformers' audio tokenizers) for tests, never downloaded.

Each family has a small configuration of its real architecture (the same
classes, strides, rates and codebooks; few, narrow layers) and the full-size
one (``tiny=False``, for slow tests). Random initialisation gives degenerate
codes: X-Codec's and Higgs' EMA codebooks start at zero (every code 0), and
the FSQ of XCodec2 and NeuCodec sees latents so small that every frame rounds
to one level. :func:`spread_codes` fixes both from encoded noise (k-means-like
codebooks; an FSQ input projection scaled to unit variance), so codes vary
over frames; tests assert that they do before trusting an equality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["FAMILIES", "REPOS", "build", "save_model", "spread_codes"]

FAMILIES = ("xcodec2", "neucodec", "xcodec", "higgs-audio-v2")
REPOS = {
    "xcodec2": "HKUSTAudio/xcodec2-hf",
    "neucodec": "neuphonic/neucodec",
    "xcodec": "hf-audio/xcodec-hubert-librispeech",
    "higgs-audio-v2": "bosonai/higgs-audio-v2-tokenizer",
}
"""The repo of each family's first registry entry."""

_W2V_BERT = {
    "model_type": "wav2vec2-bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 64, "output_hidden_size": 32, "conv_depthwise_kernel_size": 5,
}  # fmt: skip
_FSQ_TRANSFORMER = {
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
    "num_key_value_heads": 2, "head_dim": 16, "encoder_hidden_size": 4, "quantization_dim": 64,
}  # fmt: skip
_HUBERT = {
    "model_type": "hubert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 64, "conv_dim": [16] * 7, "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}  # fmt: skip
_DAC = {"encoder_hidden_size": 4, "decoder_hidden_size": 64, "hidden_size": 16}


def build(family: str, *, tiny: bool = True) -> tuple[Any, Any]:
    """A random model of ``family`` (``tiny``: the small configuration) and its feature extractor."""
    import transformers as tf

    if family == "xcodec2":
        cfg = (
            tf.Xcodec2Config(semantic_model_config=_W2V_BERT, **_FSQ_TRANSFORMER)
            if tiny
            else tf.Xcodec2Config()
        )
        return tf.Xcodec2Model(cfg), tf.Xcodec2FeatureExtractor()
    if family == "neucodec":
        cfg = (
            tf.NeuCodecConfig(semantic_model_config=_W2V_BERT, **_FSQ_TRANSFORMER)
            if tiny
            else tf.NeuCodecConfig()
        )
        return tf.NeuCodecModel(cfg), tf.NeuCodecFeatureExtractor()
    if family == "xcodec":
        small = {"semantic_model_config": _HUBERT, "acoustic_model_config": _DAC} if tiny else {}
        return tf.XcodecModel(tf.XcodecConfig(**small)), tf.DacFeatureExtractor(
            sampling_rate=16000, hop_length=320
        )
    ratios = [8, 5, 4, 2, 3]  # Higgs: hop 960 at 24 kHz (its published config), 4 kbps -> 8 codebooks of 1024
    acoustic = {"downsampling_ratios": ratios, "upsampling_ratios": ratios, "hop_length": 960}
    if tiny:
        acoustic |= _DAC
    cfg = tf.HiggsAudioV2TokenizerConfig(
        target_bandwidths=[0.5, 1, 1.5, 2], acoustic_model_config=acoustic,
        **({"semantic_model_config": _HUBERT} if tiny else {}),
    )  # fmt: skip
    return tf.HiggsAudioV2TokenizerModel(cfg), tf.DacFeatureExtractor(sampling_rate=24000, hop_length=960)


def _noise(model: Any, extractor: Any, family: str, seed: int) -> dict[str, Any]:
    rate = extractor.sampling_rate
    x = list(np.random.default_rng(seed).standard_normal((2, rate)).astype(np.float32) * 0.1)
    if family in ("xcodec2", "neucodec"):
        return dict(extractor(audio=x, sampling_rate=rate, return_tensors="pt"))
    return {"input_values": extractor(x, sampling_rate=rate, return_tensors="pt")["input_values"]}


def spread_codes(model: Any, extractor: Any, family: str, seed: int) -> None:
    """Make ``model``'s codes vary over frames (see the module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    seen: dict[str, torch.Tensor] = {}
    where = model.quantizer.project_in if family in ("xcodec2", "neucodec") else model.fc
    hook = where.register_forward_hook(lambda mod, args, out: seen.update(x=args[0], y=out))
    with torch.no_grad():
        model.encode(**_noise(model, extractor, family, seed))
    hook.remove()
    with torch.no_grad():
        if family in ("xcodec2", "neucodec"):  # FSQ: projected latents of unit variance per dimension
            x = seen["x"].reshape(-1, seen["x"].shape[-1])
            proj = model.quantizer.project_in
            w = torch.randn(proj.weight.shape, generator=gen) / (x.std(0).mean() * x.shape[1] ** 0.5)
            proj.weight.copy_(w)
            proj.bias.copy_(-(x.mean(0) @ w.T))
            return
        residual = seen["y"].transpose(1, 2)  # [B, D, T]: what the RVQ quantizes
        for q in model.quantizer.quantizers:
            h = residual.permute(0, 2, 1)
            if family == "higgs-audio-v2":
                h = q.project_in(h)
            h = h.reshape(-1, h.shape[-1])
            book = q.codebook
            idx = torch.randint(0, h.shape[0], (book.codebook_size,), generator=gen)
            book.embed.copy_(h[idx] + torch.randn(book.embed.shape, generator=gen) * h.std() * 0.3)
            book.embed_avg.copy_(book.embed)
            book.cluster_size.fill_(1.0)
            residual = residual - q.decode(q.encode(residual))


def save_model(family: str, folder: Path, *, seed: int = 0, tiny: bool = True) -> Path:
    """Save a random ``family`` model with varied codes and its feature extractor to ``folder``
    (``config.json``, ``model.safetensors``, ``preprocessor_config.json``); returns it."""
    torch.manual_seed(seed)
    model, extractor = build(family, tiny=tiny)
    model.eval()
    spread_codes(model, extractor, family, seed + 1)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    return folder
