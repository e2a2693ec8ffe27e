"""`dataset build` on ESF trees (.ecdc + .cond.npy + .cond.json)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import numpy as np
import pytest

from audiotok.data import load_token_dataset, pad_collate
from audiotok.formats import ecdc, esf
from audiotok.services.dataset._rows import esf_files
from audiotok.services.dataset.build import build_dataset
from audiotok.services.dataset.inspect import inspect_dataset
from tests._token_trees import make_esf_tree, placed_links


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
        src = tree / f"{row['id']}.ecdc"
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


def test_link_mode_links_each_file_of_the_triplet(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    build_dataset(tree, out, recursive=True, embed=False, verify=True)
    triplets = [esf_files(str(p)) for p in sorted(tree.rglob("*.ecdc"))]
    # Only triplets in each source folder, yet no folder link: three relative links per row.
    assert placed_links(out) == {
        f"tokens/train/{Path(f).relative_to(tree).as_posix()}": Path(f).resolve() for t in triplets for f in t
    }
    ds = load_token_dataset(out)  # path-only layout: read through the links
    item = ds[0]
    assert item["codes"].shape[1] == 8 and item["cond"].shape == (item["codes"].shape[0], 2)


def test_a_triplet_with_a_missing_sidecar_is_not_placed(tree: Path, tmp_path: Path) -> None:
    victim = sorted(tree.rglob("*.ecdc"))[0]
    os.remove(esf.sidecar_paths(victim)[0])
    out = tmp_path / "ds"
    result = build_dataset(tree, out, recursive=True, embed=False, skip_bad=True, verify=True)
    assert [(Path(f.path).name, f.error) for f in result.failures] == [
        (victim.name, f"missing_sidecar: no {victim.stem}.cond.npy")
    ]
    assert sorted(placed_links(out)) == sorted(
        f"tokens/train/{p.relative_to(tree).as_posix()}"
        for p in tree.rglob("*")
        if p.is_file() and not p.name.startswith(victim.stem + ".")
    )


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
    t = codes.shape[0]
    assert errors[files[0].name] == f"frame_mismatch: sidecar T = {t + 1}, codes T = {t}"
    assert errors[files[1].name] == f"missing_sidecar: no {files[1].stem}.cond.json"
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
    row = next(r for r in ds if str(r["id"]).endswith(files[-1].stem))
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
    assert esf_files(path)[1:] == tuple(str(p) for p in esf.sidecar_paths(path))


def _break(codes: Path, kind: str) -> None:
    """Give the triplet of ``codes`` one problem (``kind``), as found in real corpora."""
    npy, js = esf.sidecar_paths(codes)
    data = json.loads(js.read_text())
    if kind == "frame_mismatch":
        np.save(npy, np.zeros((ecdc.read_meta(codes).n_frames + 1, 2), np.float16))
        data["norm"] = {}
    elif kind == "missing_sidecar":
        os.remove(js)
        return
    elif kind == "names_length_mismatch":
        data["names"] = data["names"][:1]
    elif kind == "fps_mismatch":
        data["fps"] = 50
    elif kind == "fps_missing":
        del data["fps"]
    elif kind == "norm_inverted":
        data["norm"]["min"], data["norm"]["max"] = data["norm"]["max"], data["norm"]["min"]
    elif kind == "bad_ecdc":
        codes.write_bytes(codes.read_bytes()[:100])
    elif kind == "pickled_npy":
        np.save(npy, np.full((3, 2), None, dtype=object), allow_pickle=True)
    elif kind == "truncated_npy":
        npy.write_bytes(npy.read_bytes()[:-2])
    js.write_text(json.dumps(data))


_KINDS = {  # what _break makes -> the first issue the audit names
    "frame_mismatch": "frame_mismatch",
    "missing_sidecar": "missing_sidecar",
    "names_length_mismatch": "names_length_mismatch",
    "fps_mismatch": "fps_mismatch",
    "bad_ecdc": "bad_ecdc",
    "fps_missing": "fps_mismatch",
    "norm_inverted": "norm_inverted",
    "pickled_npy": "bad_sidecar",
    "truncated_npy": "bad_sidecar",
}


@pytest.mark.parametrize(
    ("jobs", "embed"),
    [(1, True), (2, True), (1, False), (2, False)],
    ids=["1", "2", "1-no-embed", "2-no-embed"],
)
def test_build_skips_exactly_what_the_audit_reports(tmp_path: Path, jobs: int, embed: bool) -> None:
    from audiotok.services.esf import audit as esf_audit
    from audiotok.services.esf.sidecars import SidecarOptions

    root = tmp_path / "corpus"
    files = make_esf_tree(root, 40, cb=8, d=2)
    broken = {str(files[i]): kind for i, kind in enumerate(list(_KINDS) * 3)}  # 3 of each kind
    for path, kind in broken.items():
        _break(Path(path), kind)
    opts = SidecarOptions(audio_root=root)
    audited = {item.path: item for item in esf_audit.audit_paths(opts, esf_audit.AuditOptions(), jobs=jobs)}
    assert {p: i.issues[0].type for p, i in audited.items() if i.issues} == {
        p: _KINDS[k] for p, k in broken.items()
    }
    result = build_dataset(root, tmp_path / "ds", recursive=True, skip_bad=True, workers=jobs, embed=embed)
    failed = {f.path: f.error for f in result.failures}
    assert set(failed) == {p for p, i in audited.items() if not i.ok}
    for path, reason in failed.items():
        first = audited[path].issues[0]
        assert reason.partition(": ")[0] == first.type
        # Without embedding, the audit's own header reads: the same words for every issue.
        if not embed or first.type not in ("bad_ecdc", "bad_sidecar"):
            assert reason == f"{first.type}: {first.detail}"
    assert result.splits == {"train": len(files) - len(broken)}
    for row in datasets.load_from_disk(str(tmp_path / "ds"))["train"]:
        src = root / (row["audio"].removeprefix("tokens/train/") if not embed else f"{row['id']}.ecdc")
        assert str(src) not in broken
        if embed:
            assert row["fps"] == json.loads(esf.sidecar_paths(src)[1].read_text())["fps"] == 75.0
    if not embed:  # only the kept triplets are linked
        kept = [esf_files(str(p)) for p in files if str(p) not in broken]
        assert sorted(placed_links(tmp_path / "ds")) == sorted(
            f"tokens/train/{Path(f).relative_to(root).as_posix()}" for t in kept for f in t
        )


def test_build_checks_fps_against_the_codes_fps(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    meta = ecdc.EcdcMeta(n_codebooks=4, n_frames=0, fps=50.0, model="encodec_24khz")
    for name, json_fps in (("fifty", 50.0), ("wrong", 75.0)):
        ecdc.write(root / f"{name}.ecdc", np.zeros((6, 4), np.int64), meta)
        esf.write_sidecar(*esf.sidecar_paths(root / f"{name}.ecdc"), np.zeros((6, 1)), ["x"], fps=json_fps)
    result = build_dataset(root, tmp_path / "ds", recursive=True, skip_bad=True)
    assert [(Path(f.path).name, f.error) for f in result.failures] == [
        ("wrong.ecdc", "fps_mismatch: JSON fps 75, expected 50")
    ]
    [row] = datasets.load_from_disk(str(tmp_path / "ds"))["train"]
    assert (row["id"], row["fps"]) == ("fifty", 50.0)
