"""Both codecs satisfy the Codec protocol, agree with their registry entries, and have its shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiotok.codecs import registry
from audiotok.codecs.plugin import Codec, Context
from tests._encodec import install

MEMBERS = (
    "name", "sample_rate", "channels", "hop_length", "frame_rate", "n_codebooks", "codebook_size",
    "encoder_context_frames", "decoder_context_frames", "weights_sha256", "encode", "decode",
)  # fmt: skip


@pytest.fixture(params=["dac-44khz", "encodec-24khz", "encodec-48khz"])
def codec(request: pytest.FixtureRequest, dac_home: Path, monkeypatch: pytest.MonkeyPatch) -> Codec:
    name: str = request.param
    if name.startswith("encodec"):
        install(monkeypatch, dac_home / "torch", registry.get(name).short_name)
    return registry.load_codec(name)


def test_satisfies_the_protocol_and_matches_its_entry(codec: Codec) -> None:
    assert isinstance(codec, Codec)
    assert all(hasattr(codec, m) for m in MEMBERS)
    entry = registry.get(codec.name)
    assert codec.name == entry.short_name
    facts = ("sample_rate", "channels", "hop_length", "n_codebooks", "codebook_size", "frame_rate")
    assert {f: getattr(codec, f) for f in facts} == {f: getattr(entry, f) for f in facts}
    assert codec.frame_rate == codec.sample_rate / codec.hop_length
    assert len(codec.weights_sha256) == 64
    for ctx in (codec.encoder_context_frames, codec.decoder_context_frames):
        assert isinstance(ctx, Context) and ctx.before > 0 and ctx.after >= 0


def test_encode_decode_shapes(codec: Codec) -> None:
    s = 3 * codec.hop_length + 7  # not a whole number of frames: T = ceil(S / hop)
    audio = torch.randn(2, codec.channels, s) * 0.1
    codes = codec.encode(audio, 2)
    assert codes.shape == (2, 2, 4) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < codec.codebook_size
    wav = codec.decode(codes)
    assert wav.shape == (2, codec.channels, 4 * codec.hop_length) and wav.dtype == torch.float32


def test_shape_errors(codec: Codec) -> None:
    with pytest.raises(ValueError, match="n_codebooks"):
        codec.encode(torch.zeros(1, codec.channels, 640), codec.n_codebooks + 1)
    with pytest.raises(ValueError, match="audio must be"):
        codec.encode(torch.zeros(1, 3, 640), 1)
    with pytest.raises(ValueError, match="codes must be"):
        codec.decode(torch.zeros(1, codec.n_codebooks + 1, 4, dtype=torch.long))


def test_contexts_express_each_codec(codec: Codec) -> None:
    """DAC: what a frame depends on, both sides; EnCodec: 1 s before, after only if not causal."""
    expected = {
        "44khz": (Context(8, 8), Context(12, 12)),  # reach 3733 / 4244 samples (tiny DAC: same strides)
        "encodec_24khz": (Context(75, 0), Context(75, 75)),
        "encodec_48khz": (Context(150, 150), Context(75, 75)),
    }
    assert (codec.encoder_context_frames, codec.decoder_context_frames) == expected[codec.name]
