"""esf audit: every issue type, named on the right file, the rest still reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiotok.formats import esf
from audiotok.services import esf_audit
from audiotok.services.esf_sidecars import SidecarOptions
from tests.services.test_esf_sidecars import make_codes

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
        monkeypatch.setattr(esf_audit, "find_codes", lambda o: sorted(tmp_path.glob("*.ecdc")) * 5)
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
    esf_audit.export_csv(items, tmp_path / "issues.csv")
    lines = (tmp_path / "issues.csv").read_text().splitlines()
    assert lines[0] == "path,issue,detail" and len(lines) == 2 and "fps_mismatch" in lines[1]
    ok = list(
        esf_audit.audit_paths(SidecarOptions(audio_root=tmp_path), esf_audit.AuditOptions(expect_fps=50))
    )
    assert [Path(i.path).stem for i in ok if i.issues] == ["a"]
