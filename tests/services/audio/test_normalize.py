"""audio normalize: peak windowed RMS, resampling, channels, clipping policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok import audio
from audiotok.errors import UsageError
from audiotok.services.audio import normalize
from tests._records import collect, failed


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
    summary, results = collect(normalize.normalize_paths, [tmp_path / "in"], tmp_path / "out", recursive=True)
    fails = failed(results)
    ok = [r for r in results if isinstance(r, normalize.NormalizeRecord)]
    assert len(fails) == 1 and len(ok) == 1
    assert (summary.files_written, summary.files_failed) == (1, 1)
    assert (ok[0].input, ok[0].output) == (
        str(tmp_path / "in" / "sub" / "a.wav"),
        str(tmp_path / "out" / "sub" / "a.wav"),
    )
    out = tmp_path / "out" / "sub" / "a.wav"
    info = audio.probe(out)
    assert (info.sample_rate, info.channels) == (24000, 1)
    assert normalize.peak_windowed_rms(audio.load(out), 24000) == pytest.approx(0.1, rel=0.01)
    kept = normalize.normalize_file(
        tmp_path / "in" / "sub" / "a.wav", tmp_path / "k.wav", keep_channels=True, sample_rate=None
    )
    assert (kept.channels, kept.sample_rate) == (2, 44100)


def test_same_stem_collision_and_bad_target_are_refused_before_any_work(tmp_path: Path) -> None:
    tone = 0.02 * np.sin(np.arange(2400) / 3)
    _write(tmp_path / "in" / "a.wav", tone, 24000)
    _write(tmp_path / "in" / "a.flac", tone, 24000)
    with pytest.raises(UsageError) as info:
        normalize.normalize_paths([tmp_path / "in"], tmp_path / "out")
    assert str(tmp_path / "in" / "a.flac") in str(info.value) and str(tmp_path / "in" / "a.wav") in str(
        info.value
    )
    with pytest.raises(UsageError, match="`target_rms` must be in") as bad:
        normalize.normalize_paths([tmp_path / "in" / "a.wav"], tmp_path / "out", target_rms=2.0)
    assert bad.value.param == "target_rms"
    assert not (tmp_path / "out").exists()


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
