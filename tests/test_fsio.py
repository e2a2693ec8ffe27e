"""Atomic writes: a finished file or nothing; OS failures become one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audiotok._fsio import atomic_write, atomic_write_group, write_bytes_atomic
from audiotok.errors import OutputError


def test_replaces_only_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    write_bytes_atomic(dest, b"old")
    with pytest.raises(RuntimeError), atomic_write(dest) as fh:
        fh.write(b"new, half")
        raise RuntimeError("boom")
    assert dest.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_group_is_all_or_nothing(tmp_path: Path) -> None:
    a, b = tmp_path / "x.cond.npy", tmp_path / "x.cond.json"
    with pytest.raises(ValueError), atomic_write_group([a, b]) as (fa, fb):
        fa.write(b"npy")
        raise ValueError("json failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_write_group([a, b]) as (fa, fb):
        fa.write(b"npy")
        fb.write(b"{}")
    assert a.read_bytes() == b"npy" and b.read_bytes() == b"{}"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_unwritable_folder_is_an_output_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"locked/f\.bin: cannot write"):
            write_bytes_atomic(locked / "f.bin", b"x")
    finally:
        locked.chmod(0o700)


def test_os_error_while_writing_is_an_output_error(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    with pytest.raises(OutputError, match=r"f\.bin: cannot write: No space left"), atomic_write(dest) as fh:
        fh.write(b"x")
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="cannot write"):
        write_bytes_atomic(tmp_path / "file" / "child.bin", b"x")


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o644
