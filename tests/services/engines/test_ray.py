"""The Ray engine (``--engine ray``) on a local 2-CPU cluster with the tiny models: same outputs as local.

One cluster for the module (``ray.init(num_cpus=2)``). Every test ends by
itself: ``signal.alarm`` fails a test that runs past :data:`LIMIT_S`, and
``faulthandler`` ends the whole process a minute later if even that does not
come back, so CI never hangs.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from typer.testing import CliRunner

from audiotok.cli.app import app
from audiotok.codecs import registry
from audiotok.errors import ModelError
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import runner
from audiotok.services.encode import CodecChoice, RemoteEncode, settle
from audiotok.services.engines.ray import RayEngine, RayOptions
from audiotok.services.esf import encode as esf_encode
from audiotok.services.npq import decode as npq_decode
from audiotok.services.npq.encode import EncodeOptions, encode_paths
from tests._encodec import install
from tests._records import collect
from tests.dac_helpers import write_audio
from tests.services.engines._jobs import CrashOn

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

LIMIT_S = 120
"""Wall-time limit of one test (each run starts its actors: a few seconds here)."""
ONE = RayOptions(worker_count=1)
TWO = RayOptions(worker_count=2, cpus_per_worker=0.5)


@contextlib.contextmanager
def _limit(seconds: int) -> Iterator[None]:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"a Ray test ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    faulthandler.dump_traceback_later(seconds + 60, exit=True)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """One local cluster of 2 CPUs for the module (the engine uses it and leaves it running)."""
    with _limit(LIMIT_S):
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    with _limit(LIMIT_S):
        ray.shutdown()


@pytest.fixture(autouse=True)
def time_limit() -> Iterator[None]:
    with _limit(LIMIT_S):
        yield


def _corpus(root: Path) -> Path:
    """Mono and stereo files at two rates, and one that is not audio."""
    write_audio(root / "a" / "stereo.wav", 1.5, sr=48000, seed=1)
    write_audio(root / "a" / "mono.flac", 1.0, sr=44100, channels=1, seed=2)
    write_audio(root / "b" / "dual.wav", 0.7, sr=22050, seed=3)
    (root / "b" / "bad.wav").write_bytes(b"not audio at all")
    return root


def _tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden temporary files included) by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _same(records: list[FileRecord]) -> list[dict[str, object]]:
    """Records without what depends on the engine (wall time, output folder)."""
    return [r.model_dump(exclude={"wall_s", "output"}) for r in records]


@pytest.mark.usefixtures("dac_home")
def test_npq_encode_outputs_are_those_of_the_local_engine(tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    local, local_records = collect(encode_paths, [str(src)], outdir=tmp_path / "local", recursive=True)
    summary, records = collect(encode_paths, [str(src)], outdir=tmp_path / "ray", recursive=True, engine=TWO)
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local")
    assert {"a/stereo.npq", "a/mono.npq", "b/dual.npq", "tokens.json"} == set(_tree(tmp_path / "ray"))
    assert _same(records) == _same(local_records)  # plan order, the bad file by name with its reason
    bad = [r for r in records if r.status == "failed"]
    assert [Path(r.input).name for r in bad] == ["bad.wav"] and bad[0].error
    fields = {"files_written", "files_failed", "files_mono", "audio_seconds", "model", "weights_sha256"}
    assert summary.model_dump(include=fields) == local.model_dump(include=fields)
    assert (summary.files_written, summary.files_failed, summary.backend) == (3, 1, local.backend)


@pytest.mark.usefixtures("dac_home")
def test_real_recordings_encode_to_the_same_bytes(tmp_path: Path, shared_audio: Path) -> None:
    """The 48 kHz stereo WAV (NPQ2) and its 44.1 kHz MP3, as the local engine writes them."""
    src = [str(shared_audio / "music_48k_stereo.wav"), str(shared_audio / "music_44k_stereo.mp3")]
    local = encode_paths(src, outdir=tmp_path / "local")
    summary = encode_paths(src, outdir=tmp_path / "ray", engine=ONE)
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local") and len(_tree(tmp_path / "ray")) == 3
    assert (summary.files_written, summary.audio_seconds) == (2, pytest.approx(local.audio_seconds))


@pytest.mark.usefixtures("dac_home")
def test_resume_writes_nothing_new_and_starts_no_actor(tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    (src / "b" / "bad.wav").unlink()
    first = encode_paths([str(src)], outdir=tmp_path / "out", recursive=True, engine=ONE)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}
    t0 = time.perf_counter()
    again = encode_paths([str(src)], outdir=tmp_path / "out", recursive=True, engine=ONE)
    assert (first.files_written, again.files_written, again.files_skipped) == (3, 0, 3)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")} == before
    assert time.perf_counter() - t0 < 5  # nothing sent to Ray: no actor loaded a model


@pytest.mark.usefixtures("dac_home")
def test_cli_engine_ray_reports_failures_and_exits_1(tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    listing = tmp_path / "in" / "files.txt"
    listing.write_text("a/stereo.wav\nb/bad.wav\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["npq", "encode", "--from-list", str(listing), "-o", str(tmp_path / "out"), "--json",
         "--engine", "ray", "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(Path(r["input"]).name, r["status"]) for r in lines[:-1]] == [
        ("stereo.wav", "written"),
        ("bad.wav", "failed"),
    ]
    assert lines[-1]["files_failed"] == 1 and lines[-1]["files_written"] == 1
    assert f"error: {src / 'b' / 'bad.wav'}: " in result.stderr
    assert (tmp_path / "out" / "a" / "stereo.npq").is_file()


@pytest.mark.usefixtures("dac_home")
def test_npq_decode_outputs_are_those_of_the_local_engine(tmp_path: Path) -> None:
    import torch

    same_threads = RayOptions(worker_count=1, threads=torch.get_num_threads())
    src = _corpus(tmp_path / "in")
    encode_paths([str(src)], outdir=tmp_path / "npq", recursive=True)
    local = npq_decode.decode_paths([str(tmp_path / "npq")], outdir=tmp_path / "local", recursive=True)
    summary = npq_decode.decode_paths(
        [str(tmp_path / "npq")], outdir=tmp_path / "ray", recursive=True, engine=same_threads
    )
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local")
    assert (summary.files_written, summary.model, summary.weights_sha256) == (
        3, local.model, local.weights_sha256,
    )  # fmt: skip


def test_esf_encode_outputs_are_those_of_the_local_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, tmp_path / "torch", tiny=False)  # the actors build the real architecture
    src = tmp_path / "in"
    write_audio(src / "one.wav", 1.0, sr=24000, channels=1)
    write_audio(src / "two.wav", 0.6, sr=16000, channels=2, seed=1)
    (src / "bad.wav").write_bytes(b"nope")

    def loader() -> esf_encode.ModelLoader:
        return esf_encode.ModelLoader("encodec_24khz", bandwidth=6.0, backend="eager")

    local, local_records = collect(esf_encode.encode_paths, [src], outdir=tmp_path / "local", load=loader())
    summary, records = collect(
        esf_encode.encode_paths, [src], outdir=tmp_path / "ray", load=loader(), engine=ONE
    )
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local")
    assert len(_tree(tmp_path / "ray")) == 3  # two .ecdc files and the identity manifest
    assert _same(records) == _same(local_records)
    assert (summary.files_written, summary.files_failed, summary.model) == (2, 1, local.model)


def _killed_on_b(
    tmp_path: Path, names: str, seconds: float, options: RayOptions
) -> tuple[list[FileRecord], BatchSummary, int]:
    """Encode ``names`` on Ray, ``b.wav`` killing its actor: records, summary, attempts at ``b.wav``."""
    src = tmp_path / "in"
    for name in names:
        write_audio(src / f"{name}.wav", seconds, channels=1, seed=ord(name))
    marks = tmp_path / "marks"
    marks.mkdir()
    settings = settle(EncodeOptions().generic(), registry.plugin("dac").defaults, n_codebooks=9, channels=1)
    job = CrashOn(
        RemoteEncode(CodecChoice("44khz", family="dac"), "npq", settings, tmp_path / "out"),
        "b.wav",
        str(marks),
    )
    batch = runner.plan([str(src)], suffixes=None, outdir=tmp_path / "out", out_suffix=".npq")
    records: list[FileRecord] = []

    def work(item: runner.PlanItem, on_progress: object) -> FileRecord:  # pragma: no cover
        raise AssertionError("every file goes to the actors")

    summary = runner.run(batch, work, on_record=records.append, engine=RayEngine(options, job))
    return records, summary, len(list(marks.iterdir()))


@pytest.mark.usefixtures("dac_home")
def test_a_file_that_kills_its_actor_is_retried_once_then_reported(tmp_path: Path) -> None:
    records, summary, attempts = _killed_on_b(tmp_path, "abc", 0.5, TWO)
    assert [(Path(r.input).name, r.status) for r in records] == [
        ("a.wav", "written"), ("b.wav", "failed"), ("c.wav", "written"),
    ]  # fmt: skip
    assert records[1].error is not None and "Ray actor died while processing it, 2 times" in records[1].error
    assert "\n" not in records[1].error
    assert attempts == 2  # tried, then once more
    assert (summary.files_written, summary.files_failed) == (2, 1)
    assert sorted(_tree(tmp_path / "out")) == ["a.npq", "c.npq", "tokens.json"]  # no torn file, no temp left


@pytest.mark.usefixtures("dac_home")
def test_files_after_a_killer_in_one_call_are_sent_again(tmp_path: Path) -> None:
    """One actor, five files, several per call: the killer fails after 2 tries, the rest is written."""
    one = RayOptions(worker_count=1, cpus_per_worker=0.5)
    records, _, attempts = _killed_on_b(tmp_path, "abcde", 0.3, one)
    assert [(Path(r.input).name, r.status) for r in records] == [
        ("a.wav", "written"), ("b.wav", "failed"), ("c.wav", "written"), ("d.wav", "written"),
        ("e.wav", "written"),
    ]  # fmt: skip
    assert attempts == 2
    assert sorted(_tree(tmp_path / "out")) == ["a.npq", "c.npq", "d.npq", "e.npq", "tokens.json"]


def _busy_workers() -> list[int]:
    """Pids of this test's Ray actors that are processing a file (process title ``...AudiotokWorker.run``)."""
    me, found = os.getpid(), []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"AudiotokWorker.run" in title and _descends_from(int(proc.name), me):
            found.append(int(proc.name))
    return found


