"""Every registered token sink against the :class:`~audiotok.sinks.base.TokenSink` contract.

Cases come from :func:`audiotok.sinks.sinks`, so a new sink is tested without
editing this file. Each writes the random codes of one planned file (a real
0.2 s WAV, ``_models.sink_case``) and checks: ``accepts`` refuses codes of
several frame rates and takes plain ones; ``write`` gives a ``written``
record of the sink's ``record_type`` and an output that a new run's
``resume`` skips and ``read`` gives back (codes, groups, extras); an invalid
leftover is not skipped; a write that fails, or a process killed (SIGKILL)
between its temporary file and the move into place, leaves nothing at the
destination, and after a normal rerun no temporary file beside it.

``hf`` writes each item as a staged ``.npq`` (``-o OUT`` -> ``OUT.tokens``)
and builds the dataset at ``commit``; it needs ``-o`` (the case without one
checks that it says so). The sharded sinks (``parquet``, ``shar``,
``webdataset``) write no file per item: their items' paths name their place
in a shard plan, and a kill mid-shard is tested in ``tests/sinks/test_sharded.py``.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiotok import _fsio
from audiotok.errors import AudiotokError, UsageError
from audiotok.sinks import TokenSink, sinks
from audiotok.tokens import TokenLayout
from tests.conformance._models import SinkCase, sink_case, sink_context

REPO = Path(__file__).resolve().parents[2]
SINKS = sorted(sinks())


def _leftovers(dst: Path) -> list[Path]:
    """The temporary files and commit markers of ``dst`` beside it (``.NAME.<hex>.tmp|group``)."""
    if not dst.parent.is_dir():
        return []
    prefix = f".{dst.name}."
    found = (p for p in dst.parent.iterdir() if p.name.startswith(prefix))
    return sorted(p for p in found if p.suffix in (".tmp", ".group"))


def _reads_back(cls: type[TokenSink]) -> bool:
    return cls.read.__func__ is not TokenSink.read.__func__  # type: ignore[attr-defined]


def _written(case: SinkCase) -> Any:
    """Write the case's codes, commit, and check the record."""
    job = case.job
    record = case.sink.write(job, case.codes, 0.25)
    case.sink.commit()
    cls = type(case.sink)
    assert isinstance(record, cls.record_type), type(record)
    assert (record.status, record.input, record.output) == ("written", str(job.src), str(job.dst))
    assert record.error is None
    assert case.outdir.is_dir()  # what the user named with -o (hf: the dataset, built at commit)
    if not cls.sharded:
        assert job.dst.is_file()
    assert _leftovers(job.dst) == []
    return record


def _check_output(case: SinkCase, tmp: Path) -> None:
    """A new run skips the output, and reads back the codes, groups and extras written."""
    cls = type(case.sink)
    job = case.job
    again = sink_case(cls.name, tmp, groups=job.groups, extras=dict(case.codes.extras))
    skipped = again.sink.resume(job.src, job.dst, job)
    assert isinstance(skipped, cls.record_type), skipped
    assert (skipped.status, skipped.input, skipped.output) == ("skipped", str(job.src), str(job.dst))
    if not _reads_back(cls):
        return
    stored = cls.read(job.dst)
    np.testing.assert_array_equal(np.asarray(stored.codes.array), case.codes.array)
    assert stored.codes.groups == case.codes.groups
    assert dict(stored.codes.extras) == dict(case.codes.extras)
    assert stored.frame_rate == pytest.approx(case.sink.context.info.frame_rate)
    head = cls.head(job.dst)
    if head is not None:
        assert head.duration_s == pytest.approx(job.n_frames / case.sink.context.info.frame_rate)


@pytest.fixture(params=SINKS)
def name(request: pytest.FixtureRequest) -> str:
    """Every registered sink."""
    return str(request.param)


# -- accepts ---------------------------------------------------------------------------------------------


def test_accepts_refuses_codebooks_of_several_frame_rates(name: str) -> None:
    cls = sinks()[name]
    strided = sink_context(layout=TokenLayout((1024,) * 3, strides=(4, 2, 1)))
    if cls.strided:  # it holds them (npq: as rows), never flattened silently
        cls.accepts(strided, (3,))
    else:
        with pytest.raises(UsageError):
            cls.accepts(strided, (3,))
    cls.accepts(sink_context(), (4,))  # and takes one coded channel of plain codes


# -- write, resume, read -----------------------------------------------------------------------------------


