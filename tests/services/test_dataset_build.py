"""`dataset build` on NPQ trees: layout, round trip, materialize modes, safety."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets
import numpy as np
import pytest

from audiotok.errors import InputError, UsageError
from audiotok.formats import npq
from audiotok.services import _dataset_rows
from audiotok.services.dataset_build import build_dataset
from audiotok.services.dataset_verify import verify_dataset
from tests._token_trees import make_npq_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "npq_out"
    make_npq_tree(root, 6)
    return root


def _rows(out: Path, split: str = "train") -> list[dict]:
    return list(datasets.load_from_disk(str(out))[split])


def _tree_listing(root: Path) -> list[tuple[str, str]]:
    """Every path under ``root`` with its link target or content hash (arrow state files excluded)."""
    listing = []
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            p = Path(dirpath) / name
            if name == "state.json":
                continue
            what = os.readlink(p) if p.is_symlink() else hashlib.sha1(p.read_bytes()).hexdigest()
            listing.append((str(p.relative_to(root)), what))
    return sorted(listing)


def test_embedded_rows_match_sources_token_for_token(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True)
    assert result.written and result.kind == "npq" and result.splits == {"train": 6}
    assert result.materialize == "none" and not (out / "tokens").exists()
    rows = _rows(out)
    assert [r["audio"] for r in rows] == sorted(
        f"tokens/train/{p.relative_to(tree).as_posix()}" for p in tree.rglob("*.npq")
    )
    for row in rows:
        tokens, header = npq.read(tree / row["audio"].removeprefix("tokens/train/"))
        codes = np.asarray(row["codes"], dtype=np.int64).reshape(row["n_frames"], row["n_codebooks"])
        np.testing.assert_array_equal(codes, tokens)
        assert row["n_frames"] == header.seq_len and row["fps"] == header.token_rate
        assert row["format"] == "NPQ1" and row["k_mid"] is None and row["vocab_sizes"] == [1024] * 4
    assert result.n_frames == sum(r["n_frames"] for r in rows)


def test_stereo_npq_keeps_mid_side_counts(tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "st", 3, k=2, stereo=True)
    build_dataset(tmp_path / "st", tmp_path / "ds", recursive=True)
    row = _rows(tmp_path / "ds")[0]
    assert (row["format"], row["k_mid"], row["k_side"], row["n_codebooks"]) == ("NPQ2", 2, 2, 4)


@pytest.mark.parametrize("mode", ["link", "copy"])
def test_materialize_modes_place_every_file(tree: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, materialize=mode, verify=True)  # type: ignore[arg-type]
    for row in _rows(out):
        placed = out / row["audio"]
        source = tree / row["audio"].removeprefix("tokens/train/")
        assert placed.is_symlink() is (mode == "link")
        if mode == "link":
            assert not os.path.isabs(os.readlink(placed))
            assert placed.resolve() == source.resolve()
        assert placed.read_bytes() == source.read_bytes()


def test_links_stay_valid_when_tree_and_dataset_move_together(tree: Path, tmp_path: Path) -> None:
    build_dataset(tree, tmp_path / "ds", recursive=True, materialize="link")
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    os.rename(tmp_path, moved)
    try:
        row = _rows(moved / "ds")[0]
        assert (moved / "ds" / row["audio"]).read_bytes()[:4] == b"NPQ1"
    finally:
        os.rename(moved, tmp_path)


def test_no_embed_keeps_the_spec_path_only_layout(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True, embed=False, verify=True)
    assert result.materialize == "link" and result.n_frames is None and result.verified
    ds = datasets.load_from_disk(str(out))["train"]
    assert ds.column_names == ["audio"]
    assert all((out / a).is_file() for a in ds["audio"])


def test_no_embed_without_files_is_refused(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--no-embed"):
        build_dataset(tree, tmp_path / "ds", embed=False, materialize="none", recursive=True)


@pytest.mark.parametrize("mode", ["none", "link", "copy"])
def test_rebuild_is_idempotent(tree: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, materialize=mode)  # type: ignore[arg-type]
    first = _tree_listing(out)
    again = build_dataset(tree, out, recursive=True, materialize=mode)  # type: ignore[arg-type]
    assert again.replaced
    assert _tree_listing(out) == first
    assert not (tmp_path / "ds.incomplete").exists() and not (tmp_path / "ds.old").exists()


def test_interrupted_build_leaves_the_old_dataset_intact(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, materialize="link")
    before = _tree_listing(out)
    real_read = _dataset_rows.read_row
    calls = []

    def dying_read(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_dataset_rows, "read_row", dying_read)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(tree, out, recursive=True, materialize="copy")
    assert _tree_listing(out) == before
    assert not (tmp_path / "ds.incomplete").exists()


def test_leftovers_of_a_killed_build_are_recovered(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True)
    before = _tree_listing(out)
    # Killed between the two renames: the old dataset sits at ds.old, a half staging folder remains.
    os.rename(out, tmp_path / "ds.old")
    (tmp_path / "ds.incomplete" / "tokens").mkdir(parents=True)
    result = build_dataset(tree, out, recursive=True, max_files=2)
    assert result.replaced and result.splits == {"train": 2}
    assert not (tmp_path / "ds.old").exists() and not (tmp_path / "ds.incomplete").exists()
    assert _tree_listing(out) != before


def test_bad_file_is_reported_and_nothing_is_written(tree: Path, tmp_path: Path) -> None:
    (tree / "d0" / "broken.npq").write_bytes(b"NPQ1garbage")
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True)
    assert not result.written and not out.exists() and not (tmp_path / "ds.incomplete").exists()
    assert [Path(f.path).name for f in result.failures] == ["broken.npq"]
    kept = build_dataset(tree, out, recursive=True, skip_bad=True)
    assert kept.written and kept.splits == {"train": 6} and len(kept.failures) == 1


def test_split_map_and_max_files(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = build_dataset(tree, out, split_map={"train": "d0", "valid": "d1"})
    assert result.splits == {"train": 3, "valid": 3}
    assert all(a.startswith("tokens/valid/clip") for a in datasets.load_from_disk(str(out))["valid"]["audio"])
    assert build_dataset(tree, out, split_map={"train": "d0"}, max_files=2).splits == {"train": 2}


def test_split_map_escaping_the_input_root_is_refused(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(UsageError, match="escapes"):
        build_dataset(tree, tmp_path / "ds", split_map={"train": "../elsewhere"})
    with pytest.raises(UsageError, match="overlap"):
        build_dataset(tree, tmp_path / "ds", split_map={"train": ".", "valid": "d1"}, recursive=True)


def test_symlinked_file_outside_the_root_is_refused(tree: Path, tmp_path: Path) -> None:
    outside = make_npq_tree(tmp_path / "other", 1)[0]
    (tree / "d0" / "sneaky.npq").symlink_to(outside)
    result = build_dataset(tree, tmp_path / "ds", recursive=True, skip_bad=True)
    assert [(Path(f.path).name, "outside" in f.error) for f in result.failures] == [("sneaky.npq", True)]


def test_valid_fraction_is_deterministic_and_disjoint(tmp_path: Path) -> None:
    root = tmp_path / "many"
    make_npq_tree(root, 40, folders=4)
    a = build_dataset(root, tmp_path / "a", recursive=True, valid_fraction=0.25, seed=3)
    b = build_dataset(root, tmp_path / "b", recursive=True, valid_fraction=0.25, seed=3)
    assert a.splits == b.splits and 0 < a.splits["valid"] < 40 and sum(a.splits.values()) == 40
    va = datasets.load_from_disk(str(tmp_path / "a"))
    vb = datasets.load_from_disk(str(tmp_path / "b"))
    assert va["valid"]["audio"] == vb["valid"]["audio"]
    names = lambda split: {x.rsplit("/", 1)[-1] for x in va[split]["audio"]}  # noqa: E731
    assert not names("train") & names("valid")
    c = build_dataset(root, tmp_path / "c", recursive=True, valid_fraction=0.25, seed=4)
    assert datasets.load_from_disk(str(tmp_path / "c"))["valid"]["audio"] != va["valid"]["audio"] or (
        c.splits != a.splits
    )


def test_output_folder_checks(tree: Path, tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a dataset"):
        build_dataset(tree, precious, recursive=True)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(UsageError, match="contain each other"):
        build_dataset(tree, tree / "ds", recursive=True)
    with pytest.raises(InputError, match="no such folder"):
        build_dataset(tmp_path / "missing", tmp_path / "ds")


def test_mixed_suffixes_need_a_choice(tree: Path, tmp_path: Path) -> None:
    (tree / "x.ecdc").write_bytes(b"")
    with pytest.raises(UsageError, match="--suffix"):
        build_dataset(tree, tmp_path / "ds", recursive=True)
    assert build_dataset(tree, tmp_path / "ds", recursive=True, suffix=".npq").splits == {"train": 6}


def test_verify_reports_a_source_that_changed(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True)
    victim = sorted(tree.rglob("*.npq"))[0]
    tokens, header = npq.read(victim)
    npq.write(victim, (tokens.astype(np.int64) + 1) % 1024, header)  # type: ignore[arg-type]
    failures = verify_dataset(str(out), "npq", {"train": str(tree.resolve())}, "tokens", embed=True)
    assert [(Path(f.path).name, "codes" in f.error) for f in failures] == [(victim.name, True)]


def test_verify_reports_a_dangling_link(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, embed=False)
    victim = sorted(tree.rglob("*.npq"))[-1]
    victim.unlink()
    failures = verify_dataset(str(out), "npq", {"train": str(tree.resolve())}, "tokens", embed=False)
    assert [Path(f.path).name for f in failures] == [victim.name]
    assert "does not resolve" in failures[0].error


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tokens_subdir": "train"}, "collides"),
        ({"tokens_subdir": "../up"}, "plain relative"),
        ({"valid_fraction": 1.5}, "between 0 and 1"),
        ({"valid_fraction": 0.1, "split_map": {"train": "d0"}}, "cannot be combined"),
        ({"max_files": 0}, "at least 1"),
    ],
)
def test_option_errors(tree: Path, tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        build_dataset(tree, tmp_path / "ds", recursive=True, **kwargs)


def test_worker_processes_give_the_same_dataset(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    make_npq_tree(root, 12, folders=3)
    (root / "d0" / "broken.npq").write_bytes(b"NPQ1garbage")
    one = build_dataset(root, tmp_path / "one", recursive=True, skip_bad=True)
    two = build_dataset(root, tmp_path / "two", recursive=True, skip_bad=True, workers=2)
    assert one.failures == two.failures and one.splits == two.splits == {"train": 12}
    rows = lambda out: [(r["audio"], r["codes"]) for r in _rows(out)]  # noqa: E731
    assert rows(tmp_path / "one") == rows(tmp_path / "two")