def _descends_from(pid: int, ancestor: int) -> bool:
    for _ in range(10):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds actors through /proc")
@pytest.mark.usefixtures("dac_home")
def test_an_actor_killed_mid_run_loses_nothing_and_a_rerun_completes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="audiotok.services.engines.ray")
    src = tmp_path / "in"
    for i in range(6):
        write_audio(src / f"s{i}.wav", 3.0, sr=44100, channels=2, seed=i)
    local = encode_paths([str(src)], outdir=tmp_path / "local")
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:  # the first actor seen processing a file is killed (SIGKILL), once
        while not stop.is_set() and not killed:
            for pid in _busy_workers():
                time.sleep(0.05)  # into the file
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                break
            time.sleep(0.01)

    # the local engine's thread count: OpenVINO's static-shape models may flip a rare code between
    # 1 and 2 threads (1 of 4662 on one of these files with the tiny model)
    import torch

    two = TWO.model_copy(update={"threads": torch.get_num_threads()})
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        first = encode_paths([str(src)], outdir=tmp_path / "ray", engine=two)
    finally:
        stop.set()
        thread.join(10)
    assert killed, "no actor was seen processing a file"
    assert "its Ray actor died" in caplog.text and "trying once more" in caplog.text
    done = {p.name for p in (tmp_path / "ray").iterdir()}
    assert not [n for n in done if n.endswith(".tmp")]  # no torn file, no temporary left
    assert (first.files_written, first.files_failed) == (6, 0)  # the killed actor's file: retried
    rerun = encode_paths([str(src)], outdir=tmp_path / "ray", engine=two)
    assert (rerun.files_written, rerun.files_skipped, rerun.files_failed) == (0, 6, 0)
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local") and local.files_written == 6


