"""``--to hf``: the dataset of ``npq`` + ``dataset build``, staged in OUT.tokens, resumable (tiny DAC)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path

import datasets
import numpy as np
import pytest

from audiotok.errors import FormatError, UsageError
from audiotok.formats import npq
from audiotok.records import FileRecord
from audiotok.services.dataset.build import build_dataset
from audiotok.services.encode import CodecChoice, EncodeOptions, EncodeSummary, encode_paths
from audiotok.sinks import manifest
from audiotok.sinks.base import SinkContext, get_sink, sink_for_path
from audiotok.sinks.hf import LOCK, STAMP, HfSink, staging_dir
from audiotok.sinks.npq import NpqSink
from audiotok.tokens import CodecInfo, TokenLayout
from tests._records import collect
from tests._token_trees import make_npq_tree
from tests.dac_helpers import write_audio

DAC = CodecChoice("44khz", family="dac", backend="eager")  # no OpenVINO conversion: a faster test
OPTS = EncodeOptions(codebooks=4, mid_codebooks=4, side_codebooks=2)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A stereo file (NPQ2) and a mono one (NPQ1) in a nested tree: 0.4 s of audio."""
    root = tmp_path / "in"
    write_audio(root / "a.wav", 0.25)
    write_audio(root / "sub" / "b.wav", 0.15, channels=1, seed=1)
    return root


def _encode(inputs: Path, out: Path | None, sink: str = "hf") -> tuple[EncodeSummary, list[FileRecord]]:
    return collect(encode_paths, [str(inputs)], outdir=out, codec=DAC, sink=sink, opts=OPTS, recursive=True)


def _listing(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``root``: content hash, inode and mtime."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (
                hashlib.sha1(p.read_bytes()).hexdigest(),
                st.st_ino,
                st.st_mtime_ns,
            )
    return out


def _contents(root: Path) -> dict[str, str]:
    return {k: v[0] for k, v in _listing(root).items()}


def test_dataset_equals_npq_encode_then_dataset_build(dac_home: Path, inputs: Path, tmp_path: Path) -> None:
    _encode(inputs, tmp_path / "npq", sink="npq")
    build_dataset(tmp_path / "npq", tmp_path / "ref", recursive=True)
    out = tmp_path / "ds"
    summary, records = _encode(inputs, out)
    assert summary.files_written == 2 and [r.status for r in records] == ["written", "written"]
    staged = tmp_path / "ds.tokens"
    assert sorted(str(r.output) for r in records) == [str(staged / "a.npq"), str(staged / "sub" / "b.npq")]
    assert _contents(staged / "sub") == _contents(tmp_path / "npq" / "sub")  # the npq sink's bytes
    got, ref = _contents(out), _contents(tmp_path / "ref")
    assert any(k.endswith(".arrow") for k in got) and "tokens.json" in got and "tokens.json" in ref
    del got["tokens.json"], ref["tokens.json"]  # the manifests differ: sinks ["hf"] and ["npq"]
    assert got == ref  # every Arrow shard, dataset_info/state/dataset_dict: byte for byte
    assert (out / "tokens.json").read_bytes() == (staged / "tokens.json").read_bytes()
    found = manifest.read(out / "tokens.json")
    assert (found.info.codec, found.sinks) == ("dac-44khz", ("hf",))
    rows = list(datasets.load_from_disk(str(out))["train"])
    assert [r["id"] for r in rows] == ["a", "sub/b"]
    tokens, header = npq.read(staged / "a.npq")
    assert (header.format, rows[0]["k_mid"], rows[0]["k_side"]) == ("NPQ2", 4, 2)
    np.testing.assert_array_equal(np.asarray(rows[0]["codes"]).reshape(tokens.shape), tokens)


def test_second_run_skips_everything_and_keeps_the_dataset(
    dac_home: Path, inputs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    _encode(inputs, out)
    before, staged_before = _listing(out), _listing(staged_dir := staging_dir(out))
    summary, records = _encode(inputs, out)
    assert [r.status for r in records] == ["skipped", "skipped"] and summary.files_written == 0
    assert _listing(out) == before and _listing(staged_dir) == staged_before  # nothing rewritten
    write_audio(inputs / "c.wav", 0.1, channels=1, seed=2)  # a new input: staged, the dataset rebuilt
    _, records = _encode(inputs, out)
    assert sorted(r.status for r in records) == ["skipped", "skipped", "written"]
    assert len(datasets.load_from_disk(str(out))["train"]) == 3


def test_killed_before_commit_leaves_the_dataset_untouched(
    dac_home: Path, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ds"
    _encode(inputs, out)
    before = _listing(out)
    write_audio(inputs / "c.wav", 0.1, channels=1, seed=2)

    def killed(self: HfSink) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(HfSink, "commit", killed)
        with pytest.raises(KeyboardInterrupt):
            _encode(inputs, out)
    assert _listing(out) == before  # OUT as it was; the new file is staged
    assert (tmp_path / "ds.tokens" / "c.npq").is_file() and not (tmp_path / "ds.incomplete").exists()
    _, records = _encode(inputs, out)  # the rerun encodes nothing and builds
    assert [r.status for r in records] == ["skipped"] * 3
    assert len(datasets.load_from_disk(str(out))["train"]) == 3


def test_first_run_killed_before_commit_writes_no_dataset(
    dac_home: Path, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HfSink, "commit", lambda self: None)
    _encode(inputs, tmp_path / "ds")
    assert not (tmp_path / "ds").exists() and sorted(p.name for p in (tmp_path / "ds.tokens").iterdir()) == [
        "a.npq", "sub", "tokens.json",
    ]  # fmt: skip


def test_a_bad_staged_file_fails_the_commit_and_keeps_the_dataset(
    dac_home: Path, inputs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    _encode(inputs, out)
    before = _listing(out)
    (tmp_path / "ds.tokens" / "zz.npq").write_bytes(b"NPQ1 but not really")
    with pytest.raises(FormatError, match=r"1 staged file\(s\) unreadable"):
        _encode(inputs, out)
    assert _listing(out) == before


def test_refusals_before_any_work(dac_home: Path, inputs: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="dataset folder") as exc:
        _encode(inputs, None)
    assert exc.value.param == "outdir"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a dataset"):
        _encode(inputs, busy)
    assert not (tmp_path / "busy.tokens").exists()
    info = CodecInfo("encodec-48khz", "encodec", 48000, 48000, 2, 320, TokenLayout.uniform(4, 1024))
    with pytest.raises(UsageError, match=r"per-file input scale.*ecdc.*sidecars"):
        HfSink.accepts(SinkContext(info, "encodec_48khz", normalizes=True), (4,))


def test_registered_after_npq() -> None:
    assert get_sink("hf") is HfSink and sink_for_path(Path("x.npq")) is NpqSink
    assert staging_dir(Path("out/ds")) == Path("out/ds.tokens")
    assert staging_dir(Path(".")).name == Path.cwd().name + ".tokens"
    assert STAMP.startswith(".")


def test_commits_take_turns(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    make_npq_tree(staging_dir(out), 3)
    info = CodecInfo("dac-44khz", "dac", 44100, 44100, 1, 512, TokenLayout.uniform(4, 1024))
    sink = HfSink(SinkContext(info, "44khz"), out)
    fd = os.open(staging_dir(out) / LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another shard is committing
    worker = threading.Thread(target=sink.commit)
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and not out.exists()
    os.close(fd)
    worker.join(30)
    assert len(datasets.load_from_disk(str(out))["train"]) == 3
