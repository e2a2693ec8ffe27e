"""`dataset build` on ESF trees (.ecdc + .cond.npy + .cond.json)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import numpy as np
import pytest

from audiotok.data import load_token_dataset, pad_collate
from audiotok.formats import ecdc, esf
from audiotok.services.dataset_build import build_dataset
from audiotok.services.dataset_inspect import inspect_dataset
from tests._token_trees import make_esf_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_esf_tree(tmp_path / "ecdc_out", 5, cb=8, d=2)
    return tmp_path / "ecdc_out"


def test_rows_match_codes_and_sidecars(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True, verify=True)
    assert result.kind == "esf" and result.splits == {"train": 5} and result.verified
    ds = datasets.load_from_disk(str(out))["train"]
    assert ds.features["codes"] == datasets.List(datasets.Value("uint16"))
    assert ds.features["cond"] == datasets.List(datasets.Value("float32"))
    for row in ds.with_format("numpy"):
        src = tree / str(row["audio"]).removeprefix("tokens/train/")
        codes, meta = ecdc.read(src)
        cond, cmeta = esf.read_sidecar(*esf.sidecar_paths(src))
        # The documented row -> array mapping (features_for, README).
        stored = row["codes"].reshape(row["n_frames"], row["n_codebooks"])
        np.testing.assert_array_equal(stored, codes)
        stored_cond = row["cond"].reshape(row["n_frames"], len(row["cond_names"]))
        assert stored_cond.dtype == np.float32
        np.testing.assert_array_equal(stored_cond, cond.astype(np.float32))
        assert row["cond_names"].tolist() == list(cmeta.names) == ["f0", "f1"]
        assert (row["fps"], row["model"], row["bandwidth"]) == (75.0, meta.model, meta.bandwidth)


def test_link_mode_links_the_whole_triplet(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, embed=False, verify=True)
    audio = datasets.load_from_disk(str(out))["train"][0]["audio"]
    folder = out / audio.rsplit("/", 1)[0]  # only triplets in it: one link for the folder
    assert folder.is_symlink() and not os.path.isabs(os.readlink(folder))
    for name in (audio, audio.replace(".ecdc", ".cond.npy"), audio.replace(".ecdc", ".cond.json")):
        assert (out / name).is_file()
    ds = load_token_dataset(out)  # path-only layout: read through the links
    item = ds[0]
    assert item["codes"].shape[1] == 8 and item["cond"].shape == (item["codes"].shape[0], 2)


def test_a_folder_with_a_missing_sidecar_links_each_complete_triplet(tree: Path, tmp_path: Path) -> None:
    victim = sorted(tree.rglob("*.ecdc"))[0]
    os.remove(esf.sidecar_paths(victim)[0])
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True, embed=False, skip_bad=True, verify=True)
    assert [Path(f.path).name for f in result.failures] == [victim.name]
    assert (out / "tokens/train/s1").is_symlink() and not (out / "tokens/train/s0").is_symlink()
    kept = sorted(p.name for p in (out / "tokens/train/s0").iterdir())
    assert all((out / "tokens/train/s0" / n).is_symlink() for n in kept)
    assert kept == sorted(p.name for p in (tree / "s0").iterdir() if not p.name.startswith(victim.stem))


def test_frame_mismatch_and_missing_sidecar_are_per_file_failures(tree: Path, tmp_path: Path) -> None:
    files = sorted(tree.rglob("*.ecdc"))
    npy, js = esf.sidecar_paths(files[0])
    codes, _ = ecdc.read(files[0])
    esf.write_sidecar(npy, js, np.zeros((codes.shape[0] + 1, 1), np.float16), ["x"], fps=75.0)
    os.remove(esf.sidecar_paths(files[1])[1])
    result = build_dataset(tree, tmp_path / "ds", recursive=True)
    assert not result.written
    errors = {Path(f.path).name: f.error for f in result.failures}
    assert set(errors) == {files[0].name, files[1].name}
    assert "T=" in errors[files[0].name]
    assert build_dataset(tree, tmp_path / "ds", recursive=True, skip_bad=True).splits == {"train": 3}


def test_loader_and_inspect_on_esf(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, valid_fraction=0.4, seed=1)
    summary = inspect_dataset(out)
    assert {k for s in summary.splits for k in s.codebooks} == {8}
    assert {d for s in summary.splits for d in s.cond_dims} == {2}
    ds = load_token_dataset(out, "train")
    batch = pad_collate([ds[i] for i in range(len(ds))])
    assert batch["codes"].shape[2] == 8 and batch["cond"].shape[2] == 2
    assert batch["cond_names"][0] == ["f0", "f1"]


def _rewrite_codes(path: Path, codes: np.ndarray) -> None:
    meta = ecdc.read_meta(path)
    ecdc.write(path, codes, meta)
    npy, js = esf.sidecar_paths(path)
    esf.write_sidecar(npy, js, np.zeros((len(codes), 1), np.float16), ["x"], fps=75.0)


def test_codes_above_uint16_widen_the_column_and_above_uint32_fail(tree: Path, tmp_path: Path) -> None:
    files = sorted(tree.rglob("*.ecdc"))
    wide = np.array([[70_000] + [1] * 7, [2**32 - 1] + [0] * 7])
    _rewrite_codes(files[-1], wide)
    result = build_dataset(tree, tmp_path / "ds", recursive=True, verify=True)
    assert result.written and result.verified
    ds = datasets.load_from_disk(str(tmp_path / "ds"))["train"].with_format("numpy")
    assert ds.features["codes"] == datasets.List(datasets.Value("uint32"))
    row = next(r for r in ds if str(r["audio"]).endswith(files[-1].name))
    np.testing.assert_array_equal(row["codes"].reshape(2, 8), wide)
    _rewrite_codes(files[0], np.array([[2**32] * 8]))
    failed = build_dataset(tree, tmp_path / "ds", recursive=True)
    assert [(Path(f.path).name, f.error) for f in failed.failures] == [
        (files[0].name, "code 4294967296 does not fit the dataset's uint32 codes column")
    ]


@pytest.mark.parametrize(
    "path", ["a/x.ecdc", "x.y.ecdc", "/abs/dir.v2/take 1.ecdc", "tokens/train/s0/t.ecdc"]
)
def test_sidecar_names_agree_with_the_format_layer(path: str) -> None:
    from audiotok.services._dataset_rows import esf_files

    assert esf_files(path)[1:] == tuple(str(p) for p in esf.sidecar_paths(path))
