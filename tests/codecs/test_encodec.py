"""Tests for audiotok.codecs.encodec (tiny random models)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from audiotok.codecs import encodec as codec
from audiotok.errors import ModelError, UsageError
from tests._encodec import install


@pytest.fixture
def model24(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> torch.nn.Module:
    install(monkeypatch, tmp_path / "torch")
    return codec.load_model("encodec_24khz", bandwidth=6.0)


def test_load_from_cache_and_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ref = install(monkeypatch, tmp_path / "torch")
    model = codec.load_model("encodec_24khz", bandwidth=3.0)
    assert model.bandwidth == 3.0 and not model.training
    ckpt = next((tmp_path / "torch").rglob("*.th"))
    other = codec.load_model("encodec_24khz", path=ckpt)
    for (k, a), b in zip(ref.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_load_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path / "torch")
    with pytest.raises(UsageError, match="bandwidths"):
        codec.load_model("encodec_24khz", bandwidth=5.0)
    with pytest.raises(UsageError, match="unknown"):
        codec.load_model("encodec_96khz")
    (tmp_path / "junk.th").write_bytes(b"junk")
    with pytest.raises(ModelError, match=r"junk\.th"):
        codec.load_model("encodec_24khz", path=tmp_path / "junk.th")
    torch.save({"w": torch.zeros(1)}, tmp_path / "wrong.th")
    with pytest.raises(ModelError, match="do not fit"):
        codec.load_model("encodec_24khz", path=tmp_path / "wrong.th")


@pytest.mark.parametrize("bandwidth", [1.5, 6.0, 24.0])
def test_encode_shapes(model24: torch.nn.Module, bandwidth: float) -> None:
    model24.set_target_bandwidth(bandwidth)
    x = torch.randn(1, 24000 + 5) * 0.1
    codes, scale = codec.encode_audio(model24, x, chunk_s=None)
    spec = codec.ENCODEC_MODELS["encodec_24khz"]
    assert codes.shape == (76, spec.n_codebooks(bandwidth)) and codes.dtype == torch.int64
    assert scale is None and int(codes.max()) < 1024
    wav = codec.decode_codes(model24, codes)
    assert wav.shape == (1, 76 * 320)


def test_chunked_matches_whole_file(model24: torch.nn.Module) -> None:
    x = torch.randn(1, 24000 * 3) * 0.1
    whole, _ = codec.encode_audio(model24, x, chunk_s=None)
    chunked, _ = codec.encode_audio(model24, x, chunk_s=1.0, context_s=0.5, batch_size=2)
    assert chunked.shape == whole.shape
    assert (chunked == whole).all(dim=1).float().mean() >= 0.95
    wav = codec.decode_codes(model24, whole, chunk_frames=60, context_frames=10)
    assert wav.shape == (1, x.shape[-1]) and torch.isfinite(wav).all()


@pytest.mark.parametrize(("chunk_s", "batch_size"), [(None, 1), (1.0, 1), (0.4, 3)])
def test_encode_stream_reports_every_sample_once(
    model24: torch.nn.Module, chunk_s: float | None, batch_size: int
) -> None:
    n = 24000 * 2 + 77
    x = torch.randn(1, n) * 0.1
    chunks: list[int] = []
    codec.encode_stream(
        model24,
        lambda a, b: x[:, a:b],
        n,
        chunk_s=chunk_s,
        context_s=0.2,
        batch_size=batch_size,
        on_chunk=chunks.append,
    )
    assert sum(chunks) == n and all(c > 0 for c in chunks)
    windows = 1 if chunk_s is None else math.ceil(n / (chunk_s * 24000))
    assert len(chunks) == windows if batch_size == 1 else len(chunks) < windows  # one call per batch


def test_48k_stereo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path / "torch", "encodec_48khz")
    model = codec.load_model("encodec_48khz", bandwidth=6.0)
    x = torch.randn(2, 48000 * 2) * 0.3
    codes, scale = codec.encode_audio(model, x, chunk_s=1.0, context_s=0.25)
    assert codes.shape == (300, 4) and scale is not None and scale > 0
    assert codec.decode_codes(model, codes, scale=scale).shape == (2, 96000)
