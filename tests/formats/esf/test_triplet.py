"""esf.read_triplet / read_triplet_headers: one ESF triplet read and checked by the one validator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audiotok.errors import FormatError
from audiotok.formats import ecdc, esf
from audiotok.formats.esf import check as esf_check

T, CB = 12, 4


def _triplet(folder: Path, *, t_codes: int = T, t_cond: int = T, fps: float | None = 75.0) -> Path:
    codes = folder / "x.ecdc"
    meta = ecdc.EcdcMeta(n_codebooks=CB, n_frames=0, sample_rate=24000, model="encodec_24khz")
    values = np.arange(t_codes * CB).reshape(t_codes, CB) % 1024
    ecdc.write(codes, values, meta)
    npy, js = esf.sidecar_paths(codes)
    cond = np.stack([np.linspace(0, 1, t_cond), np.full(t_cond, 3.0)], 1)
    esf.write_sidecar(npy, js, cond, ["pos", "gain"], fps=75.0 if fps is None else fps)
    if fps is None:  # an older file: no fps key
        data = json.loads(js.read_text())
        del data["fps"]
        js.write_text(json.dumps(data))
    return codes


def test_read_triplet(tmp_path: Path) -> None:
    codes_path = _triplet(tmp_path)
    got = esf.read_triplet(codes_path)
    assert got.codes.shape == (T, CB) and got.codes.dtype == np.int64
    assert got.cond.shape == (T, 2) and got.cond.dtype == np.float16
    assert got.codes_meta.n_frames == T and got.cond_meta.names == ("pos", "gain")
    np.testing.assert_array_equal(got.codes, ecdc.read(codes_path)[0])
    codes, cond, codes_meta, cond_meta = got  # a NamedTuple: unpacks in field order
    assert codes is got.codes and cond is got.cond and codes_meta is got.codes_meta
    assert cond_meta is got.cond_meta


@pytest.mark.parametrize(("t_codes", "t_cond"), [(T, T + 1), (T + 1, T), (0, 1)])
def test_sidecar_t_must_equal_codes_t(tmp_path: Path, t_codes: int, t_cond: int) -> None:
    codes_path = _triplet(tmp_path, t_codes=t_codes, t_cond=t_cond)
    for strict in (True, False):
        with pytest.raises(FormatError) as info:
            esf.read_triplet(codes_path, strict=strict)
        assert info.value.path == str(codes_path)
        assert info.value.reason == f"frame_mismatch: sidecar T = {t_cond}, codes T = {t_codes}"
    problems = esf.read_triplet_headers(codes_path).problems
    assert [p.issue for p in problems] == ["frame_mismatch"]


def test_strict_refuses_what_loaders_read(tmp_path: Path) -> None:
    codes_path = _triplet(tmp_path, fps=None)
    with pytest.raises(FormatError, match="fps_mismatch: fps missing"):
        esf.read_triplet(codes_path)
    got = esf.read_triplet(codes_path, strict=False)
    assert got.cond_meta.fps == 75.0 and not got.cond_meta.fps_given
    assert esf_check.ADVISORY == {"fps_mismatch", "norm_inverted"}


def test_rules_are_passed_on(tmp_path: Path) -> None:
    codes_path = _triplet(tmp_path)
    with pytest.raises(FormatError, match=r"missing_features: missing \['pitch'\]"):
        esf.read_triplet(codes_path, require=["pitch"])
    with pytest.raises(FormatError, match="dtype_mismatch: dtype float16, expected float32"):
        esf.read_triplet(codes_path, expect_dtype="float32")
    with pytest.raises(FormatError, match="fps_mismatch: JSON fps 75, expected 50"):
        esf.read_triplet(codes_path, expect_fps=50.0)
    headers = esf.read_triplet_headers(codes_path, require=["pitch"], expect_fps=50.0)
    assert [p.issue for p in headers.problems] == ["fps_mismatch", "missing_features"]


def test_missing_and_broken_files(tmp_path: Path) -> None:
    codes_path = _triplet(tmp_path)
    npy, js = esf.sidecar_paths(codes_path)
    npy.unlink()
    with pytest.raises(FormatError, match=r"missing_sidecar: no x\.cond\.npy"):
        esf.read_triplet(codes_path)
    headers = esf.read_triplet_headers(codes_path)
    assert isinstance(headers.npy_header, FormatError) and not isinstance(headers.codes, FormatError)
    assert [p.issue for p in headers.problems] == ["missing_sidecar"]
    js.write_text("{")
    np.save(npy, np.zeros((T, 2), np.float16))
    with pytest.raises(FormatError, match=r"bad_sidecar: .*not JSON"):
        esf.read_triplet(codes_path)
    codes_path.write_bytes(b"garbage")
    with pytest.raises(FormatError, match="bad_ecdc: "):
        esf.read_triplet(codes_path, strict=False)


def test_sidecars_elsewhere(tmp_path: Path) -> None:
    codes_path = _triplet(tmp_path / "a")
    npy, js = esf.sidecar_paths(codes_path)
    moved = tmp_path / "b" / "y.cond.npy", tmp_path / "b" / "y.cond.json"
    moved[0].parent.mkdir()
    npy.rename(moved[0])
    js.rename(moved[1])
    assert esf.read_triplet(codes_path, moved).cond.shape == (T, 2)
    assert esf.read_triplet_headers(codes_path, moved).problems == []
    with pytest.raises(FormatError, match="missing_sidecar"):
        esf.read_triplet(codes_path)


def test_headers_agree_with_the_whole_read(tmp_path: Path) -> None:
    codes_path = _triplet(tmp_path)
    headers = esf.read_triplet_headers(codes_path)
    whole = esf.read_triplet(codes_path)
    assert headers.problems == []
    assert headers.codes == whole.codes_meta and headers.cond_meta == whole.cond_meta
    assert headers.npy_header == (whole.cond.shape, whole.cond.dtype)


def test_read_sidecar_checks_t_when_given(tmp_path: Path) -> None:
    npy, js = esf.sidecar_paths(_triplet(tmp_path))
    assert esf.read_sidecar(npy, js, n_frames=T)[0].shape == (T, 2)
    with pytest.raises(FormatError) as info:
        esf.read_sidecar(npy, js, n_frames=T + 3)
    assert str(info.value) == f"{npy}: frame_mismatch: sidecar T = {T}, codes T = {T + 3}"


def test_check_frames() -> None:
    assert esf_check.check_frames(5, 5) == []
    (problem,) = esf_check.check_frames(5, 6)
    assert (problem.issue, problem.detail) == ("frame_mismatch", "sidecar T = 5, codes T = 6")
