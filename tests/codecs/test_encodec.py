"""Tests for audiotok.codecs.encodec (tiny random models), encoded and decoded through codecs.stream."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotok.codecs import registry, stream
from audiotok.codecs.encodec import model as codec
from audiotok.codecs.encodec.model import EncodecCodec
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


SPEECH_24K = Path(__file__).resolve().parents[2].parent / "shared" / "audio" / "speech_music_24k_mono.wav"


def _speech(n: int) -> torch.Tensor:
    if not SPEECH_24K.is_file():
        pytest.skip("real audio (../shared/audio) not present")
    import soundfile as sf

    audio, sr = sf.read(SPEECH_24K, dtype="float32", frames=n)
    assert sr == 24_000
    return torch.from_numpy(audio).reshape(1, 1, -1)


# lengths: a whole number of frames, ragged ends, one sample over the eager-only limit
LENGTHS = (48_000, 48_000 - 123, 24_000 + 7, 1_921 + 160, 3_333)


@pytest.mark.parametrize("n", LENGTHS)
def test_export_module_gives_eagers_codes_for_any_length_and_inside_a_longer_buffer(
    model24: EncodecCodec, n: int
) -> None:
    x = _speech(n)
    want = model24.encode(x, 8)
    module = model24.export_module("encoder")
    with torch.inference_mode():
        alone = module(x)
        padded = torch.nn.functional.pad(x, (0, 5_000))  # garbage past `valid` must not reach a kept frame
        padded[..., n:] = torch.randn(5_000)
        inside = module(padded, torch.tensor([n]))
    assert alone.shape == (1, 8, math.ceil(n / 320))
    assert torch.equal(alone.long(), want)
    assert torch.equal(inside[..., : want.shape[-1]].long(), want)


def test_openvino_encoder_gives_eagers_codes_one_entry_per_codebook_count(
    model24: EncodecCodec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    from audiotok.codecs import backends

    monkeypatch.setenv("AUDIOTOK_CACHE_DIR", str(tmp_path / "cache"))
    assert model24.caps.auto_backends == ("openvino",)
    x = _speech(72_000)
    want = {(k, n): model24.encode(x[..., :n], k) for k in (4, 8) for n in LENGTHS[:4]}
    assert backends.apply_backend(model24, "auto") == "openvino"
    assert model24.backends == {"encoder": "openvino"}
    assert model24.fixed_shapes("encoder") is False  # one dynamic-shape model for every window length
    for (k, n), codes in want.items():
        assert torch.equal(model24.encode(x[..., :n], k), codes), (k, n)
    small = x[..., :1_000]  # at most min_samples: EnCodec pads it differently, eager runs it
    assert model24._min_samples == 1_920
    assert torch.equal(model24.encode(small, 8), codec.EncodecCodec.encode(model24, small, 8))
    model24.bandwidth = 12.0  # 16 codebooks: a run at 12 kbps makes its own entry
    assert backends.apply_backend(model24, "openvino") == "openvino"
    entries = sorted(p.name.split("-any-")[1] for p in (tmp_path / "cache" / "backends").iterdir())
    assert entries == ["q16-encodec1", "q8-encodec1"]
    assert model24.encode(x, 16).shape == (1, 16, 225)


def test_48k_model_is_not_exported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path / "torch", "encodec_48khz")
    c = _load("encodec_48khz")
    assert c.caps.auto_backends == ()
    assert c.export_tag("encoder") == ""
    assert c.export_module("encoder") is c.model.encoder


def test_cached_encoder_loads_without_the_model_and_gives_its_codes(
    model24: EncodecCodec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the 8-codebook entry cached, load_codec at 6 kbps gives a CachedEncodecCodec: the same codes
    (chunked too), short inputs and decoding on the PyTorch model it loads then; at 12 kbps no entry."""
    pytest.importorskip("openvino")
    import json

    from audiotok.codecs import backends
    from audiotok.codecs.encodec.cached import CachedEncodecCodec

    monkeypatch.setenv("AUDIOTOK_CACHE_DIR", str(tmp_path / "cache"))
    assert _load(backend="auto", codebooks=8).backends == {"encoder": "openvino"}  # makes the entry
    made = _load(codebooks=8)  # the PyTorch model on that entry
    assert backends.apply_backend(made, "auto") == "openvino"
    cached = registry.load_codec("encodec_24khz", backend="auto", codebooks=8)
    assert isinstance(cached, CachedEncodecCodec) and cached.model is None
    assert cached.export_tag("encoder") == "q8" and cached.encoder_context(1.0) == made.encoder_context(1.0)
    x = _speech(72_000)
    for n in (*LENGTHS[:4], 1_000):  # 1,000 samples: at most min_samples, the loaded model runs it
        got = cached.encode_array(x[..., :n].numpy(), 8)
        assert np.array_equal(got, made.encode(x[..., :n], 8).numpy()), n
    assert cached._eager is not None  # loaded for the short input
    chunked = _encode(cached, x[0], 8, chunk_seconds=1.0)  # type: ignore[arg-type]
    assert np.array_equal(chunked, _encode(made, x[0], 8, chunk_seconds=1.0))
    codes = made.encode(x[..., :24_000], 8)
    assert torch.equal(cached.decode(codes), made.decode(codes))
    assert isinstance(registry.load_codec("encodec_24khz", backend="auto", codebooks=16), EncodecCodec)
    assert isinstance(registry.load_codec("encodec_24khz", backend="eager", codebooks=8), EncodecCodec)

    # an entry made before the codec stored its shape gets it on the next load of the model
    gate = next((tmp_path / "cache" / "backends").glob("*-q8-*")) / "gate.json"
    gate.write_text(json.dumps({**json.loads(gate.read_text()), "codec": None}))
    assert (
        backends.cached_network(made.weights_sha256, "encoder", family="encodec", caps=made.caps, tag="q8")
        is None
    )
    assert isinstance(registry.load_codec("encodec_24khz", backend="auto", codebooks=8), EncodecCodec)
    assert json.loads(gate.read_text())["codec"] == made.shape.to_json()  # type: ignore[union-attr]
    assert isinstance(registry.load_codec("encodec_24khz", backend="auto", codebooks=8), CachedEncodecCodec)
