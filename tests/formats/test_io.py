"""audiotok.formats._io: every OSError of a format reader is one FormatError line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from audiotok.errors import FormatError
from audiotok.formats import _io, dacfile, ecdc, esf, npq


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), "no such file"),
        (IsADirectoryError(errno.EISDIR, "Is a directory"), "is a directory, not an .npq file"),
        (PermissionError(errno.EACCES, "Permission denied"), "cannot read: Permission denied"),
        (OSError("disk on fire"), "cannot read: disk on fire"),
    ],
)
def test_io_error(exc: OSError, reason: str) -> None:
    err = _io.io_error(exc, "x.npq", "an .npq file")
    assert (err.reason, err.path, str(err)) == (reason, "x.npq", f"x.npq: {reason}")


def test_read_small(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"x" * 100)
    assert _io.read_small(path, 100, "a file") == b"x" * 100
    with pytest.raises(FormatError, match="a file larger than 0 MiB"):
        _io.read_small(path, 99, "a file")


def test_read_small_reads_on_after_a_short_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b"0123456789")
    real_read = os.read
    monkeypatch.setattr(_io.os, "read", lambda fd, n: real_read(fd, min(n, 3)))
    assert _io.read_small(path, 100, "a file") == b"0123456789"
    with pytest.raises(FormatError, match="larger than"):
        _io.read_small(path, 5, "a file")


READERS = {
    "npq": (npq.read_header, "an .npq file"),
    "ecdc": (ecdc.read, "an .ecdc file"),
    "dac": (dacfile.read, "a .dac file"),
    "npy": (esf.read_npy_header, None),
    "cond json": (esf.read_cond_meta, None),
}


@pytest.mark.parametrize("name", READERS)
def test_every_reader_reports_a_missing_file_the_same_way(tmp_path: Path, name: str) -> None:
    reader, _ = READERS[name]
    with pytest.raises(FormatError) as info:
        reader(tmp_path / "nope")
    assert str(info.value) == f"{tmp_path / 'nope'}: no such file"


@pytest.mark.parametrize("name", ["npq", "ecdc", "dac"])
def test_readers_name_what_a_folder_should_have_been(tmp_path: Path, name: str) -> None:
    reader, what = READERS[name]
    with pytest.raises(FormatError) as info:
        reader(tmp_path)
    assert info.value.reason == f"is a directory, not {what}"