def test_a_model_that_cannot_load_stops_the_run_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "empty_home"))
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")
    write_audio(tmp_path / "in" / "x.wav", 0.2, channels=1)
    with pytest.raises(ModelError):
        encode_paths([str(tmp_path / "in")], outdir=tmp_path / "out", engine=ONE)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["mimi", "snac-24khz", "xcodec2"])
def test_the_new_codecs_write_the_local_engines_bytes(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """One codec per batch encoder (state carried, context windows on a grid, whole-file segments)."""
    from audiotok.services.encode import CodecChoice
    from audiotok.services.encode import encode_paths as encode_any
    from tests.conformance._models import TINY_MODELS

    entry = registry.lookup(name)
    assert entry is not None
    TINY_MODELS[entry.family].build(entry, tmp_path / "model", request)
    write_audio(tmp_path / "in" / "a.wav", 1.3, sr=entry.sample_rate, channels=1, seed=1)
    write_audio(tmp_path / "in" / "b.wav", 0.6, sr=48000, seed=2)  # stereo, another rate: mixed down
    (tmp_path / "in" / "bad.wav").write_bytes(b"not audio")
    choice = CodecChoice(str(tmp_path / "model"), backend="eager")
    args = ([str(tmp_path / "in")],)
    local, local_records = collect(encode_any, *args, outdir=tmp_path / "local", codec=choice)
    summary, records = collect(encode_any, *args, outdir=tmp_path / "ray", codec=choice, engine=ONE)
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local")
    assert {"a.npq", "b.npq", "tokens.json"} == set(_tree(tmp_path / "ray"))
    assert _same(records) == _same(local_records)
    assert (
        (summary.files_written, summary.files_failed) == (local.files_written, local.files_failed) == (2, 1)
    )
