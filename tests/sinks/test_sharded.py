"""``encode --to parquet|shar|webdataset``: straight from audio into shards, code for code ``--to npq``'s."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import numpy as np
import pytest

from audiotok.errors import UsageError
from audiotok.formats import npq
from audiotok.records import FileRecord
from audiotok.services.encode import CodecChoice, EncodeOptions, EncodeSummary, encode_paths
from audiotok.sinks.shards import read_index
from tests._records import collect
from tests.dac_helpers import write_audio

wds = pytest.importorskip("webdataset")
pytest.importorskip("urllib3")
lhotse = pytest.importorskip("lhotse")
DAC = CodecChoice("44khz", family="dac", backend="eager")
OPTS = EncodeOptions(codebooks=4, mid_codebooks=4, side_codebooks=2)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Three files in a nested tree: stereo (Mid/Side), mono, stereo."""
    root = tmp_path / "in"
    write_audio(root / "a.wav", 0.25)
    write_audio(root / "sub" / "b.v2.wav", 0.15, channels=1, seed=1)
    write_audio(root / "sub" / "c.wav", 0.2, seed=2)
    return root


def _encode(inputs: Path, out: Path, sink: str, **kw: object) -> tuple[EncodeSummary, list[FileRecord]]:
    return collect(
        encode_paths, [str(inputs)], outdir=out, codec=DAC, sink=sink, opts=OPTS, recursive=True, **kw
    )


def _npq(inputs: Path, tmp_path: Path) -> dict[str, np.ndarray]:
    ref = tmp_path / "ref"
    _encode(inputs, ref, "npq")
    return {p.relative_to(ref).with_suffix("").as_posix(): npq.read(p)[0] for p in sorted(ref.rglob("*.npq"))}


def _read(out: Path, sink: str) -> dict[str, np.ndarray]:
    """id -> codes (T, K), read back through the format's own library."""
    if sink == "parquet":
        rows = datasets.load_dataset(str(out), split="train", cache_dir=str(out.parent / "hf-cache"))
        return {r["id"]: np.array(r["codes"]).T for r in rows}
    if sink == "shar":
        return {c.id: c.load_custom("codes") for c in lhotse.CutSet.from_shar(in_dir=str(out))}
    shards = sorted(str(p) for p in out.glob("shard-*.tar"))
    return {s["json"]["id"]: s["codes.npy"] for s in wds.WebDataset(shards, shardshuffle=False).decode()}


@pytest.mark.parametrize("sink", ["parquet", "shar", "webdataset"])
def test_encode_into_shards_equals_npq_code_for_code(
    dac_home: Path, inputs: Path, tmp_path: Path, sink: str
) -> None:
    want = _npq(inputs, tmp_path)
    out = tmp_path / sink
    summary, records = _encode(inputs, out, sink)
    assert summary.files_written == 3 and [r.status for r in records] == ["written"] * 3
    got = _read(out, sink)
    assert set(got) == set(want) == {"a", "sub/b.v2", "sub/c"}
    for key, codes in want.items():
        np.testing.assert_array_equal(got[key], codes)
    index = read_index(out)
    assert index is not None and index["items"] == 3 and index["identity"]["codec"] == "dac-44khz"
    again, records = _encode(inputs, out, sink)
    assert again.files_skipped == 3 and again.files_written == 0  # resumed from the committed shard
    if sink == "shar":
        assert all(n.startswith(("cuts.", "codes.")) for n in os.listdir(out))  # tokens.json is beside it
        assert (tmp_path / "shar.audiotok" / "items" / "tokens.json").is_file()


