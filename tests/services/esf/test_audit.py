"""esf audit: every issue type, named on the right file, the rest still reported."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from audiotok.formats import ecdc, esf
from audiotok.progress import ProgressEvent
from audiotok.services.esf import audit as esf_audit
from audiotok.services.esf.sidecars import SidecarOptions, find_codes
from tests.services.esf.test_sidecars import make_codes

T = 12


def _good(root: Path, name: str) -> tuple[Path, Path, Path]:
    codes = make_codes(root / f"{name}.ecdc", T)
    npy, js = esf.sidecar_paths(codes)
    esf.write_sidecar(npy, js, np.stack([np.linspace(0, 1, T), np.full(T, 3.0)], 1), ["pos", "gain"])
    return codes, npy, js


def _patch_json(js: Path, **changes: object) -> None:
    data = json.loads(js.read_text())
    data.update(changes)
    js.write_text(json.dumps(data))


def _corpus(root: Path) -> dict[str, str]:
    """One file per issue type; returns stem -> expected issue type."""
    expected: dict[str, str] = {"ok": ""}
    _good(root, "ok")
    make_codes(root / "missing_sidecar.ecdc", T)
    _, npy, _ = _good(root, "bad_ecdc")
    (root / "bad_ecdc.ecdc").write_bytes(b"PK\x03\x04 not really")
    _, _, js = _good(root, "bad_sidecar")
    js.write_text("{broken")
    _, npy, _ = _good(root, "bad_shape")
    np.save(npy, np.zeros(T, np.float16))
    _, npy, _ = _good(root, "frame_mismatch")
    np.save(npy, np.tile(np.array([0.5, 3.0], np.float16), (T + 1, 1)))
    _, npy, _ = _good(root, "dtype_mismatch")
    np.save(npy, np.zeros((T, 2), np.float32))
    _, _, js = _good(root, "fps_mismatch")
    _patch_json(js, fps=50)
    _, _, js = _good(root, "duplicate_names")
    _patch_json(js, names=["pos", "pos"])
    _, _, js = _good(root, "names_length_mismatch")
    _patch_json(js, names=["pos"])
    _, _, js = _good(root, "missing_features")
    _patch_json(js, names=["pos", "volume"])
    _, _, js = _good(root, "norm_length_mismatch")
    _patch_json(js, norm={"min": [0, 0], "max": [1], "mean": [], "std": []})
    _, _, js = _good(root, "range_below_min")
    _patch_json(js, norm={"min": [0.5, 3], "max": [1, 3], "mean": [0, 0], "std": [0, 0]})
    _, _, js = _good(root, "range_above_max")
    _patch_json(js, norm={"min": [0, 3], "max": [0.5, 3], "mean": [0, 0], "std": [0, 0]})
    _, _, js = _good(root, "norm_inverted")
    _patch_json(js, norm={"min": [0, 3], "max": [1, 2], "mean": [0, 0], "std": [0, 0]})
    expected.update({t: t for t in esf_audit.ISSUE_TYPES})
    return expected


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_issue_type_on_its_file(tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _corpus(tmp_path)
    if jobs == 2:  # force the process pool even for a small corpus
        files = sorted(str(p) for p in tmp_path.glob("*.ecdc")) * 5
        monkeypatch.setattr(esf_audit, "iter_codes", lambda o: iter(files))
    opts = esf_audit.AuditOptions(require=("pos", "gain"), expect_dtype="float16", verify_ranges=True)
    items = list(esf_audit.audit_paths(SidecarOptions(audio_root=tmp_path), opts, jobs=jobs))
    got: dict[str, set[str]] = {}
    for item in items:
        got.setdefault(Path(item.path).stem, set()).update(i.type for i in item.issues)
    for stem, issue in expected.items():
        if issue == "":
            assert got[stem] == set(), got[stem]
        else:
            assert issue in got[stem], (stem, got[stem])
    assert got["missing_features"] == {"missing_features"}
    assert got["range_above_max"] == {"range_above_max"}
    assert got["frame_mismatch"] == {"frame_mismatch"}
    summary = esf_audit.summarize(items)
    assert set(summary.issues) == set(esf_audit.ISSUE_TYPES) and summary.files == len(items)
    assert esf_audit.failing(items, None) and not esf_audit.failing(items, ["none"])
    assert esf_audit.failing(items, ["norm_inverted"])


def test_fail_on_and_csv(tmp_path: Path) -> None:
    _good(tmp_path, "a")
    _, _, js = _good(tmp_path, "b")
    _patch_json(js, fps=50)
    items = list(esf_audit.audit_paths(SidecarOptions(audio_root=tmp_path), esf_audit.AuditOptions()))
    assert not esf_audit.failing(items, ["frame_mismatch"]) and esf_audit.failing(items, ["fps_mismatch"])
    esf_audit.export_csv(items, tmp_path / "issues.csv", SidecarOptions(audio_root=tmp_path))
    lines = (tmp_path / "issues.csv").read_text().splitlines()
    assert lines[0] == "type,rel_ecdc,rel_cond,detail,path" and len(lines) == 2
    assert lines[1].startswith("fps_mismatch,b.ecdc,b.cond.npy,")
    ok = list(
        esf_audit.audit_paths(SidecarOptions(audio_root=tmp_path), esf_audit.AuditOptions(expect_fps=50))
    )
    assert [Path(i.path).stem for i in ok if i.issues] == ["a"]


def _issues(root: Path, **opts: object) -> dict[str, list[tuple[str, str]]]:
    items = esf_audit.audit_paths(SidecarOptions(audio_root=root), esf_audit.AuditOptions(**opts))  # type: ignore[arg-type]
    return {Path(i.path).stem: [(x.type, x.detail) for x in i.issues] for i in items}


def test_csv_keeps_the_older_tools_columns(tmp_path: Path) -> None:
    root = tmp_path / "ecdc"
    _, _, js = _good(root / "a", "x")
    _patch_json(js, fps=50, names=["pos"])
    _good(root, "ok")
    items = list(esf_audit.audit_paths(SidecarOptions(audio_root=root), esf_audit.AuditOptions()))
    out = tmp_path / "out" / "issues.csv"
    esf_audit.export_csv(items, out, SidecarOptions(audio_root=root))
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    codes = str(root / "a" / "x.ecdc")
    assert rows == [
        ["type", "rel_ecdc", "rel_cond", "detail", "path"],
        ["names_length_mismatch", "a/x.ecdc", "x.cond.npy", "1 names for D = 2 columns", codes],
        ["fps_mismatch", "a/x.ecdc", "x.cond.npy", "JSON fps 50, expected 75", codes],
    ]
    assert [p.name for p in out.parent.iterdir()] == ["issues.csv"]  # no temp file left


def test_csv_paths_under_a_cond_root(tmp_path: Path) -> None:
    root, params = tmp_path / "ecdc", tmp_path / "params"
    sidecars = SidecarOptions(audio_root=root, cond_root=params)
    for name in ("b/y", "b/z"):
        codes = make_codes(root / f"{name}.ecdc", T)
        npy, js = sidecars.pair(codes)
        esf.write_sidecar(npy, js, np.zeros((T if name == "b/y" else T + 2, 1)), ["pos"])
    items = list(esf_audit.audit_paths(sidecars, esf_audit.AuditOptions()))
    esf_audit.export_csv(items, tmp_path / "issues.csv", sidecars)
    with (tmp_path / "issues.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["type"], r["rel_ecdc"], r["rel_cond"]) for r in rows] == [
        ("frame_mismatch", "b/z.ecdc", "b/z.cond.npy")
    ]
    assert rows[0]["path"] == os.path.abspath(root / "b" / "z.ecdc")


def test_json_without_fps_is_reported(tmp_path: Path) -> None:
    _good(tmp_path, "ok")
    _, _, js = _good(tmp_path, "v1")
    data = json.loads(js.read_text())
    del data["fps"]
    js.write_text(json.dumps(data))
    _, _, js = _good(tmp_path, "v2")
    js.write_text(json.dumps({"schema_version": 2, "features": {"pos": {}, "gain": {}}}))
    expected = {"ok": [], "v1": [("fps_mismatch", "fps missing")], "v2": [("fps_mismatch", "fps missing")]}
    assert _issues(tmp_path) == expected
    assert _issues(tmp_path, expect_fps=75.0) == expected


def test_pickled_npy_is_bad_sidecar_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    _, npy, _ = _good(tmp_path, "evil")
    arr = np.empty((T, 2), dtype=object)
    arr[0, 0] = Evil()
    with npy.open("wb") as fh:
        np.save(fh, arr, allow_pickle=True)
    for opts in ({}, {"expect_dtype": "float16", "verify_ranges": True}):
        [(issue, detail)] = _issues(tmp_path, **opts)["evil"]
        assert issue == "bad_sidecar" and "Python objects" in detail and str(npy) in detail
    assert not marker.exists()


def test_truncated_npy_is_bad_sidecar(tmp_path: Path) -> None:
    _, npy, _ = _good(tmp_path, "cut")
    npy.write_bytes(npy.read_bytes()[:-3])
    [(issue, detail)] = _issues(tmp_path)["cut"]
    assert issue == "bad_sidecar" and "truncated" in detail
    with pytest.raises(ValueError):  # what the header check stands in for
        np.load(npy, allow_pickle=False)


def test_fps_is_checked_against_the_codes_own_fps(tmp_path: Path) -> None:
    meta = ecdc.EcdcMeta(n_codebooks=8, n_frames=0, fps=50.0, model="encodec_24khz")
    codes = ecdc.write(tmp_path / "slow.ecdc", np.zeros((T, 8), np.int64), meta)
    assert codes.fps == 50.0
    npy, js = esf.sidecar_paths(tmp_path / "slow.ecdc")
    esf.write_sidecar(npy, js, np.zeros((T, 1)), ["pos"], fps=50.0)
    _, _, js75 = _good(tmp_path, "std")
    assert _issues(tmp_path) == {"slow": [], "std": []}
    assert _issues(tmp_path, expect_fps=75.0) == {
        "slow": [("fps_mismatch", "JSON fps 50, expected 75")],
        "std": [],
    }
    _patch_json(js, fps=75)
    assert _issues(tmp_path)["slow"] == [("fps_mismatch", "JSON fps 75, expected 50")]
    (tmp_path / "std.ecdc").write_bytes(b"garbage")  # unreadable codes: compared with the ESF 75
    _patch_json(js75, fps=50)
    assert [t for t, _ in _issues(tmp_path)["std"]] == ["bad_ecdc", "fps_mismatch"]


def test_audit_runs_without_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    expected = _corpus(tmp_path)  # its bad_ecdc is garbage; a cut-off zip too:
    codes, _, _ = _good(tmp_path, "truncated_zip")
    codes.write_bytes(codes.read_bytes()[:-100])
    code = (
        "import sys; from pathlib import Path\n"
        "from audiotok.services.esf import audit as esf_audit, sidecars as esf_sidecars\n"
        "opts = esf_sidecars.SidecarOptions(audio_root=Path(sys.argv[1]))\n"
        "items = list(esf_audit.audit_paths(opts, esf_audit.AuditOptions(verify_ranges=True)))\n"
        "print(len(items), 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(len(expected) + 1), "False"]


def test_workers_keep_the_scan_order_and_report_the_total(tmp_path: Path) -> None:
    for i in range(70):
        _good(tmp_path / f"d{i % 3}", f"c{i:02d}")
    events: list[ProgressEvent] = []
    sidecars = SidecarOptions(audio_root=tmp_path)
    items = list(esf_audit.audit_paths(sidecars, esf_audit.AuditOptions(), jobs=2, on_progress=events.append))
    assert [i.path for i in items] == [str(p) for p in find_codes(sidecars)]
    assert all(i.ok and i.n_frames == T and i.n_features == 2 for i in items)
    assert [e.total for e in events if e.total is not None] == [70]
    assert [e.item for e in events if e.advance] == [i.path for i in items]


@pytest.mark.parametrize("path", ["a/x.ecdc", "x.y.ecdc", "/abs/dir.v2/take 1.ecdc", "noext"])
@pytest.mark.parametrize("suffix", [".cond", ".c2"])
def test_sidecar_names_agree_with_the_format_layer(path: str, suffix: str) -> None:
    sidecars = SidecarOptions(audio_root=Path("/abs"), suffix=suffix)
    assert esf_audit._pair(path, sidecars) == tuple(str(p) for p in esf.sidecar_paths(path, suffix=suffix))
    mirrored = SidecarOptions(audio_root=Path("/abs"), cond_root=Path("/params"), suffix=suffix)
    if path.startswith("/abs/"):
        assert esf_audit._pair(path, mirrored) == tuple(str(p) for p in mirrored.pair(Path(path)))


def test_manifest_entry_outside_a_mirrored_root_is_reported(tmp_path: Path) -> None:
    root, params = tmp_path / "ecdc", tmp_path / "params"
    outside = make_codes(tmp_path / "elsewhere" / "o.ecdc", T)
    (tmp_path / "list.csv").write_text(f"path\n{outside}\n")
    sidecars = SidecarOptions(audio_root=root, cond_root=params, manifest_csv=tmp_path / "list.csv")
    [item] = esf_audit.audit_paths(sidecars, esf_audit.AuditOptions())
    why = f"not under the audio root {root}"
    assert [(i.type, i.detail) for i in item.issues] == [("missing_sidecar", why)]
    assert list(esf_audit.csv_rows([item], sidecars)) == [
        ("missing_sidecar", outside.as_posix(), "", why, str(outside))
    ]
