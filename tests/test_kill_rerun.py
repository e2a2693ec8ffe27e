"""``kill -9`` in the middle of a run, then a normal rerun: nothing temporary or half-written stays.

Each command runs as ``python -m audiotok ...`` in a subprocess and is killed
with SIGKILL at a seeded random point:

- by itself, just before its N-th ``os.replace`` (or ``os.fsync``) of a file
  under the output folder: a finished temporary file not yet moved into place,
  or, for a sidecar pair, one file moved and the other not (the worst case a
  real kill can hit); the hook is a wrapper around ``audiotok.cli.app.main``,
  nothing in the package;
- from outside (``@pytest.mark.slow``): as soon as the first temporary file or
  output appears, or after a random fraction of a measured normal run.

Then the same command runs again, normally. Under the output folder no
temporary file (``*.tmp``), commit marker (``*.group``), staging folder
(``*.incomplete``, ``*.old``) or unfinished shard may remain, and every output
must read back as valid.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from audiotok.formats import ecdc, esf, npq
from tests._token_trees import make_esf_tree, make_npq_tree
from tests.dac_helpers import write_audio

REPO = Path(__file__).resolve().parents[1]
SEED = 20240521
"""Seed of the default run's kill points (the slow tests try more)."""

CLIPS, TRIPLETS = 3, 4
"""Inputs of ``npq encode`` and of ``esf init|add``."""
POINTS = {"npq encode": 2 * CLIPS, "esf init": 4 * TRIPLETS, "esf add": TRIPLETS, "dataset build": 3}
"""Kill points of each command (:attr:`Case.points`)."""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and /proc are POSIX/Linux")

_KILLER = r"""
import os, signal, sys

under = os.path.realpath(os.environ["KILL_UNDER"]) + os.sep
call, nth = os.environ["KILL_AT"].split(":")
nth, seen = int(nth), 0


def _count(path):
    global seen
    if os.path.realpath(path).startswith(under):
        seen += 1
        if seen == nth:
            os.kill(os.getpid(), signal.SIGKILL)


if call == "replace":
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        _count(os.fspath(dst))
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace
elif call == "fsync":
    real_fsync = os.fsync

    def fsync(fd):
        fd = fd if isinstance(fd, int) else fd.fileno()
        real_fsync(fd)
        _count(os.readlink(f"/proc/self/fd/{fd}"))

    os.fsync = fsync
sys.argv = ["audiotok", *sys.argv[1:]]
from audiotok.cli.app import main

main()
"""