_KILLER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from audiotok.sinks import shar
    real_add = shar._Writer.add
    n = {"items": 0}
    def add(self, item):
        real_add(self, item)
        n["items"] += 1
        if n["items"] == 2:
            self.cuts.flush()
            os._exit(9)  # as kill -9, mid-shard: no cleanup runs
    shar._Writer.add = add
    from audiotok.sinks.sharded import SharTokenSink
    from audiotok.sinks.shar import SharSink
    from audiotok.sinks.shards import ShardLimits
    SharSink.default_limits = ShardLimits(max_bytes=10**9, max_items=2)
    from audiotok.services.encode import CodecChoice, EncodeOptions, encode_paths
    dac = CodecChoice("44khz", family="dac", backend="eager")
    opts = EncodeOptions(codebooks=4, mid_codebooks=4, side_codebooks=2)
    encode_paths([sys.argv[1]], outdir=Path(sys.argv[2]), codec=dac, sink="shar", opts=opts, recursive=True)
    """
)


def test_killed_mid_shard_the_rerun_encodes_that_shard_only(
    dac_home: Path, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audiotok.sinks.shar import SharSink
    from audiotok.sinks.shards import ShardLimits

    write_audio(inputs / "sub" / "d.wav", 0.1, seed=3)  # 4 items: 2 shards of 2
    out = tmp_path / "shar"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, str(inputs), str(out)], env=env, capture_output=True, check=False
    )
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    assert not (out / "cuts.000000.jsonl.gz").exists()  # torn: only its hidden temporary files
    assert any(n.endswith(".tmp") for n in os.listdir(out))
    monkeypatch.setattr(SharSink, "default_limits", ShardLimits(max_bytes=10**9, max_items=2))
    summary, _ = _encode(inputs, out, "shar")
    assert summary.files_written == 4 and read_index(out) is not None
    assert sorted(os.listdir(out)) == [
        "codes.000000.tar", "codes.000001.tar", "cuts.000000.jsonl.gz", "cuts.000001.jsonl.gz"
    ]  # fmt: skip  # no temporary file left
    want = _npq(inputs, tmp_path)
    got = _read(out, "shar")
    assert set(got) == set(want)
    for key, codes in want.items():
        np.testing.assert_array_equal(got[key], codes)
    again, _ = _encode(inputs, out, "shar")
    assert (again.files_skipped, again.files_written) == (4, 0)


def test_sharded_sinks_need_one_process_and_a_folder(dac_home: Path, inputs: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="one process"):
        _encode(inputs, tmp_path / "pq", "parquet", shard=(0, 2))
    with pytest.raises(UsageError, match="outdir"):
        collect(
            encode_paths, [str(inputs)], outdir=None, codec=DAC, sink="webdataset", opts=OPTS, recursive=True
        )


@pytest.mark.parametrize("sink", ["parquet", "shar", "webdataset"])
def test_a_shard_committed_without_a_failed_item_is_encoded_again(tmp_path: Path, sink: str) -> None:
    """Two items in one shard, the second never written (its encode failed): a rerun redoes the shard."""
    from audiotok.audio import probe
    from audiotok.sinks import sinks
    from audiotok.sinks.base import FileJob
    from audiotok.tokens import Codes
    from tests.conformance._models import SINK_INFO, sink_context

    cls = sinks()[sink]
    out = tmp_path / "out"
    jobs = []
    for n, name in enumerate(("a", "b")):
        src = write_audio(tmp_path / "in" / f"{name}.wav", 0.2, sr=SINK_INFO.sample_rate, channels=1, seed=n)
        audio = probe(src)
        frames = -(-audio.frames // SINK_INFO.hop_length)
        jobs.append(FileJob(src, cls.item_root(out) / name, audio, "mono", (4,), audio.frames, frames))
    first = cls(sink_context(), out)
    first.plan(jobs)
    assert [first.resume(j.src, j.dst, j) for j in jobs] == [None, None]
    codes = Codes(np.random.default_rng(0).integers(0, 1024, (jobs[0].n_frames, 4)), (4,))
    assert first.write(jobs[0], codes, 0.1).status == "written"
    first.commit()  # the shard is committed, its receipt lists b as failed
    index = read_index(out)
    assert index is not None and index["items"] == 1 and len(index["failed"]) == 1
    again = cls(sink_context(), out)
    again.plan(jobs)
    assert [again.resume(j.src, j.dst, j) for j in jobs] == [None, None]  # the whole shard again
    with pytest.raises(UsageError, match="outdir"):
        cls.item_root(None)
