"""The batch runner: planning (outputs, collisions, shards, resume, probes), running, the exception net."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from audiotok.errors import AudiotokError, FormatError, InputError, UsageError
from audiotok.paths import InputFile, shard_of
from audiotok.progress import ProgressEvent, ProgressFn
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import runner
from audiotok.services.engines.local import LocalEngine
from tests._records import collect


class Done(FileRecord):
    """A record with one command field, as commands subclass FileRecord."""

    size: int


def _touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * len(p.name))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``in/{a,b}.wav``, ``in/sub/c.flac``, ``in/notes.txt``."""
    _touch(tmp_path / "in" / "a.wav", tmp_path / "in" / "b.wav", tmp_path / "in" / "sub" / "c.flac")
    _touch(tmp_path / "in" / "notes.txt")
    return tmp_path / "in"


def _write(item: runner.PlanItem, on_progress: ProgressFn | None) -> FileRecord:
    item.dst.parent.mkdir(parents=True, exist_ok=True)
    item.dst.write_bytes(item.path.read_bytes())
    return item.record(Done, "written", size=item.path.stat().st_size)


# -- plan ---------------------------------------------------------------------------------------------
def test_plan_mirrors_outputs_and_reports_unmatched(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    batch = runner.plan(
        [tree, tmp_path / "missing.wav"],
        suffixes=(".wav", ".flac"),
        outdir=out,
        out_suffix=".npq",
        recursive=True,
    )
    assert [(i.index, i.path, i.output) for i in batch.items] == [
        (0, tree / "a.wav", out / "a.npq"),
        (1, tree / "b.wav", out / "b.npq"),
        (2, tree / "sub" / "c.flac", out / "sub" / "c.npq"),
    ]
    assert [(u.arg, u.reason) for u in batch.unmatched] == [
        (str(tmp_path / "missing.wav"), "no such file or folder")
    ]
    assert (batch.files, batch.todo, batch.skipped, batch.measured) == (3, 3, 0, False)
    beside = runner.plan([tree / "a.wav"], suffixes=None, out_suffix=".ecdc")
    assert beside.items[0].output == tree / "a.ecdc"
    no_output = runner.plan([tree], suffixes=(".wav",))
    assert [i.output for i in no_output.items] == [None, None]
    with pytest.raises(TypeError, match="without an output"):
        _ = no_output.items[0].dst


def test_two_inputs_for_one_output_are_refused_naming_both(tree: Path, tmp_path: Path) -> None:
    _touch(tree / "a.flac")
    with pytest.raises(UsageError) as info:
        runner.plan([tree], suffixes=(".wav", ".flac"), outdir=tmp_path / "out", out_suffix=".npq")
    message = str(info.value)
    assert str(tree / "a.flac") in message and str(tree / "a.wav") in message
    assert str(tmp_path / "out" / "a.npq") in message
    # mirrored trees keep same-named files apart; two roots mapped onto one folder do not
    _touch(tmp_path / "x" / "take.wav", tmp_path / "y" / "take.wav")
    ok = runner.plan([tmp_path / "x", tmp_path / "y"], suffixes=(".wav",), out_suffix=".npq")
    assert ok.files == 2
    with pytest.raises(UsageError, match=r"take\.wav"):
        runner.plan(
            [tmp_path / "x", tmp_path / "y"], suffixes=(".wav",), outdir=tmp_path / "o", out_suffix=".npq"
        )
    # no outputs, no collisions
    assert runner.plan([tree], suffixes=(".wav", ".flac")).files == 3


def test_collisions_are_refused_whatever_the_shard(tmp_path: Path) -> None:
    """Two workers must not write one file: the check covers every shard, not just this one's."""
    stem = next(f"s{i}" for i in range(100) if shard_of(f"s{i}.wav", 4) != shard_of(f"s{i}.flac", 4))
    _touch(tmp_path / "in" / f"{stem}.wav", tmp_path / "in" / f"{stem}.flac")  # in two different shards
    for index in range(4):
        with pytest.raises(UsageError, match="would both be written"):
            runner.plan([tmp_path / "in"], suffixes=(".wav", ".flac"), out_suffix=".npq", shard=(index, 4))


def test_shards_partition_the_files(tmp_path: Path) -> None:
    for i in range(30):
        _touch(tmp_path / "in" / f"d{i % 3}" / f"f{i}.wav")
    everything = {i.path for i in runner.plan([tmp_path / "in"], suffixes=(".wav",), recursive=True).items}
    shards = [
        {
            i.path
            for i in runner.plan([tmp_path / "in"], suffixes=(".wav",), recursive=True, shard=(k, 3)).items
        }
        for k in range(3)
    ]
    assert set.union(*shards) == everything and sum(map(len, shards)) == 30
    assert all(shards)  # 30 files over 3 shards: none empty
    for bad in [(3, 3), (-1, 2), (0, 0)]:
        with pytest.raises(UsageError, match=r"`shard_index` must be in \[0, `shard_count`\)") as info:
            runner.plan([tmp_path / "in"], suffixes=(".wav",), shard=bad)
        assert info.value.params == ("shard_index", "shard_count")


def test_custom_outputs_and_shard_key(tmp_path: Path) -> None:
    files = [InputFile(tmp_path / f"{n}.ecdc", tmp_path) for n in "abcdef"]
    batch = runner.plan_files(files, output=lambda f: f.path.with_suffix(".cond.npy"))
    assert [i.output for i in batch.items] == [f.path.with_suffix(".cond.npy") for f in files]
    by_name = [
        runner.plan_files(files, shard=(k, 2), shard_key=lambda f: f.path.name).items for k in range(2)
    ]
    assert sorted(i.path for part in by_name for i in part) == [f.path for f in files]


def test_resume_sets_aside_valid_outputs_before_any_work(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _touch(out / "a.npq", out / "b.npq")
    (out / "b.npq").write_bytes(b"")  # an invalid leftover: made again
    checked: list[Path] = []

    def resume(item: runner.PlanItem) -> FileRecord | None:
        checked.append(item.dst)
        if item.dst.is_file() and item.dst.stat().st_size:
            return item.record(Done, "skipped", size=0)
        return None

    batch = runner.plan([tree], suffixes=(".wav",), outdir=out, out_suffix=".npq", resume=resume)
    assert (batch.todo, batch.skipped) == (1, 1)
    assert [i.skipped is not None for i in batch.items] == [True, False]
    assert checked == [out / "a.npq", out / "b.npq"]
    forced = runner.plan(
        [tree], suffixes=(".wav",), outdir=out, out_suffix=".npq", resume=resume, overwrite=True
    )
    assert forced.skipped == 0 and len(checked) == 2  # not even asked
    summary, records = collect(runner.run, batch, _write)
    assert [(r.input, r.status) for r in records] == [
        (str(tree / "a.wav"), "skipped"),
        (str(tree / "b.wav"), "written"),
    ]
    assert (summary.files_skipped, summary.files_written) == (1, 1)


def _temp_of(output: Path, hexdigits: str = "0123456789ab") -> Path:
    """What a run killed while writing ``output`` leaves beside it (``audiotok._fsio``)."""
    tmp = output.parent / f".{output.name}.{hexdigits}.tmp"
    _touch(tmp)
    return tmp


def test_plan_removes_killed_runs_temps_of_its_own_outputs_only(tmp_path: Path) -> None:
    for i in range(12):
        _touch(tmp_path / "in" / f"f{i}.wav")
    out = tmp_path / "out"
    _touch(out / "f0.npq")  # skipped by resume: its temp goes too
    temps = {i: _temp_of(out / f"f{i}.npq") for i in range(12)}
    other = [_temp_of(out / "notes.txt"), _temp_of(out / "f0.wav")]  # no output of this plan
    _touch(out / ".f1.npq.keep.tmp", out / "f1.npq.0123456789ab.tmp")  # not a temp file's name

    def resume(item: runner.PlanItem) -> FileRecord | None:
        return item.record(Done, "skipped", size=0) if item.dst.exists() else None

    mine = runner.plan([tmp_path / "in"], suffixes=(".wav",), outdir=out, out_suffix=".npq", shard=(0, 2))
    theirs = {int(i.output.stem[1:]) for i in runner.plan(
        [tmp_path / "in"], suffixes=(".wav",), outdir=out, out_suffix=".npq", shard=(1, 2), sweep_temps=False
    ).items if i.output is not None}  # fmt: skip
    ours = {int(i.dst.stem[1:]) for i in mine.items}
    assert ours and theirs and ours.isdisjoint(theirs)
    # only this shard's outputs were swept: another shard's temps may belong to its live writes
    assert {i for i, t in temps.items() if not t.exists()} == ours
    assert all(p.exists() for p in other)
    assert (out / ".f1.npq.keep.tmp").exists() and (out / "f1.npq.0123456789ab.tmp").exists()
    runner.plan([tmp_path / "in"], suffixes=(".wav",), outdir=out, out_suffix=".npq", resume=resume)
    assert not any(t.exists() for t in temps.values()) and all(p.exists() for p in other)


def test_a_dry_run_plan_and_plans_without_outputs_sweep_nothing(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    temp = _temp_of(out / "a.npq")
    runner.plan([tree], suffixes=(".wav",), outdir=out, out_suffix=".npq", sweep_temps=False)
    beside = _temp_of(tree / "a.wav")
    runner.plan([tree], suffixes=(".wav",))  # inspecting: the inputs' own names are not outputs
    assert temp.exists() and beside.exists()
    runner.plan([tree], suffixes=(".wav",), outdir=out, out_suffix=".npq")
    assert not temp.exists() and beside.exists()


def test_written_with_sweeps_the_companions_too(tmp_path: Path) -> None:
    files = [InputFile(tmp_path / f"{n}.ecdc", tmp_path) for n in "ab"]
    temps = [_temp_of(tmp_path / f"{n}.cond.{ext}") for n in "ab" for ext in ("npy", "json")]
    kept = _temp_of(tmp_path / "a.cond.txt")
    runner.plan_files(
        files,
        output=lambda f: f.path.with_suffix(".cond.npy"),
        written_with=lambda npy: (npy.with_suffix(".json"),),
    )
    assert not any(t.exists() for t in temps) and kept.exists()


@dataclass(frozen=True)
class Info:
    duration_s: float


def test_probe_gives_durations_of_the_files_to_work_on(tree: Path, tmp_path: Path) -> None:
    _touch(tmp_path / "out" / "a.npq")
    probed: list[Path] = []

    def probe(path: Path) -> Info | None:
        probed.append(path)
        return None if path.suffix == ".flac" else Info(1.5)

    batch = runner.plan(
        [tree], suffixes=(".wav", ".flac"), outdir=tmp_path / "out", out_suffix=".npq", recursive=True,
        resume=lambda item: item.record(FileRecord, "skipped") if item.dst.exists() else None, probe=probe,
    )  # fmt: skip
    assert probed == [tree / "b.wav", tree / "sub" / "c.flac"]  # a is skipped: never probed
    assert [(i.info, i.seconds) for i in batch.items] == [(None, 0.0), (Info(1.5), 1.5), (None, 0.0)]
    assert batch.measured and batch.seconds == 1.5


# -- run ----------------------------------------------------------------------------------------------
def test_run_reports_every_file_in_order_and_sums_up(tree: Path, tmp_path: Path) -> None:
    batch = runner.plan(
        [tmp_path / "nope", tree], suffixes=(".wav", ".flac"), outdir=tmp_path / "out", out_suffix=".npq",
        recursive=True, probe=lambda p: Info(2.0),
    )  # fmt: skip

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> FileRecord:
        if item.path.suffix == ".flac":
            raise InputError("cannot decode audio", item.path)
        return _write(item, on_progress)

    summary, records = collect(runner.run, batch, work)
    assert [(Path(r.input).name, r.status) for r in records] == [
        ("nope", "failed"),  # the argument that matched nothing comes first
        ("a.wav", "written"),
        ("b.wav", "written"),
        ("c.flac", "failed"),
    ]
    assert records[0] == FileRecord(
        input=str(tmp_path / "nope"), status="failed", error="no such file or folder"
    )
    assert records[3] == FileRecord(
        input=str(tree / "sub" / "c.flac"), output=str(tmp_path / "out" / "sub" / "c.npq"), status="failed",
        error="cannot decode audio",
    )  # fmt: skip
    assert isinstance(records[1], Done) and records[1].model_dump()["size"] == len("a.wav")
    assert list(records[1].model_dump()) == ["input", "output", "status", "error", "size"]  # flat JSON keys
    assert (summary.files_written, summary.files_failed, summary.files_skipped, summary.files_planned) == (
        2,
        2,
        0,
        0,
    )
    assert summary.audio_seconds == 4.0  # written files only
    assert summary.real_time_factor == pytest.approx(summary.audio_seconds / summary.wall_seconds)
    assert (summary.model, summary.weights_sha256) == (None, None)


def test_planned_files_count_their_audio(tree: Path) -> None:
    batch = runner.plan([tree], suffixes=(".wav",), out_suffix=".npq", probe=lambda p: Info(0.5))
    summary = runner.run(batch, lambda item, _: item.record(FileRecord, "planned"))
    assert (summary.files_planned, summary.files_ok, summary.audio_seconds) == (2, 2, 1.0)


def test_progress_totals_come_first(tree: Path, tmp_path: Path) -> None:
    _touch(tmp_path / "out" / "b.npq")
    batch = runner.plan(
        [tree], suffixes=(".wav", ".flac"), outdir=tmp_path / "out", out_suffix=".npq", recursive=True,
        resume=lambda item: item.record(FileRecord, "skipped") if item.dst.exists() else None,
        probe=lambda p: Info(2.0),
    )  # fmt: skip

    def work(item: runner.PlanItem, on_progress: ProgressFn | None) -> FileRecord:
        assert on_progress is not None
        on_progress(ProgressEvent("seconds", advance=0.5, item=str(item.path)))
        if item.path.suffix == ".flac":
            raise FormatError("bad", item.path)
        return item.record(FileRecord, "written")

    events: list[ProgressEvent] = []
    runner.run(batch, work, on_progress=events.append)
    assert events[0] == ProgressEvent("files", total=3)
    assert events[1] == ProgressEvent("seconds", total=4.0)  # a and c; b was skipped while planning
    seconds = [e for e in events if e.task == "seconds"]
    assert [e.total for e in seconds if e.total is not None] == [
        4.0,
        2.5,
    ]  # c failed: its rest leaves the total
    assert sum(e.advance for e in seconds) == pytest.approx(2.5)
    assert sum(e.advance for e in events if e.task == "files") == 3
    unprobed = runner.plan([tree], suffixes=(".wav",), out_suffix=".npq")
    quiet: list[ProgressEvent] = []
    runner.run(unprobed, lambda item, p: item.record(FileRecord, "written"), on_progress=quiet.append)
    assert {e.task for e in quiet} == {"files"}  # no durations: no seconds task


def test_an_error_about_another_file_names_it(tree: Path) -> None:
    assert runner.failure_reason(tree / "a.wav", InputError("bad", tree / "a.wav")) == "bad"
    assert runner.failure_reason(tree / "a.wav", FormatError("bad", "a.cond.npy")) == "a.cond.npy: bad"
    assert (
        runner.failure_reason("x", OSError(28, "No space left on device"))
        == "OSError: [Errno 28] No space left on device"
    )
    assert (
        runner.failure_reason("x", RuntimeError("CUDA out of\nmemory")) == "RuntimeError: CUDA out of memory"
    )


@pytest.mark.parametrize("exc", [RuntimeError("torch"), OSError("disk"), MemoryError("oom")])
def test_the_net_catches_os_memory_and_runtime_errors_when_on(
    tree: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    batch = runner.plan([tree], suffixes=(".wav",))

    def boom(item: runner.PlanItem, _: ProgressFn | None) -> FileRecord:
        raise exc

    assert os.environ.get(runner.STRICT_ENV) == "1"  # tests/conftest.py: the net is off in tests
    assert runner.caught_exceptions() == (AudiotokError,)
    with pytest.raises(type(exc)):
        runner.run(batch, boom)
    monkeypatch.delenv(runner.STRICT_ENV)
    assert runner.caught_exceptions() == runner.CAUGHT
    summary, records = collect(runner.run, batch, boom)
    assert summary.files_failed == 2
    assert [r.error for r in records] == [f"{type(exc).__name__}: {exc}"] * 2


def test_the_net_never_catches_bugs(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runner.STRICT_ENV, raising=False)
    batch = runner.plan([tree], suffixes=(".wav",))
    for bug in (ZeroDivisionError("bug"), KeyError("bug"), ValueError("bug"), TypeError("bug")):

        def work(item: runner.PlanItem, _: ProgressFn | None, bug: Exception = bug) -> FileRecord:
            raise bug

        with pytest.raises(type(bug)):
            runner.run(batch, work)


@pytest.mark.parametrize("jobs", [1, 3])
def test_without_skip_errors_the_batch_stops_at_the_first_failure(tmp_path: Path, jobs: int) -> None:
    for i in range(12):
        _touch(tmp_path / "in" / f"f{i:02d}.wav")
    batch = runner.plan([tmp_path / "in"], suffixes=(".wav",))
    started: list[str] = []

    def work(item: runner.PlanItem, _: ProgressFn | None) -> FileRecord:
        started.append(item.path.name)
        time.sleep(0.01)
        if item.index == 2:
            raise InputError("broken")
        return item.record(FileRecord, "written")

    summary, records = collect(runner.run, batch, work, skip_errors=False, engine=LocalEngine(jobs))
    assert [r.status for r in records] == ["written", "written", "failed"]
    assert (summary.files_written, summary.files_failed) == (2, 1)
    assert len(started) < 12  # the rest was cancelled, not run
    going_on = runner.run(batch, work, engine=LocalEngine(jobs))
    assert (going_on.files_written, going_on.files_failed) == (11, 1)


def test_threads_keep_the_order(tmp_path: Path) -> None:
    for i in range(16):
        _touch(tmp_path / "in" / f"f{i:02d}.wav")
    batch = runner.plan([tmp_path / "in"], suffixes=(".wav",))
    threads: set[int] = set()

    def work(item: runner.PlanItem, _: ProgressFn | None) -> FileRecord:
        threads.add(threading.get_ident())
        time.sleep(0.002 * (16 - item.index))  # the first items finish last
        return item.record(FileRecord, "written")

    _, records = collect(runner.run, batch, work, engine=LocalEngine(4))
    assert [Path(r.input).name for r in records] == [f"f{i:02d}.wav" for i in range(16)]
    assert len(threads) > 1
    with pytest.raises(UsageError, match="`jobs` must be at least 1"):
        LocalEngine(0)


def test_finish_adds_the_commands_fields(tree: Path) -> None:
    class Extra(BatchSummary):
        files_mono: int = 0

    since = time.perf_counter()
    batch = runner.plan([tree], suffixes=(".wav",), probe=lambda p: Info(3.0))
    summary = runner.run(batch, lambda item, _: item.record(FileRecord, "written"))
    time.sleep(0.01)
    done = runner.finish(summary, Extra, since=since, files_mono=1, model="44khz", weights_sha256="ab" * 32)
    assert isinstance(done, Extra) and (done.files_mono, done.model, done.files_written) == (1, "44khz", 2)
    assert done.wall_seconds >= 0.01 > summary.wall_seconds
    assert done.real_time_factor == pytest.approx(6.0 / done.wall_seconds)
    assert runner.finish(summary, BatchSummary).wall_seconds == summary.wall_seconds
