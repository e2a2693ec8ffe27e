"""Streaming sources: forward-only reads, channel mapping, block resampling equal to whole-file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiotok import audio
from audiotok.audio.stream import FileSource, ResampledSource
from audiotok.errors import InputError
from tests.dac_helpers import write_audio


@pytest.mark.parametrize(("sr", "mode"), [(48000, "mid-side"), (22050, "mono"), (44100, "keep")])
def test_blockwise_resampling_equals_whole_file(tmp_path: Path, sr: int, mode: audio.ChannelMode) -> None:
    wav = write_audio(tmp_path / "a.wav", 1.3, sr=sr)
    whole = audio.load(wav, sample_rate=44100, mode=mode).numpy()
    with FileSource(wav, mode) as src:
        res = ResampledSource(src, 44100)
        assert res.length == whole.shape[1]
        step, ctx, parts, s = 10_000, 3_000, [], 0
        while s < res.length:
            a = max(0, s - ctx)
            parts.append(res.read(a, s + step + ctx)[:, s - a : s - a + step])
            s += step
    # Same kernel on aligned blocks: equal up to float32 summation order (exact at 48 kHz).
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=0, atol=1e-6)


def test_reads_must_move_forward(tmp_path: Path) -> None:
    with FileSource(write_audio(tmp_path / "a.wav", 0.5), "mid-side") as src:
        left_right = audio.read(src.path)
        np.testing.assert_allclose(src.read(100, 200), audio.to_mid_side(left_right)[:, 100:200])
        assert src.read(src.length - 5, src.length + 100).shape == (2, 5)
        with pytest.raises(ValueError, match="forwards"):
            src.read(50, 60)


def test_channel_and_decoding_errors(tmp_path: Path) -> None:
    three = write_audio(tmp_path / "three.wav", 0.2, channels=3)
    with pytest.raises(InputError, match="Mid/Side needs 2 channels"):
        FileSource(three, "mid-side")
    assert FileSource(three, "mono").channels == 1
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"ID3" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"junk\.mp3"):
        FileSource(junk, "mono").read(0, 10)


def test_stereo_mode_duplicates_mono_and_keeps_stereo(tmp_path: Path) -> None:
    mono = write_audio(tmp_path / "m.wav", 0.1, channels=1)
    with FileSource(mono, "stereo") as src:
        both = src.read(0, src.length)
    assert both.shape[0] == 2 and np.array_equal(both[0], both[1])
    np.testing.assert_array_equal(both[0], audio.read(mono)[0])
    stereo = write_audio(tmp_path / "s.wav", 0.1)
    with FileSource(stereo, "stereo") as src:
        np.testing.assert_array_equal(src.read(0, src.length), audio.read(stereo))
    with pytest.raises(InputError, match="stereo takes 1 or 2 channels, file has 3"):
        FileSource(write_audio(tmp_path / "t.wav", 0.1, channels=3), "stereo")
