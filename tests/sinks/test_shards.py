"""The shard core: packing, atomic shard commits, resume after an interrupted or killed run, --shard-index."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

from audiotok.errors import UsageError
from audiotok.formats import npq
from audiotok.services.dataset import _sources
from audiotok.services.dataset.export import export_dataset
from audiotok.sinks.shards import STATE_DIR, ShardLimits, pack, read_index
from tests._token_trees import make_npq_tree

wds = pytest.importorskip("webdataset")
REPO = Path(__file__).resolve().parents[2]


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) and its bytes, the index and card aside."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), root)
            if rel not in (os.path.join(STATE_DIR, "index.json"), "README.md", "audiotok.json"):
                out[rel] = Path(folder, name).read_bytes()
    return out


def _leftovers(root: Path) -> list[str]:
    return [n for _, _, names in os.walk(root) for n in names if n.endswith((".tmp", ".group"))]


def _samples(out: Path) -> dict[str, np.ndarray]:
    shards = sorted(str(p) for p in out.glob("shard-*.tar"))
    return {s["json"]["id"]: s["codes.npy"] for s in wds.WebDataset(shards, shardshuffle=False).decode()}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "npq"
    make_npq_tree(root, 9, folders=3)
    return root


def test_pack_caps_bytes_and_items() -> None:
    sizes = [5, 5, 5, 20, 1, 1, 1, 1]
    by_bytes = pack(sizes, ShardLimits(max_bytes=10, max_items=100), int)
    assert by_bytes == [[5, 5], [5], [20], [1, 1, 1, 1]]  # an item above the cap gets a shard of its own
    by_items = pack(sizes, ShardLimits(max_bytes=10**9, max_items=3), int)
    assert by_items == [[5, 5, 5], [20, 1, 1], [1, 1]]
    with pytest.raises(UsageError):
        ShardLimits(max_bytes=0, max_items=1)


def test_exception_mid_shard_leaves_no_torn_shard_and_rerun_matches(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = tmp_path / "clean"
    export_dataset(tree, clean, format="webdataset", max_shard_items=2)
    out = tmp_path / "out"
    real_load = _sources.Sources.load
    calls = {"n": 0}

    def failing_load(self: _sources.Sources, ref: _sources.SourceRef, key: str):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 4:  # the second item of the second shard
            raise RuntimeError("disk on fire")
        return real_load(self, ref, key)

    monkeypatch.setattr(_sources.Sources, "load", failing_load)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_dataset(tree, out, format="webdataset", max_shard_items=2)
    assert _leftovers(out) == []
    assert sorted(p.name for p in out.glob("*.tar")) == ["shard-000000.tar"]  # the first, whole
    assert len(_samples(out)) == 2 and read_index(out) is None and not (out / "audiotok.json").exists()
    monkeypatch.setattr(_sources.Sources, "load", real_load)
    summary = export_dataset(tree, out, format="webdataset", max_shard_items=2)
    assert (summary.skipped, summary.written, summary.shards_written) == (2, 7, 4)
    assert _files(out) == _files(clean)  # every shard and receipt byte for byte
    assert _leftovers(out) == []


_KILLER = textwrap.dedent(
    """
    import os, sys
    from audiotok.sinks import webdataset as w
    real_add = w._Writer.add
    n = {"items": 0}
    def add(self, item):
        real_add(self, item)
        n["items"] += 1
        if n["items"] == 5:
            self.tar.fileobj.flush()
            os._exit(9)  # as kill -9: no cleanup runs
    w._Writer.add = add
    from audiotok.services.dataset.export import export_dataset
    export_dataset(sys.argv[1], sys.argv[2], format="webdataset", max_shard_items=2)
    """
)


def test_killed_run_leaves_a_temp_file_the_rerun_removes(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, str(tree), str(out)], env=env, capture_output=True, check=False
    )
    assert proc.returncode == 9, proc.stderr.decode()
    assert len(_leftovers(out)) >= 1  # the half-written third shard's temporary file
    assert sorted(p.name for p in out.glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]
    summary = export_dataset(tree, out, format="webdataset", max_shard_items=2)
    assert summary.finished and summary.skipped == 4 and _leftovers(out) == []
    clean = tmp_path / "clean"
    export_dataset(tree, clean, format="webdataset", max_shard_items=2)
    assert _files(out) == _files(clean)


def test_shard_index_runs_write_disjoint_shards_and_the_last_writes_the_card(
    tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pq"
    first = export_dataset(tree, out, format="parquet", max_shard_items=2, shard=(1, 2))
    assert not first.finished and not (out / "README.md").exists()
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "train-00001-of-00005.parquet",
        "train-00003-of-00005.parquet",
    ]
    second = export_dataset(tree, out, format="parquet", max_shard_items=2, shard=(0, 2))
    assert second.finished and (out / "README.md").is_file()
    assert first.written + second.written == 9
    clean = tmp_path / "clean"
    export_dataset(tree, clean, format="parquet", max_shard_items=2)
    assert _files(out).keys() == _files(clean).keys()
    rows = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert sorted(rows["id"]) == sorted(
        p.relative_to(tree).with_suffix("").as_posix() for p in tree.rglob("*.npq")
    )


def test_a_smaller_plan_removes_the_shards_of_the_older_one(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "wds"
    export_dataset(tree, out, format="webdataset", max_shard_items=2)
    assert len(list(out.glob("*.tar"))) == 5
    for p in sorted(tree.rglob("*.npq"))[4:]:
        p.unlink()
    summary = export_dataset(tree, out, format="webdataset", max_shard_items=2)
    assert summary.finished and summary.skipped == 4  # the first two shards are the same plan
    assert sorted(p.name for p in out.glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]
    assert len(list((out / STATE_DIR / "shards").iterdir())) == 2
    assert len(_samples(out)) == 4


def test_a_changed_source_is_written_again_and_formats_do_not_mix(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "wds"
    export_dataset(tree, out, format="webdataset", max_shard_items=2)
    changed = sorted(tree.rglob("*.npq"))[0]
    tokens, header = npq.read(changed)
    npq.write(changed, (tokens + 1) % 1024, header)  # same size, new codes
    summary = export_dataset(tree, out, format="webdataset", max_shard_items=2)
    assert (summary.shards_written, summary.skipped) == (1, 7)  # only the changed file's shard
    key = changed.relative_to(tree).with_suffix("").as_posix()
    np.testing.assert_array_equal(_samples(out)[key], (tokens + 1) % 1024)
    with pytest.raises(UsageError, match="holds a webdataset export"):
        export_dataset(tree, out, format="parquet")


_KILL_BETWEEN_MOVES = textwrap.dedent(
    """
    import os, sys
    from audiotok import _fsio
    real_replace = os.replace
    n = {"moves": 0}
    def replace(src, dst):
        real_replace(src, dst)
        n["moves"] += 1
        if n["moves"] == 4:  # format.json, shard 0, its receipt, shard 1: shard 1's receipt not yet moved
            os._exit(9)
    _fsio.os.replace = replace
    from audiotok.services.dataset.export import export_dataset
    export_dataset(sys.argv[1], sys.argv[2], format="parquet", max_shard_items=2)
    """
)


def test_killed_between_the_shard_and_its_receipt_the_rerun_finishes_the_commit(
    tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_BETWEEN_MOVES, str(tree), str(out)],
        env=env,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 9, proc.stderr.decode()
    assert any(n.endswith(".group") for n in _leftovers(out))  # the commit marker of the half-moved pair
    second = out / "data" / "train-00001-of-00005.parquet"
    assert second.is_file()  # complete: moved whole, a reader may open it
    assert pq.read_table(second).num_rows == 2
    summary = export_dataset(tree, out, format="parquet", max_shard_items=2)
    assert summary.skipped == 4 and summary.shards_written == 3 and _leftovers(out) == []
    clean = tmp_path / "clean"
    export_dataset(tree, clean, format="parquet", max_shard_items=2)
    assert _files(out) == _files(clean)
