"""Randomly initialised EnCodec models for tests (never downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from encodec import modules as m
from encodec import quantization as qt
from encodec.model import EncodecModel

from audiotok.audio.stream import ChunkSource
from audiotok.codecs import registry
from audiotok.codecs.encodec import model as codec


def _spread_codebooks(model: EncodecModel, seed: int) -> None:
    """Codebooks from encoded noise (like k-means init), so codes vary over frames."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = torch.randn(1, model.channels, model.sample_rate, generator=gen) * 0.1
        res = model.encoder(x)[0].T  # [T, D]
        for layer in model.quantizer.vq.layers:
            idx = torch.randint(0, res.shape[0], (layer._codebook.embed.shape[0],), generator=gen)
            noise = torch.randn(layer._codebook.embed.shape, generator=gen) * res.std() * 0.5
            layer._codebook.embed.copy_(res[idx] + noise)
            layer._codebook.inited.fill_(1)
            res = res - layer._codebook.embed[layer._codebook.encode(res)]


def tiny_architecture(spec: codec.EncodecSpec) -> EncodecModel:
    """The EnCodec layout (same hop, rates, 32 codebooks of 1024) with tiny layers."""
    norm = "weight_norm" if spec.causal else "time_group_norm"
    kw = {"channels": spec.channels, "dimension": 16, "n_filters": 2, "n_residual_layers": 1, "lstm": 1}
    enc = m.SEANetEncoder(norm=norm, causal=spec.causal, **kw)  # type: ignore[arg-type]
    dec = m.SEANetDecoder(norm=norm, causal=spec.causal, **kw)  # type: ignore[arg-type]
    n_q = int(1000 * spec.bandwidths[-1] // (spec.fps * 10))
    quant = qt.ResidualVectorQuantizer(dimension=16, n_q=n_q, bins=1024)
    return EncodecModel(
        enc, dec, quant, list(spec.bandwidths), spec.sample_rate, spec.channels,
        normalize=not spec.causal, segment=None if spec.causal else 1.0, name=spec.name,
    )  # fmt: skip


def install(
    monkeypatch: pytest.MonkeyPatch, torch_home: Path, name: str = "encodec_24khz", *, tiny: bool = True
) -> EncodecModel:
    """Save a random model where ``encodec`` caches its weights; return it (eval mode)."""
    spec = codec.ENCODEC_MODELS[name]
    torch.set_num_threads(1)  # tiny convolutions: threads only add overhead on a shared CPU
    torch.manual_seed(0)
    if tiny:
        monkeypatch.setattr(codec, "_architecture", tiny_architecture)
    model = codec._architecture(spec)
    _spread_codebooks(model, 0)
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    ckpt = torch_home / "hub" / "checkpoints" / registry.get(name).weights.filename
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), ckpt)
    return model.eval()


def in_memory(audio: torch.Tensor | np.ndarray, sample_rate: int) -> ChunkSource:
    """A :class:`~audiotok.audio.stream.SampleSource` over audio ``[C, N]`` held in memory."""
    x = np.ascontiguousarray(np.asarray(audio, dtype=np.float32))
    return ChunkSource(iter([x]), x.shape[0], sample_rate, x.shape[1])
