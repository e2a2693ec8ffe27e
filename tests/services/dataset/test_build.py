"""`dataset build` on NPQ trees: layout, round trip, materialize modes, safety."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets
import numpy as np
import pytest

from audiotok.errors import FormatError, InputError, UsageError
from audiotok.formats import npq
from audiotok.services.dataset import _rows as _dataset_rows
from audiotok.services.dataset.build import build_dataset
from audiotok.services.dataset.inspect import inspect_dataset
from audiotok.services.dataset.verify import verify_dataset
from tests._token_trees import make_esf_tree, make_npq_tree, placed_links


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
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(files) + sorted(d for d in dirs if (Path(dirpath) / d).is_symlink()):
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
    assert "audio" not in rows[0]  # no token file in the output to name (issue 23)
    assert [r["id"] for r in rows] == sorted(
        p.relative_to(tree).with_suffix("").as_posix() for p in tree.rglob("*.npq")
    )
    for row in rows:
        tokens, header = npq.read(tree / f"{row['id']}.npq")
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
        assert not placed.parent.is_symlink()
        if mode == "link":
            assert not os.path.isabs(os.readlink(placed))
            assert placed.resolve() == source.resolve()
        assert placed.read_bytes() == source.read_bytes()


def test_link_mode_links_each_file_never_a_folder(tree: Path, tmp_path: Path) -> None:
    # Every source folder holds only its rows' files: the case that once got one folder link.
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, embed=False, verify=True)
    sources = sorted(tree.rglob("*.npq"))
    assert placed_links(out) == {
        f"tokens/train/{p.relative_to(tree).as_posix()}": p.resolve() for p in sources
    }
    # The source folders stay out of reach: files added to them later are not in the dataset,
    # and emptying a dataset folder (``rm ds/tokens/train/d0/*``) removes links, not sources.
    (tree / "d0" / "later.npq").write_bytes(sources[0].read_bytes())
    assert not (out / "tokens/train/d0/later.npq").exists()
    for p in (out / "tokens/train/d0").iterdir():
        p.unlink()
    assert sorted(tree.rglob("*.npq")) == sorted([*sources, tree / "d0" / "later.npq"])


def test_only_the_rows_files_are_placed(tree: Path, tmp_path: Path) -> None:
    (tree / "d0" / "notes.txt").write_text("not a token file")
    (tree / "d1" / "broken.npq").write_bytes(b"NPQ1garbage")
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True, materialize="link", skip_bad=True)
    assert [Path(f.path).name for f in result.failures] == ["broken.npq"]
    # Neither the extra file nor the file left out is reachable; every row's file is, by its own link.
    rows = datasets.load_from_disk(str(out))["train"]["audio"]
    assert sorted(placed_links(out)) == sorted(rows) and len(rows) == 6


def test_folders_split_by_valid_fraction_or_max_files_place_only_their_rows(tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "t", 12, folders=2)
    out = tmp_path / "ds"
    build_dataset(tmp_path / "t", out, recursive=True, embed=False, valid_fraction=0.5, seed=1)
    dsd = datasets.load_from_disk(str(out))
    assert sorted(placed_links(out)) == sorted(a for ds in dsd.values() for a in ds["audio"])
    assert all(len(ds) for ds in dsd.values())
    build_dataset(tmp_path / "t", out, recursive=True, embed=False, max_files=8)
    assert sorted(placed_links(out)) == [f"tokens/train/d0/clip{i:03d}.npq" for i in range(0, 12, 2)] + [
        f"tokens/train/d1/clip{i:03d}.npq" for i in (1, 3)
    ]


def test_a_row_whose_placing_fails_leaves_nothing_under_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make_esf_tree(tmp_path / "t", 4)
    victim = files[1]
    real_symlink = os.symlink

    def symlink(src: str, dst: str) -> None:  # the victim's second file (its .cond.npy) cannot be linked
        if dst.endswith(f"{victim.stem}.cond.npy"):
            raise PermissionError(13, "Permission denied")
        real_symlink(src, dst)

    monkeypatch.setattr(os, "symlink", symlink)
    out = tmp_path / "ds"
    result = build_dataset(tmp_path / "t", out, recursive=True, embed=False, skip_bad=True)
    assert [(Path(f.path).name, f.error) for f in result.failures] == [(victim.name, "Permission denied")]
    kept = (files[0], *files[2:])
    assert placed_links(out) == {
        f"tokens/train/{p.relative_to(tmp_path / 't').as_posix()}": p.resolve()
        for codes in kept
        for p in (codes, codes.with_suffix(".cond.npy"), codes.with_suffix(".cond.json"))
    }


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


def test_no_embed_checks_every_npq_header(tree: Path, tmp_path: Path) -> None:
    (tree / "d0" / "broken.npq").write_bytes(b"NPQ1garbage")
    victim = sorted(tree.rglob("*.npq"))[-1]
    victim.write_bytes(victim.read_bytes()[:-1])  # one byte short of what its header says
    expected = {}
    for bad in (tree / "d0" / "broken.npq", victim):
        with pytest.raises(FormatError) as err:
            npq.read_header(bad)
        expected[str(bad)] = err.value.reason
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True, embed=False, skip_bad=True)
    assert {f.path: f.error for f in result.failures} == expected
    assert result.splits == {"train": 5} and len(placed_links(out)) == 5


def test_no_embed_without_files_is_refused(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="`embed` off"):
        build_dataset(tree, tmp_path / "ds", embed=False, materialize="none", recursive=True)


@pytest.mark.parametrize("mode", ["none", "link", "copy"])
def test_rebuild_is_idempotent(tree: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "ds"
    sources = _tree_listing(tree)
    build_dataset(tree, out, recursive=True, materialize=mode)  # type: ignore[arg-type]
    first = _tree_listing(out)
    again = build_dataset(tree, out, recursive=True, materialize=mode)  # type: ignore[arg-type]
    assert again.replaced
    assert _tree_listing(out) == first
    assert _tree_listing(tree) == sources  # removing the old dataset removed links, not what they point to
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
    assert all(a.startswith("clip") for a in datasets.load_from_disk(str(out))["valid"]["id"])
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
    assert va["valid"]["id"] == vb["valid"]["id"]
    names = lambda split: {x.rsplit("/", 1)[-1] for x in va[split]["id"]}  # noqa: E731
    assert not names("train") & names("valid")
    c = build_dataset(root, tmp_path / "c", recursive=True, valid_fraction=0.25, seed=4)
    assert datasets.load_from_disk(str(tmp_path / "c"))["valid"]["id"] != va["valid"]["id"] or (
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
    with pytest.raises(UsageError, match="`suffix`"):
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
    rows = lambda out: [(r["id"], r["codes"]) for r in _rows(out)]  # noqa: E731
    assert rows(tmp_path / "one") == rows(tmp_path / "two")


def _write_npq(path: Path, tokens: np.ndarray, vocab: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    k = tokens.shape[1]
    npq.write(
        path, tokens, npq.Npq1Header(token_rate=86.1328125, seq_len=len(tokens), vocab_sizes=(vocab,) * k)
    )


def test_vocab_above_uint16_gets_a_uint32_codes_column(tmp_path: Path) -> None:
    tokens = np.array([[0, 99_999], [65_536, 1], [99_999, 70_000]], dtype=np.int64)
    _write_npq(tmp_path / "wide" / "big.npq", tokens, 100_000)
    assert npq.read_header(tmp_path / "wide" / "big.npq").dtype == np.uint32
    result = build_dataset(tmp_path / "wide", tmp_path / "ds", verify=True)
    assert result.written and result.verified and not result.failures
    ds = datasets.load_from_disk(str(tmp_path / "ds"))["train"]
    assert ds.features["codes"] == datasets.List(datasets.Value("uint32"))
    row = ds.with_format("numpy")[0]
    np.testing.assert_array_equal(row["codes"].reshape(row["n_frames"], row["n_codebooks"]), tokens)
    assert inspect_dataset(tmp_path / "ds").splits[0].codes_dtype == "uint32"


def test_vocab_65536_stays_uint16(tmp_path: Path) -> None:
    _write_npq(tmp_path / "t" / "a.npq", np.array([[65_535, 0]]), 65_536)
    build_dataset(tmp_path / "t", tmp_path / "ds")
    ds = datasets.load_from_disk(str(tmp_path / "ds"))["train"]
    assert ds.features["codes"] == datasets.List(datasets.Value("uint16"))
    assert ds[0]["codes"] == [65_535, 0]


def test_a_wide_file_after_narrow_ones_widens_every_split(tmp_path: Path) -> None:
    narrow = make_npq_tree(tmp_path / "t", 8, k=2, folders=1)
    wide = np.array([[99_999, 3]] * 5)
    _write_npq(tmp_path / "t" / "d0" / "zz_wide.npq", wide, 100_000)  # sorted last: rows are written first
    out = tmp_path / "ds"
    result = build_dataset(tmp_path / "t", out, recursive=True, valid_fraction=0.3, batch_rows=2, verify=True)
    assert result.written and result.verified and sum(result.splits.values()) == 9
    dsd = datasets.load_from_disk(str(out))
    assert {str(ds.features["codes"].feature.dtype) for ds in dsd.values()} == {"uint32"}
    expected = {p.stem: npq.read(p)[0] for p in narrow} | {"zz_wide": wide}
    seen = set()
    for ds in dsd.values():
        for row in ds.with_format("numpy"):
            name = str(row["id"]).rsplit("/", 1)[-1]
            codes = row["codes"].reshape(row["n_frames"], row["n_codebooks"])
            np.testing.assert_array_equal(codes, expected[name])
            seen.add(name)
    assert seen == set(expected)


def test_tokens_outside_a_uint16_vocabulary_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t" / "bad.npq"
    path.parent.mkdir()
    header = npq.Npq1Header(token_rate=86.1328125, seq_len=1, vocab_sizes=(1024,), dtype_code=2)
    path.write_bytes(header.to_bytes() + np.array([70_000], "<u4").tobytes())  # valid header, bad token
    result = build_dataset(tmp_path / "t", tmp_path / "ds")
    assert not result.written
    assert [f.error for f in result.failures] == [
        "token 70000 is outside the vocabulary (vocab_sizes at most 1024)"
    ]


def _spec_loader(out: Path) -> int:
    """A loader written for ``specs/encodec-dataset-workflow.md``: ``audio`` is a path relative to the
    dataset folder, the token file is there and its sidecars are beside it. Returns the rows read."""
    from audiotok.formats import ecdc, esf

    n = 0
    for ds in datasets.load_from_disk(str(out)).values():
        for audio in ds["audio"]:
            path = out / audio
            if path.suffix == ".ecdc":
                ecdc.read(path)
                esf.read_sidecar(*esf.sidecar_paths(path))
            else:
                npq.read(path)
            n += 1
    return n


@pytest.mark.parametrize("kind", ["npq", "esf"])
@pytest.mark.parametrize(
    ("embed", "materialize"), [(True, None), (True, "none"), (True, "link"), (True, "copy"), (False, None)]
)
def test_every_audio_path_names_a_file_in_the_output(
    tmp_path: Path, kind: str, embed: bool, materialize: str | None
) -> None:
    """Issue 23: no ``audio`` value names a file the output lacks (the embedded default used to)."""
    src = tmp_path / kind
    (make_npq_tree if kind == "npq" else make_esf_tree)(src, 4)
    out = tmp_path / "ds"
    build_dataset(src, out, recursive=True, embed=embed, materialize=materialize)  # type: ignore[arg-type]
    ds = datasets.load_from_disk(str(out))["train"]
    placed = not embed or materialize in ("link", "copy")
    if placed:  # the spec's layout: a loader written for it reads every row
        assert "id" not in ds.column_names and _spec_loader(out) == 4
    else:  # nothing under tokens/: no audio column; `id` names the source file below its split folder
        assert "audio" not in ds.column_names and not (out / "tokens").exists()
        suffix = ".npq" if kind == "npq" else ".ecdc"
        assert sorted(ds["id"]) == sorted(
            p.relative_to(src).with_suffix("").as_posix() for p in src.rglob(f"*{suffix}")
        )
