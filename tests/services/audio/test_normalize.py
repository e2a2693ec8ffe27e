"""audio normalize: peak windowed RMS, resampling, channels, clipping policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok import audio
from audiotok.services.audio import normalize
from audiotok.services.records import FileFailure


def _write(path: Path, x: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), sr)
    return path


def test_peak_windowed_rms() -> None:
    x = torch.zeros(1, 48000)
    x[0, 9000:15000] = 0.5  # one loud 250 ms stretch, on the 62.5 ms hop grid
    assert normalize.peak_windowed_rms(x, 24000, 250.0) == pytest.approx(0.5)
    assert normalize.peak_windowed_rms(torch.full((2, 100), 0.2), 24000) == pytest.approx(0.2)


def test_batch_mirrors_tree_resamples_and_reports(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    stereo = np.stack([0.02 * np.sin(2 * np.pi * 440 * t), 0.01 * np.sin(2 * np.pi * 220 * t)], 1)
    _write(tmp_path / "in" / "sub" / "a.wav", stereo, 44100)
    (tmp_path / "in" / "bad.wav").write_bytes(b"nope")
    results = list(normalize.normalize_paths([tmp_path / "in"], tmp_path / "out", recursive=True))
    fails = [r for r in results if isinstance(r, FileFailure)]
    ok = [r for r in results if not isinstance(r, FileFailure)]
    assert len(fails) == 1 and len(ok) == 1
    out = tmp_path / "out" / "sub" / "a.wav"
    info = audio.probe(out)
    assert (info.sample_rate, info.channels) == (24000, 1)
    assert normalize.peak_windowed_rms(audio.load(out), 24000) == pytest.approx(0.1, rel=0.01)
    kept = normalize.normalize_file(
        tmp_path / "in" / "sub" / "a.wav", tmp_path / "k.wav", keep_channels=True, sample_rate=None
    )
    assert (kept.channels, kept.sample_rate) == (2, 44100)


@pytest.mark.parametrize("policy", ["scale", "clip"])
def test_clipping_policy(tmp_path: Path, policy: str) -> None:
    x = np.full(24000, 0.01)
    x[100] = 0.9  # a spike: normalising the RMS to 0.5 pushes it far past 1.0
    src = _write(tmp_path / "spike.wav", x, 24000)
    r = normalize.normalize_file(src, tmp_path / "o.wav", target_rms=0.5, clip=policy)  # type: ignore[arg-type]
    y = audio.load(tmp_path / "o.wav")
    assert r.limited and r.peak_after > 1.0
    assert float(y.abs().max()) <= 1.0
    if policy == "clip":
        assert r.clipped_samples == 1
    else:
        assert r.clipped_samples == 0 and float(y.abs().max()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow
def test_shared_audio(shared_audio: Path, tmp_path: Path) -> None:
    r = normalize.normalize_file(shared_audio / "music_44k_stereo.mp3", tmp_path / "m.wav")
    assert r.sample_rate == 24000 and r.channels == 1
    src = audio.probe(shared_audio / "music_44k_stereo.mp3").duration_s
    assert audio.probe(tmp_path / "m.wav").duration_s == pytest.approx(src, abs=1e-3)
