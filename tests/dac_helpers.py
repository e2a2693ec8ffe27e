"""Tiny DAC weights in a temporary descript cache, and synthetic audio files, for tests.

Registered as a pytest plugin in tests/conftest.py.
Nothing here touches the network: ``AUDIOTOK_OFFLINE=1`` is set with the cache.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

TINY = {"encoder_dim": 4, "decoder_dim": 64}


def save_dac(path: Path, seed: int = 0, **kwargs: object) -> Path:
    """Save a randomly initialised DAC with DAC's own ``save()`` (weights layout, no package)."""
    import dac
    import torch

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = dac.DAC(**kwargs)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path), package=False)
    return path


def save_dac_file(
    path: Path,
    channels: int = 1,
    k: int = 9,
    t: int = 40,
    seed: int = 0,
    sample_rate: int = 48000,
    dac_version: str | None = "1.0.0",
) -> np.ndarray:
    """Write a DAC CLI ``.dac`` file (``DACFile.save``) with random codes; return them ``[C, K, T]``.

    ``DACFile.save`` always writes its own version (1.0.0); another ``dac_version``
    (``None``: none at all) is put into the saved file's metadata afterwards.
    """
    import torch
    from dac.model.base import DACFile

    codes = torch.randint(0, 1024, (channels, k, t), generator=torch.Generator().manual_seed(seed))
    DACFile(
        codes=codes, chunk_length=t, original_length=44100, input_db=torch.tensor([-18.0]),
        channels=channels, sample_rate=sample_rate, padding=True, dac_version="1.0.0",
    ).save(path)  # fmt: skip
    if dac_version != "1.0.0":
        artifacts = np.load(path, allow_pickle=True)[()]  # the file just written: trusted
        artifacts["metadata"].pop("dac_version")
        if dac_version is not None:
            artifacts["metadata"]["dac_version"] = dac_version
        with open(path, "wb") as fh:
            np.save(fh, artifacts)
    return codes.numpy()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 44.1 kHz DAC checkpoint (encoder_dim=4, decoder_dim=64, 9 codebooks)."""
    return save_dac(tmp_path_factory.mktemp("dac") / "tiny.pth", **TINY)


@pytest.fixture
def dac_home(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$HOME`` with the tiny model cached as ``44khz`` (``weights_44khz_8kbps_0.0.1.pth``)."""
    home = tmp_path / "home"
    cache = home / ".cache" / "descript" / "dac"
    cache.mkdir(parents=True)
    (cache / "weights_44khz_8kbps_0.0.1.pth").write_bytes(tiny_weights.read_bytes())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")
    return home


def write_audio(path: Path, seconds: float, sr: int = 44100, channels: int = 2, seed: int = 0) -> Path:
    """Write a WAV (or FLAC, by suffix) of tones plus noise, channels differing."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    cols = [
        0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(t.size)
        for c in range(channels)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack(cols, axis=1).astype(np.float32), sr)
    return path
