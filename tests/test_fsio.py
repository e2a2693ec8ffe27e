"""Atomic writes: a finished file or nothing; OS failures become one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from audiotok._fsio import atomic_write, atomic_write_group, remove_stale_temps, write_bytes_atomic
from audiotok.errors import OutputError

REPO = Path(__file__).resolve().parents[1]


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


# -- leftovers of killed writers ---------------------------------------------------------------

HEX = "0123456789ab"


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_remove_stale_temps_removes_only_the_outputs_temps(tmp_path: Path) -> None:
    out = tmp_path / "a.npq"
    out.write_bytes(b"done")
    keep = [
        ".a.npq.backup.tmp",  # not our name pattern
        f".a.npq.{HEX}.tmp.bak",
        f".a.npq.{HEX[:-1]}.tmp",  # 11 hex digits
        f".b.npq.{HEX}.tmp",  # another output's temp: perhaps another shard's live write
        f"a.npq.{HEX}.tmp",  # not hidden
        f"..a.npq.{HEX}.tmp",
    ]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".a.npq.{HEX.upper()}.tmp").write_bytes(b"x")  # upper case: not secrets.token_hex's
    keep.append(f".a.npq.{HEX.upper()}.tmp")
    (tmp_path / f".a.npq.{'f' * 12}.tmp").mkdir()  # a folder of that name is not a temp file
    keep.append(f".a.npq.{'f' * 12}.tmp")
    (tmp_path / f".a.npq.{'e' * 12}.tmp").symlink_to(out)  # nor is a link
    keep.append(f".a.npq.{'e' * 12}.tmp")
    stale = [tmp_path / f".a.npq.{HEX}.tmp", tmp_path / f".a.npq.{'9' * 12}.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    swept = remove_stale_temps(out)
    assert sorted(swept.removed) == sorted(stale) and swept.completed == []
    assert _names(tmp_path) == sorted(["a.npq", *keep])
    assert out.read_bytes() == b"done"
    assert not remove_stale_temps(out)  # nothing left: an empty Swept is false


def test_remove_stale_temps_of_a_real_failed_write(tmp_path: Path) -> None:
    """The temp file atomic_write makes matches what remove_stale_temps removes."""
    dest = tmp_path / "sub dir" / "x [1].wav"  # glob characters and spaces in names
    real_unlink = Path.unlink

    def keep_temp(self: Path, missing_ok: bool = False) -> None:
        if self.name.endswith(".tmp"):
            return  # as if the process died before cleaning up
        real_unlink(self, missing_ok=missing_ok)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "unlink", keep_temp)
        with pytest.raises(RuntimeError), atomic_write(dest) as fh:
            fh.write(b"half")
            raise RuntimeError("killed")
    (left,) = (tmp_path / "sub dir").iterdir()
    assert left.name.startswith(".x [1].wav.") and left.name.endswith(".tmp")
    assert remove_stale_temps(dest).removed == [left]
    assert list((tmp_path / "sub dir").iterdir()) == []


def test_remove_stale_temps_many_outputs_and_missing_folders(tmp_path: Path) -> None:
    outs = [tmp_path / d / f"f{i}.npq" for d in ("x", "y") for i in range(3)]
    for out in outs:
        out.parent.mkdir(exist_ok=True)
        (out.parent / f".{out.name}.{HEX}.tmp").write_bytes(b"")
    (tmp_path / "x" / f".other.npq.{HEX}.tmp").write_bytes(b"")
    swept = remove_stale_temps(*outs, tmp_path / "absent" / "z.npq", str(tmp_path / "x" / "f0.npq"))
    assert len(swept.removed) == 6
    assert _names(tmp_path / "x") == [f".other.npq.{HEX}.tmp"] and _names(tmp_path / "y") == []


_KILL_BETWEEN_MOVES = r"""
import os, signal, sys
from audiotok import _fsio

real_replace, calls = os.replace, []

def replace(src, dst):
    if calls:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 between the group's two moves
    calls.append(dst)
    real_replace(src, dst)

os.replace = replace
npy, js = sys.argv[1], sys.argv[2]
with _fsio.atomic_write_group([npy, js]) as (a, b):
    a.write(b"new npy")
    b.write(b"new json")
"""


def test_a_group_killed_between_its_moves_is_finished_by_the_sweep(tmp_path: Path) -> None:
    npy, js = tmp_path / "x.cond.npy", tmp_path / "x.cond.json"
    with atomic_write_group([npy, js]) as (a, b):
        a.write(b"old npy")
        b.write(b"old json")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", _KILL_BETWEEN_MOVES, str(npy), str(js)], env=env, check=False
    )
    assert done.returncode == -signal.SIGKILL
    assert (npy.read_bytes(), js.read_bytes()) == (b"new npy", b"old json")  # half a group on disk
    assert len(list(tmp_path.glob(".x.cond.npy.*.group"))) == 1
    swept = remove_stale_temps(npy, js)
    assert swept.completed == [js] and len(swept.removed) == 1  # the marker
    assert (npy.read_bytes(), js.read_bytes()) == (b"new npy", b"new json")
    assert _names(tmp_path) == ["x.cond.json", "x.cond.npy"]


def test_an_interrupt_between_the_moves_finishes_the_group(tmp_path: Path) -> None:
    npy, js = tmp_path / "x.cond.npy", tmp_path / "x.cond.json"
    real_replace = os.replace
    calls: list[str] = []

    def replace(src: str, dst: str) -> None:
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", replace)
        with pytest.raises(KeyboardInterrupt), atomic_write_group([npy, js]) as (a, b):
            a.write(b"npy")
            b.write(b"json")
    assert (npy.read_bytes(), js.read_bytes()) == (b"npy", b"json")
    assert _names(tmp_path) == ["x.cond.json", "x.cond.npy"]


def test_a_failure_before_the_first_move_leaves_nothing(tmp_path: Path) -> None:
    npy, js = tmp_path / "x.cond.npy", tmp_path / "x.cond.json"

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "replace", refuse)
        with pytest.raises(OutputError, match="No space left"), atomic_write_group([npy, js]) as (a, _):
            a.write(b"npy")
    assert list(tmp_path.iterdir()) == []


def test_unfinished_or_foreign_markers_move_nothing(tmp_path: Path) -> None:
    npy, js, victim = tmp_path / "x.cond.npy", tmp_path / "x.cond.json", tmp_path / "victim"
    for p in (npy, js, victim):
        p.write_bytes(b"old")
    temp = tmp_path / f".x.cond.json.{HEX}.tmp"
    temp.write_bytes(b"new")
    (tmp_path / f".x.cond.npy.{'1' * 12}.group").write_bytes(b'{"repl')  # died while writing it
    swept = remove_stale_temps(npy, js)
    assert swept.completed == [] and len(swept.removed) == 2 and js.read_bytes() == b"old"
    temp.write_bytes(b"new")
    pairs = [[temp.name, "victim"], [str(victim), "x.cond.json"], ["../x", "x.cond.json"]]
    (tmp_path / f".x.cond.npy.{'2' * 12}.group").write_text(json.dumps({"replace": pairs}))
    swept = remove_stale_temps(npy)
    assert swept.completed == [] and victim.read_bytes() == b"old" and js.read_bytes() == b"old"
    assert _names(tmp_path) == [temp.name, "victim", "x.cond.json", "x.cond.npy"]  # json's: not swept
