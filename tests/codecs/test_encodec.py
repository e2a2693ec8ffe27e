"""Tests for audiotok.codecs.encodec (tiny random models), encoded and decoded through codecs.stream."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotok.codecs import encodec as codec
from audiotok.codecs import registry, stream
from audiotok.codecs.encodec import EncodecCodec
from audiotok.errors import ModelError, UsageError
from tests._encodec import in_memory, install


def _load(name: str = "encodec_24khz", **kwargs: object) -> EncodecCodec:
    loaded = registry.load_codec(name, **kwargs)  # type: ignore[arg-type]
    assert isinstance(loaded, EncodecCodec)
    return loaded


@pytest.fixture
def model24(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EncodecCodec:
    install(monkeypatch, tmp_path / "torch")
    return _load()


def _encode(c: EncodecCodec, x: torch.Tensor, k: int, **kwargs: object) -> np.ndarray:
    return stream.encode_source(in_memory(x, c.sample_rate), c, (k,), **kwargs)  # type: ignore[arg-type]


def _decode(c: EncodecCodec, codes: np.ndarray, **kwargs: object) -> np.ndarray:
    return np.concatenate(list(stream.decode_codes(codes, c, (codes.shape[1],), **kwargs)), axis=1)  # type: ignore[arg-type]


def test_load_from_cache_and_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ref = install(monkeypatch, tmp_path / "torch")
    model = _load("encodec-24khz")
    assert not model.model.training and model.name == "encodec_24khz"
    ckpt = next((tmp_path / "torch").rglob("*.th"))
    assert model.weights_path == ckpt
    for other in (_load("encodec_24khz", checkpoint=ckpt), _load(ckpt)):  # named, or told from the file
        for (k, a), b in zip(ref.state_dict().items(), other.model.state_dict().values(), strict=True):
            assert torch.equal(a, b), k


def test_load_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path / "torch")
    with pytest.raises(UsageError, match="bandwidths"):
        codec.spec_for("encodec_24khz").check_bandwidth(5.0)
    with pytest.raises(UsageError, match="unknown"):
        codec.spec_for("encodec_96khz")
    (tmp_path / "junk.th").write_bytes(b"junk")
    with pytest.raises(ModelError, match=r"junk\.th"):
        _load("encodec_24khz", checkpoint=tmp_path / "junk.th")
    torch.save({"w": torch.zeros(1)}, tmp_path / "wrong.th")
    with pytest.raises(ModelError, match="do not fit"):
        _load("encodec_24khz", checkpoint=tmp_path / "wrong.th")
    with pytest.raises(ModelError, match="cannot tell"):
        _load(tmp_path / "wrong.th")


@pytest.mark.parametrize("bandwidth", [1.5, 6.0, 24.0])
def test_encode_shapes(model24: EncodecCodec, bandwidth: float) -> None:
    x = torch.randn(1, 24000 + 5) * 0.1
    k = codec.ENCODEC_MODELS["encodec_24khz"].check_bandwidth(bandwidth)
    codes = _encode(model24, x, k)
    assert codes.shape == (76, k) and codes.dtype == np.int64
    assert int(codes.max()) < 1024
    wav = _decode(model24, codes)
    assert wav.shape == (1, 76 * 320)


def test_chunked_matches_whole_file(model24: EncodecCodec) -> None:
    x = torch.randn(1, 24000 * 3) * 0.1
    whole = _encode(model24, x, 8)
    chunked = _encode(model24, x, 8, chunk_seconds=1.0, context=model24.encoder_context(0.5), batch_size=2)
    assert chunked.shape == whole.shape
    assert (chunked == whole).all(axis=1).mean() >= 0.95
    wav = _decode(model24, whole, chunk_frames=60, context=(10, 10))
    assert wav.shape == (1, x.shape[-1]) and np.isfinite(wav).all()


@pytest.mark.parametrize(("chunk_s", "batch_size"), [(None, 1), (1.0, 1), (0.4, 3)])
def test_encode_stream_reports_every_sample_once(
    model24: EncodecCodec, chunk_s: float | None, batch_size: int
) -> None:
    n = 24000 * 2 + 77
    x = torch.randn(1, n) * 0.1
    chunks: list[int] = []
    _encode(
        model24, x, 8, chunk_seconds=chunk_s, context=model24.encoder_context(0.2),
        batch_size=batch_size, on_chunk=chunks.append,
    )  # fmt: skip
    assert sum(chunks) == n and all(c > 0 for c in chunks)
    windows = 1 if chunk_s is None else math.ceil(n / (chunk_s * 24000))
    assert len(chunks) == windows if batch_size == 1 else len(chunks) < windows  # one call per batch


def test_48k_stereo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path / "torch", "encodec_48khz")
    model = _load("encodec-48khz")
    assert (model.channels, model.frame_rate, model.normalizes) == (2, 150.0, True)
    assert model.encoder_context(0.25) == (38, 38)  # not causal: context after a chunk too
    x = torch.randn(2, 48000 * 2) * 0.3
    scale = float(x.mean(dim=0).pow(2).mean().sqrt()) + 1e-8
    codes = _encode(model, x / scale, 4, chunk_seconds=1.0, context=model.encoder_context(0.25))
    assert codes.shape == (300, 4)
    assert (_decode(model, codes) * scale).shape == (2, 96000)
