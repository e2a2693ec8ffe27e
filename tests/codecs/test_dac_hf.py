"""Hugging Face DacModel (optional ``hf`` extra) driven through DacCodec."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audiotok.codecs import registry
from audiotok.codecs.dac import is_hf_reference
from audiotok.codecs.dac.model import DacCodec
from audiotok.codecs.weights import sha256_file
from audiotok.errors import ModelError
from tests._hub import in_hub_cache

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = transformers.DacConfig(encoder_hidden_size=4, decoder_hidden_size=64, sampling_rate=44100)
    folder = tmp_path_factory.mktemp("hf") / "dac_tiny"
    transformers.DacModel(config).save_pretrained(folder)
    return folder


def test_hf_model_folder_encodes_and_decodes(hf_dir: Path) -> None:
    codec = registry.load_codec(str(hf_dir))
    assert isinstance(codec, DacCodec) and codec.name == str(hf_dir)
    assert (codec.sample_rate, codec.hop_length, codec.n_codebooks) == (44100, 512, 9)
    assert codec.frame_rate == 86.1328125
    assert codec.weights_path.name == "model.safetensors"
    assert codec.weights_sha256 == sha256_file(codec.weights_path)
    assert codec.encoder_receptive_field == 7978  # same encoder architecture as DAC's
    codes = codec.encode(torch.randn(2, 1, 3000) * 0.1, 4)
    assert codes.shape == (2, 4, 6)
    assert codec.decode(codes).shape == (2, 1, 6 * 512)


def test_hf_reference_detection_and_offline_error(
    hf_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert is_hf_reference(str(hf_dir)) and is_hf_reference("descript/dac_44khz")
    assert not is_hf_reference("44khz") and not is_hf_reference(str(tmp_path))
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")  # never the network: local_files_only
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelError, match="descript/dac_44khz"):
        registry.load_codec("descript/dac_44khz")


def test_a_repo_id_loads_from_the_hugging_face_cache_offline(
    hf_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``HF_HOME`` and ``HF_HUB_OFFLINE`` as huggingface_hub reads them: the cached snapshot, no network."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    snapshot = in_hub_cache(hf_dir, tmp_path / "hf", "someone/dac_tiny")
    cached = registry.load_codec("someone/dac_tiny")
    local = registry.load_codec(str(hf_dir))
    assert isinstance(cached, DacCodec) and cached.name == "someone/dac_tiny"
    assert cached.weights_path == snapshot / "model.safetensors"
    assert cached.weights_sha256 == local.weights_sha256
    x = torch.randn(1, 1, 4096) * 0.1
    codes = cached.encode(x, 9)
    assert len(torch.unique(codes)) > 8  # the random model's codes vary: the equality below can fail
    assert torch.equal(codes, local.encode(x, 9))


def test_a_repo_missing_from_the_cache_is_one_line_naming_repo_files_and_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(ModelError) as info:
        registry.load_codec("someone/not_here")
    message = str(info.value)
    assert "\n" not in message and "someone/not_here" in message
    assert "config.json" in message and "model.safetensors" in message
    assert str(tmp_path / "hf" / "hub" / "models--someone--not_here") in message