def _env(**extra: str) -> dict[str, str]:
    """The test process's environment (tiny model's ``HOME``, offline flags) with the repo importable."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "AUDIOTOK_DEBUG": "1", **extra}


def _cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "audiotok", *map(str, args)]


def _run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=_env(**env), timeout=300, check=False)


LEFTOVER_SUFFIXES = (".tmp", ".group", ".incomplete", ".old", ".widen")


def leftovers(folder: Path) -> list[str]:
    """Everything under ``folder`` a finished run must not leave: temporary files, markers, staging."""
    found = []
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            if name.endswith(LEFTOVER_SUFFIXES) or name.startswith(".shard-"):
                found.append(os.path.relpath(os.path.join(dirpath, name), folder))
    return sorted(found)


@dataclass
class Case:
    """One command, what it writes and how to check it."""

    argv: list[str | Path]
    """``audiotok`` arguments of the run that is killed and of the rerun."""
    out: Path
    """The output folder: kills count writes under it, leftovers are searched in it."""
    points: list[str]
    """Kill points ``"replace:N"`` / ``"fsync:N"`` the run surely reaches (N-th call under :attr:`out`)."""
    check: Callable[[], None]
    """Asserts that every output is there and valid."""


def _each(*calls: str, upto: int) -> list[str]:
    return [f"{call}:{n}" for call in calls for n in range(1, upto + 1)]


def _npq_case(root: Path) -> Case:
    clips = [write_audio(root / "in" / f"clip{i}.wav", 0.3, channels=1 + i % 2, seed=i) for i in range(CLIPS)]
    out = root / "out"

    def check() -> None:
        for clip in clips:
            tokens, header = npq.read(out / f"{clip.stem}.npq")
            assert tokens.shape[0] == header.seq_len > 0

    # one output file each: 3 fsyncs and 3 replaces under out/
    return Case(
        ["npq", "encode", root / "in", "-o", out, "--backend", "eager", "--device", "cpu"],
        out,
        _each("replace", "fsync", upto=len(clips)),
        check,
    )


def _ecdc_tree(root: Path) -> list[tuple[Path, int]]:
    """ESF triplets; returns each codes file with its T."""
    codes = make_esf_tree(root, TRIPLETS)
    return [(c, ecdc.read_meta(c).n_frames) for c in codes]


def _init_case(root: Path) -> Case:
    codes = _ecdc_tree(root / "esf")
    for c, _ in codes:  # codes only: init writes every pair anew
        for p in esf.sidecar_paths(c):
            p.unlink()

    def check() -> None:
        for c, t in codes:
            cond, meta = esf.read_sidecar(*esf.sidecar_paths(c), n_frames=t)
            assert cond.shape == (t, 0) and meta.names == ()

    # two files a pair: .npy then .json, each fsynced, then each moved
    return Case(
        ["esf", "init", "--audio-root", root / "esf", "--io-threads", "1"],
        root / "esf",
        _each("replace", "fsync", upto=2 * len(codes)),
        check,
    )


def _add_case(root: Path) -> Case:
    codes = _ecdc_tree(root / "esf")

    def check() -> None:
        for c, t in codes:
            cond, meta = esf.read_sidecar(*esf.sidecar_paths(c), n_frames=t)
            assert meta.names == ("f0", "f1", "scene") and cond.shape == (t, 3)
            np.testing.assert_array_equal(cond[:, 2], 7)

    # killed between the moves of a pair's two files (the .npy moved, the .json not): without
    # finishing the pair, the rerun would find a 3-column matrix described by 2 names
    return Case(
        [
            "esf",
            "add",
            "--audio-root",
            root / "esf",
            "-p",
            "const",
            "--const",
            "scene=7",
            "--mode",
            "overwrite",
        ],
        root / "esf",
        [f"replace:{2 * k}" for k in range(1, len(codes) + 1)],
        check,
    )


def _dataset_case(root: Path) -> Case:
    from audiotok.services.dataset.build import build_dataset

    make_npq_tree(root / "npq", 6)
    ds = root / "out" / "ds"
    build_dataset(root / "npq", ds, recursive=True)  # the dataset a rebuild replaces

    def check() -> None:
        from datasets import load_from_disk

        assert {name: len(split) for name, split in load_from_disk(str(ds)).items()} == {"train": 6}

    # replaces under out/: the train split's shard in the staging folder, then ds -> ds.old and
    # ds.incomplete -> ds (kill point 3: between the two renames, the old dataset at ds.old)
    return Case(
        ["dataset", "build", root / "npq", ds, "-r"],
        root / "out",
        _each("replace", upto=3),
        check,
    )


CASES: dict[str, Callable[[Path], Case]] = {
    "npq encode": _npq_case,
    "esf init": _init_case,
    "esf add": _add_case,
    "dataset build": _dataset_case,
}


def _rerun_and_check(case: Case, killed: subprocess.CompletedProcess[str] | subprocess.Popen[str]) -> None:
    assert killed.returncode == -signal.SIGKILL, getattr(killed, "stderr", "")
    rerun = _run(_cli(*case.argv))
    assert rerun.returncode == 0, rerun.stderr
    assert leftovers(case.out) == []
    case.check()


@pytest.mark.usefixtures("dac_home")
@pytest.mark.parametrize("command", list(CASES))
def test_a_rerun_after_kill_9_leaves_nothing_half_done(tmp_path: Path, command: str) -> None:
    case = CASES[command](tmp_path)
    at = random.Random(f"{SEED}-{command}").choice(case.points)
    killed = _run([sys.executable, "-c", _KILLER, *map(str, case.argv)], KILL_UNDER=str(case.out), KILL_AT=at)
    _rerun_and_check(case, killed)


# -- more kill points, from inside and from outside ------------------------------------------------


def _slow_points() -> list[tuple[str, int]]:
    """Every kill point of the quick commands; three seeded ones of ``npq encode`` (10 s a run)."""
    out = []
    for command in CASES:
        count = POINTS[command]
        picks = (
            random.Random(f"{SEED}-slow").sample(range(count), 3) if command == "npq encode" else range(count)
        )
        out += [(command, i) for i in picks]
    return out


@pytest.mark.slow
@pytest.mark.usefixtures("dac_home")
@pytest.mark.parametrize(("command", "point"), _slow_points())
def test_more_kill_points_from_inside(tmp_path: Path, command: str, point: int) -> None:
    case = CASES[command](tmp_path)
    assert len(case.points) == POINTS[command]
    killed = _run(
        [sys.executable, "-c", _KILLER, *map(str, case.argv)],
        KILL_UNDER=str(case.out),
        KILL_AT=case.points[point],
    )
    _rerun_and_check(case, killed)


def _first_write(out: Path, before: set[str]) -> bool:
    """Whether anything new (a temporary file, an output, a staging folder) appeared under ``out``."""
    return any(os.path.join(d, n) not in before for d, dirs, files in os.walk(out) for n in dirs + files)


@pytest.mark.slow
@pytest.mark.usefixtures("dac_home")
@pytest.mark.parametrize("how", ["first write", "random time"])
@pytest.mark.parametrize("command", list(CASES))
def test_kill_9_from_outside(tmp_path: Path, command: str, how: str) -> None:
    rng = random.Random(f"{SEED}-{command}-{how}")
    case = CASES[command](tmp_path / "killed")
    delay = 0.0
    if how == "random time":  # a random fraction of a normal run of the same command
        normal = CASES[command](tmp_path / "normal")
        start = time.perf_counter()
        assert _run(_cli(*normal.argv)).returncode == 0
        delay = rng.uniform(0.3, 1.0) * (time.perf_counter() - start)
    case.out.mkdir(parents=True, exist_ok=True)
    before = {os.path.join(d, n) for d, dirs, files in os.walk(case.out) for n in dirs + files}
    proc = subprocess.Popen(
        _cli(*case.argv), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    start, deadline = time.perf_counter(), time.perf_counter() + 120
    while proc.poll() is None and time.perf_counter() < deadline:
        if time.perf_counter() - start >= delay and (how == "random time" or _first_write(case.out, before)):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    proc.wait(timeout=60)
    if proc.returncode != -signal.SIGKILL:  # finished before the kill point: nothing to clean up
        assert proc.returncode == 0
        return
    _rerun_and_check(case, proc)
