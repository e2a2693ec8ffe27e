"""Zero-window codes: kept in memory and on disk, checked when read back."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

from audiotok.codecs import registry
from audiotok.codecs.batch import Encoded, Stream, StreamEncoder
from audiotok.codecs.plugin import Codec
from audiotok.codecs.silence import SILENCE_CACHE, SilenceCache
from audiotok.codecs.weights import CACHE_ENV
from tests._encodec import in_memory


def test_memory_only_keeps_the_most_recent_lengths() -> None:
    cache = SilenceCache(hop_length=512)
    for n in range(SILENCE_CACHE + 1):
        cache.put(512 * (n + 1), np.full((9, n + 1), n, dtype=np.int64))
    assert cache.get(512, 1) is None  # the oldest was dropped
    got = cache.get(512 * 2, 4)
    assert got is not None and got.shape == (4, 2) and (got == 1).all()
    assert cache.get(512 * 2, 10) is None  # fewer codebooks known than asked for


def test_disk_copy_outlives_the_object_and_bad_files_are_ignored(tmp_path: Path) -> None:
    codes = np.arange(9 * 3, dtype=np.int64).reshape(9, 3)
    SilenceCache(512, tmp_path).put(1500, codes)
    assert {p.name for p in tmp_path.iterdir()} == {"1500.npy"}  # no temporary file left
    again = SilenceCache(512, tmp_path).get(1500, 9)
    assert again is not None and np.array_equal(again, codes)
    (tmp_path / "1500.npy").write_bytes(b"not numpy")
    assert SilenceCache(512, tmp_path).get(1500, 1) is None
    np.save(tmp_path / "1500.npy", codes[:, :2])  # frames do not fit 1500 samples at hop 512
    assert SilenceCache(512, tmp_path).get(1500, 1) is None
    np.save(tmp_path / "1500.npy", np.array([object()], dtype=object), allow_pickle=True)  # never unpickled
    assert SilenceCache(512, tmp_path).get(1500, 1) is None


@pytest.fixture
def dac(dac_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Codec:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return registry.load_codec("dac-44khz")


def test_a_later_run_takes_zero_windows_from_disk(dac: Codec, tmp_path: Path) -> None:
    """Dual mono: the first run encodes each zero window length once; the next encodes only Mid."""
    rng = np.random.default_rng(0)
    mid = (0.1 * rng.standard_normal(40_000)).astype(np.float32)  # 79 frames: 20 windows, most interior
    x = np.stack([mid, np.zeros_like(mid)])  # Mid/Side of a dual-mono file

    def run() -> tuple[np.ndarray, int]:
        enc = StreamEncoder(dac, chunk_seconds=0.05)
        stream = Stream(x.shape[1], (9, 4), lambda: contextlib.nullcontext(in_memory(x, 44100)))
        (done,) = [e for e in enc.run([stream]) if isinstance(e, Encoded)]
        return done.codes, enc.rows

    first, first_rows = run()
    plain = StreamEncoder(dac, chunk_seconds=0.05, reuse_silence=False)
    stream = Stream(x.shape[1], (9, 4), lambda: contextlib.nullcontext(in_memory(x, 44100)))
    (want,) = [e for e in plain.run([stream]) if isinstance(e, Encoded)]
    windows = plain.rows // 2
    assert np.array_equal(first, want.codes)
    assert windows < first_rows < 2 * windows  # Mid of every window, Side once per window length
    second, second_rows = run()
    assert np.array_equal(second, want.codes) and second_rows == windows
    (folder,) = (tmp_path / "cache" / "silence").iterdir()
    assert folder.name.startswith(dac.weights_sha256[:24] + "-eager-")
