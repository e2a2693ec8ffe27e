"""Codec registry: names and aliases, families, checkpoint paths to loaders, weights and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiotok.codecs import registry
from audiotok.codecs.dac.model import DacCodec
from audiotok.codecs.encodec.model import ENCODEC_MODELS, EncodecCodec
from audiotok.codecs.weights import cache_path, fetch
from audiotok.errors import ModelError, UsageError
from tests._encodec import install

NAMES = {
    "dac-44khz": "44khz",
    "dac-24khz": "24khz",
    "dac-16khz": "16khz",
    "dac-44khz-16kbps": "44khz-16kbps",
    "encodec-24khz": "encodec_24khz",
    "encodec-48khz": "encodec_48khz",
    "mimi": "mimi",
    "snac-24khz": "snac_24khz",
    "snac-32khz": "snac_32khz",
    "snac-44khz": "snac_44khz",
    "xcodec2": "xcodec2",
    "neucodec": "neucodec",
    "xcodec-hubert-librispeech": "xcodec-hubert-librispeech",
    "xcodec-wavlm-mls": "xcodec-wavlm-mls",
    "xcodec-wavlm-more-data": "xcodec-wavlm-more-data",
    "xcodec-hubert-general": "xcodec-hubert-general",
    "xcodec-hubert-general-balanced": "xcodec-hubert-general-balanced",
    "higgs-audio-v2": "higgs-audio-v2",
}


def test_names_and_aliases() -> None:
    assert {e.name: e.short_name for e in registry.CODECS} == NAMES
    for name, alias in NAMES.items():
        assert registry.lookup(name) is registry.lookup(alias) is registry.lookup(f" {name.upper()} ")
    assert [e.short_name for e in registry.entries("dac")] == ["44khz", "24khz", "16khz", "44khz-16kbps"]
    assert [e.name for e in registry.entries("encodec")] == ["encodec-24khz", "encodec-48khz"]
    assert registry.lookup("dac_44khz") is None


def test_facts() -> None:
    assert registry.get("44khz").frame_rate == 86.1328125
    assert (registry.get("encodec-48khz").channels, registry.get("encodec-48khz").frame_rate) == (2, 150.0)
    for entry in registry.entries("encodec"):  # the registry and the codec module agree
        spec = ENCODEC_MODELS[entry.short_name]
        assert (spec.sample_rate, spec.channels, spec.hop_length) == (
            entry.sample_rate, entry.channels, entry.hop_length,
        )  # fmt: skip
        assert spec.n_codebooks(max(spec.bandwidths)) == entry.n_codebooks


def test_unknown_and_wrong_family_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"unknown model '99khz'; known: dac-44khz, 44khz, "):
        registry.get("99khz")
    with pytest.raises(UsageError, match=r"unknown EnCodec model 'x'; known: encodec-24khz, encodec_24khz, "):
        registry.get("x", "encodec")
    with pytest.raises(UsageError, match="'44khz' is a DAC model, not an EnCodec model"):
        registry.get("44khz", "encodec")
    with pytest.raises(UsageError, match="is an EnCodec model, not a DAC model"):
        registry.load_codec("encodec-24khz", family="dac")


def test_checkpoint_paths_go_to_their_loaders(
    tiny_weights: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dac = registry.load_codec(tiny_weights)
    assert isinstance(dac, DacCodec) and dac.name == str(tiny_weights)
    install(monkeypatch, tmp_path / "torch", "encodec_48khz")
    th = next((tmp_path / "torch").rglob("*.th"))
    enc = registry.load_codec(th)  # the architecture is read from the state dict: 2 channels
    assert isinstance(enc, EncodecCodec) and (enc.name, enc.channels) == ("encodec_48khz", 2)
    with pytest.raises(UsageError, match="an EnCodec model checkpoint, not a DAC model"):
        registry.load_codec(th, family="dac")
    for missing in ("gone.th", "gone.pth", "gone.pt"):
        with pytest.raises(ModelError, match="no such checkpoint file"):
            registry.load_codec(tmp_path / missing)
    with pytest.raises(
        ModelError, match=r"not a known model name \(dac-44khz, 44khz, .*, mimi, .*higgs-audio-v2\)"
    ):
        registry.load_codec(str(tmp_path / "gone"))


def test_weights_cache_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    dac = registry.get("dac-24khz").weights
    assert cache_path(dac) == tmp_path / "home/.cache/descript/dac/weights_24khz_8kbps_0.0.4.pth"
    enc = registry.get("encodec-24khz").weights
    assert cache_path(enc) == tmp_path / "torch/hub/checkpoints/encodec_24khz-d7cc33bc.th"
    assert enc.url == "https://dl.fbaipublicfiles.com/encodec/v0/encodec_24khz-d7cc33bc.th"
    assert enc.sha256_prefix == "d7cc33bc"


def test_offline_encodec_names_url_and_cache_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        registry.load_codec("encodec-48khz")
    message = str(info.value)
    assert "downloads are off" in message and "\n" not in message
    assert "https://dl.fbaipublicfiles.com/encodec/v0/encodec_48khz-7e698e3e.th" in message
    assert str(tmp_path / "torch/hub/checkpoints/encodec_48khz-7e698e3e.th") in message
    with pytest.raises(ModelError, match="downloads are off"):
        fetch("44khz", registry.get("44khz").weights, download=False)
