"""Chunk invariance with the full-size 44.1 kHz DAC architecture on a real 20 s recording.

Random weights are saved with DAC's own ``save()`` into a temporary descript
cache. Codes from 2 s chunks must match a whole-file encode on >= 99.9 % of
tokens (measured: 100 %). The chunk context is the encoder's whole receptive field, so what may
remain are float32 rounding differences (convolutions over windows of other
lengths sum in another order) that flip a nearest-codebook choice on a tie,
and such a flip changes the residual of every later codebook in that frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiotok.formats import npq
from audiotok.services.npq.encode import EncodeOptions, encode_paths
from tests.dac_helpers import save_dac


@pytest.fixture(scope="module")
def full_size_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    save_dac(home / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth", seed=1)
    return home


@pytest.mark.slow
def test_two_second_chunks_match_whole_file(
    shared_audio: Path, full_size_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(full_size_home))
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")
    clip = shared_audio / "speech_music_24k_mono.wav"  # 20.0 s
    runs = {}
    for name, seconds in (("whole", 30.0), ("chunked", 2.0)):
        opts = EncodeOptions(mono=True, codebooks=9, chunk_seconds=seconds)
        summary = encode_paths([str(clip)], outdir=tmp_path / name, opts=opts)
        assert summary.files_ok == 1, summary.failures
        runs[name], header = npq.read(tmp_path / name / "speech_music_24k_mono.npq")
        assert header.seq_len == 1723  # ceil(20 s * 44100 / 512)
    same = float(np.mean(runs["whole"] == runs["chunked"]))
    print(f"identical tokens: {same:.6f}")
    assert same >= 0.999