def test_write_then_a_new_run_skips_it_and_reads_it_back(name: str, tmp_path: Path) -> None:
    case = sink_case(name, tmp_path)
    assert case.sink.resume(case.job.src, case.job.dst, case.job) is None  # nothing there yet
    planned = case.sink.planned(case.job)
    assert isinstance(planned, type(case.sink).record_type) and planned.status == "planned"
    assert not case.job.dst.exists()  # a dry run writes nothing
    _written(case)
    _check_output(case, tmp_path)


def test_mid_side_groups_round_trip(name: str, tmp_path: Path) -> None:
    cls = sinks()[name]
    try:
        cls.accepts(sink_context(), (4, 2))
    except UsageError as exc:
        pytest.skip(f"{name} holds one coded channel ({exc})")
    case = sink_case(name, tmp_path, groups=(4, 2))
    _written(case)
    _check_output(case, tmp_path)


def test_a_per_file_scale_round_trips(name: str, tmp_path: Path) -> None:
    cls = sinks()[name]
    try:
        cls.accepts(sink_context(normalizes=True), (4,))
    except UsageError as exc:
        pytest.skip(f"{name} has no place for a per-file input scale ({exc})")
    case = sink_case(name, tmp_path, extras={"scale": 0.25})
    _written(case)
    _check_output(case, tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_an_invalid_leftover_is_not_skipped(name: str, tmp_path: Path, damage: str) -> None:
    case = sink_case(name, tmp_path)
    if sinks()[name].sharded:
        pytest.skip(f"{name} is sharded: its items are not files of their own")
    _written(case)
    dst = case.job.dst
    data = dst.read_bytes()
    damaged = {"garbage": b"not a token file " * 8, "truncated": data[: len(data) // 2], "empty": b""}
    dst.write_bytes(damaged[damage])
    again = sink_case(name, tmp_path)
    assert again.sink.resume(case.job.src, dst, case.job) is None


def test_outputs_beside_their_inputs_or_a_usage_error(name: str) -> None:
    """Without ``-o``: per-file outputs go beside their inputs; a sink that needs a folder says so."""
    cls = sinks()[name]
    try:
        root = cls.item_root(None)
    except UsageError as exc:
        assert exc.param, "say which option is missing"
        pytest.skip(f"{name} needs an output folder ({exc})")
    assert root is None


# -- interrupted writes -----------------------------------------------------------------------------------


@pytest.fixture
def failing_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The atomic writer's move into place fails (a full disk, a lost mount) for the rest of the test."""

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(_fsio.os, "replace", replace)


def test_a_failed_write_raises_ours_and_leaves_nothing(
    name: str, tmp_path: Path, failing_replace: None
) -> None:
    case = sink_case(name, tmp_path)
    with pytest.raises(AudiotokError):  # the batch runner records it as the file's failure
        case.sink.write(case.job, case.codes, 0.25)
    assert not case.job.dst.exists()
    assert _leftovers(case.job.dst) == []


_KILLED_WRITER = r"""
import os, signal, sys
from pathlib import Path

from tests.conformance._models import sink_case

case = sink_case(sys.argv[1], Path(sys.argv[2]))
dst = os.path.realpath(case.job.dst)
real_replace = os.replace


def replace(src, target, *args, **kwargs):
    if os.path.realpath(target) == dst:  # the finished temporary file, not yet moved into place
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, target, *args, **kwargs)


os.replace = replace
case.sink.write(case.job, case.codes, 0.0)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_mid_write_then_a_rerun_leaves_a_valid_output_and_no_temp(name: str, tmp_path: Path) -> None:
    if sinks()[name].sharded:
        pytest.skip(
            f"{name} is sharded: no move onto the item's path (killed mid-shard: tests/sinks/test_sharded.py)"
        )
    case = sink_case(name, tmp_path)  # the input, made here: the child only writes
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, name, str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, (
        f"the writer was not killed before moving its output into place (exit {child.returncode}): "
        f"does {name} write through audiotok._fsio?\n{child.stderr[-2000:]}"
    )
    dst = case.job.dst
    assert not dst.exists()
    left = _leftovers(dst)
    assert left, "the kill left no temporary file: it did not hit between the write and the move"
    assert case.sink.resume(case.job.src, dst, case.job) is None
    swept = _fsio.remove_stale_temps(dst)  # what every batch plan does for the outputs it will write
    assert set(left) <= set(swept.removed)
    rerun = sink_case(name, tmp_path)
    _written(rerun)
    assert _leftovers(dst) == []
    _check_output(rerun, tmp_path)
