"""DAC CLI .dac files: read token-exact, never execute pickle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from audiotok.errors import FormatError
from audiotok.formats import dacfile
from tests.dac_helpers import save_dac_file


@pytest.mark.parametrize("channels", [1, 2])
def test_reads_files_written_by_dac(tmp_path: Path, channels: int) -> None:
    codes = save_dac_file(tmp_path / "clip.dac", channels, t=37)
    got, meta = dacfile.read(tmp_path / "clip.dac")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, codes)
    assert (meta.channels, meta.n_codebooks, meta.n_frames) == (channels, 9, 37)
    assert meta.sample_rate == 48000 and meta.original_length == 44100 and meta.padding


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = np.array({"codes": _Evil(marker), "metadata": {}}, dtype=object)
    path = tmp_path / "evil.dac"
    with open(path, "wb") as fh:
        np.save(fh, evil, allow_pickle=True)
    with pytest.raises(FormatError, match=r"evil\.dac: unsafe or corrupt .*refusing to load posix\.system"):
        dacfile.read(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (np.zeros((3, 4), np.uint16), "not a dict"),
        (np.array({"codes": np.zeros((9, 4), np.uint16), "metadata": {}}, dtype=object), r"\[C, K, T\]"),
        (np.array({"codes": np.zeros((1, 9, 4), np.uint16), "metadata": {}}, dtype=object), "metadata"),
        (np.array({"nothing": 1}, dtype=object), "expected a dict"),
    ],
)
def test_malformed_files(tmp_path: Path, payload: np.ndarray, match: str) -> None:
    path = tmp_path / "bad.dac"
    with open(path, "wb") as fh:
        np.save(fh, payload, allow_pickle=True)
    with pytest.raises(FormatError, match=match):
        dacfile.read(path)


def test_not_npy_and_missing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dac"
    junk.write_bytes(b"RIFF....WAVEfmt ")
    with pytest.raises(FormatError, match=r"bad \.npy header"):
        dacfile.read(junk)
    with pytest.raises(FormatError, match="no such file"):
        dacfile.read(tmp_path / "missing.dac")
