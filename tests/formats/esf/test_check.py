"""The ESF rules (formats.esf.check) and the readers' fps / .npy header details they rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiotok.errors import FormatError
from audiotok.formats import ecdc, esf
from audiotok.formats.esf import check as esf_check

CODES = ecdc.EcdcMeta(n_codebooks=8, n_frames=4)


def _meta(tmp_path: Path, data: dict[str, Any]) -> esf.CondMeta:
    (tmp_path / "x.cond.json").write_text(json.dumps(data))
    return esf.read_cond_meta(tmp_path / "x.cond.json")


@pytest.mark.parametrize(
    ("data", "fps", "given"),
    [
        ({"schema_version": 1, "fps": 75, "names": []}, 75.0, True),
        ({"schema_version": 1, "names": []}, 75.0, False),
        ({"fps": 50}, 50.0, True),
        ({}, 75.0, False),
        ({"schema_version": 2, "fps": 75, "features": {}}, 75.0, True),
        ({"schema_version": 2, "source_rate": 50, "features": {}}, 50.0, False),
        ({"schema_version": 2, "fps": None, "features": {}}, 75.0, False),
        ({"schema_version": 2, "features": {}}, 75.0, False),
    ],
)
def test_absent_fps_reads_as_75_but_is_told_apart(
    tmp_path: Path, data: dict[str, Any], fps: float, given: bool
) -> None:
    meta = _meta(tmp_path, data)
    assert (meta.fps, meta.fps_given) == (fps, given)
    problems = esf_check.check_triplet(CODES, meta, ((4, 0), np.dtype(np.float16)), sidecars=("a", "b"))
    want = [] if given and fps == 75 else ["fps_mismatch"]
    assert [p.issue for p in problems] == want
    if not given:
        assert problems[0].detail == "fps missing"


def test_v2_fps_zero_is_not_taken_for_missing(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="fps"):
        _meta(tmp_path, {"schema_version": 2, "fps": 0, "source_rate": 75, "features": {}})


def test_written_sidecars_always_give_fps(tmp_path: Path) -> None:
    npy, js = esf.sidecar_paths(tmp_path / "x.ecdc")
    esf.write_sidecar(npy, js, np.zeros((2, 1)), ["a"], fps=75.0)
    assert esf.read_cond_meta(js).fps_given


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((5, 2), np.float16),
        np.asfortranarray(np.ones((3, 4), np.float32)),
        np.zeros((0, 3), np.float16),
        np.zeros((4, 0), np.float32),
        np.zeros(7, np.float16),
        np.float32(3.0),
        np.zeros((2, 3), ">f4"),
        np.zeros((2, 3), np.int32),
        np.zeros(3, [("a", "<f4"), ("b", "<i2")]),  # a header only numpy's parser reads
    ],
)
@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_npy_header_equals_np_load(
    tmp_path: Path, arr: np.ndarray[Any, Any], version: tuple[int, int]
) -> None:
    with (tmp_path / "x.npy").open("wb") as fh:
        np.lib.format.write_array(fh, np.asanyarray(arr), version=version)
    loaded = np.load(tmp_path / "x.npy", allow_pickle=False)
    assert esf.read_npy_header(tmp_path / "x.npy") == (loaded.shape, loaded.dtype)


def test_npy_header_refuses_objects_and_truncation(tmp_path: Path) -> None:
    arr = np.empty((2, 1), dtype=object)
    np.save(tmp_path / "o.npy", arr, allow_pickle=True)
    with pytest.raises(FormatError, match="Python objects"):
        esf.read_npy_header(tmp_path / "o.npy")
    np.save(tmp_path / "t.npy", np.zeros((10, 2), np.float16))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:-1])
    with pytest.raises(FormatError, match="truncated: 39 data bytes, the header says 40"):
        esf.read_npy_header(tmp_path / "t.npy")
    with pytest.raises(FormatError, match="no such file"):
        esf.read_npy_header(tmp_path / "none.npy")


def test_read_errors_become_bad_ecdc_missing_or_bad_sidecar(tmp_path: Path) -> None:
    meta = esf.CondMeta(fps=75.0, names=("a",))
    header = ((4, 1), np.dtype(np.float16))
    npy, js = tmp_path / "x.cond.npy", tmp_path / "x.cond.json"
    broken = FormatError("not JSON", js)
    check = esf_check.check_triplet
    assert check(CODES, meta, header, sidecars=(npy, js)) == []
    got = check(FormatError("empty file"), broken, header, sidecars=(npy, js))
    assert [(p.issue, p.detail) for p in got] == [
        ("bad_ecdc", "empty file"),
        ("missing_sidecar", "no x.cond.npy, x.cond.json"),
    ]
    js.write_text("{")
    got = check(CODES, broken, header, sidecars=(npy, js))
    assert [(p.issue, p.detail) for p in got] == [("missing_sidecar", "no x.cond.npy")]
    npy.write_bytes(b"")
    got = check(CODES, meta, FormatError("not an .npy file", npy), sidecars=(npy, js))
    assert [(p.issue, p.detail) for p in got] == [("bad_sidecar", f"{npy}: not an .npy file")]


def test_problems_come_in_a_fixed_order() -> None:
    meta = esf.CondMeta(
        fps=50.0,
        names=("a", "a", "b"),
        norm=esf.Norm(min=(2.0, 0.0), max=(1.0, 1.0), mean=(), std=()),
    )
    got = esf_check.check_triplet(
        CODES, meta, ((5, 2), np.dtype(np.float32)), sidecars=("n", "j"),
        expect_dtype="float16", require=("a", "c"),
    )  # fmt: skip
    assert [p.issue for p in got] == [
        "names_length_mismatch",
        "duplicate_names",
        "norm_length_mismatch",
        "frame_mismatch",
        "dtype_mismatch",
        "fps_mismatch",
        "missing_features",
        "norm_inverted",
    ]
    bad_shape = esf_check.check_triplet(CODES, meta, ((5,), np.dtype(np.float16)), sidecars=("n", "j"))
    assert [p.issue for p in bad_shape] == ["bad_shape"]


@pytest.mark.parametrize(
    ("codes", "expect", "ok"),
    [
        (CODES, None, False),  # codes at 75 fps
        (CODES.model_copy(update={"fps": 50.0}), None, True),
        (CODES.model_copy(update={"fps": 50.0}), 75.0, False),
        (CODES, 50.0, True),
        (FormatError("empty file"), None, False),  # unreadable codes: ESF's 75
        (FormatError("empty file"), 50.0, True),
    ],
)
def test_fps_is_compared_with_the_codes_fps(codes: Any, expect: float | None, ok: bool) -> None:
    meta = esf.CondMeta(fps=50.0)
    got = esf_check.check_triplet(
        codes, meta, ((4, 0), np.dtype(np.float16)), sidecars=("n", "j"), expect_fps=expect
    )
    assert ("fps_mismatch" not in [p.issue for p in got]) == ok


def test_ranges() -> None:
    meta = esf.CondMeta(names=("a", "b"), norm=esf.Norm(min=(0.0, None), max=(1.0, 2.0), mean=(), std=()))
    cond = np.array([[-0.5, 1.0], [0.5, 3.0]], np.float16)
    got = esf_check.check_ranges(cond, meta, 1e-3)
    assert [(p.issue, p.detail) for p in got] == [
        ("range_below_min", "a: data min -0.5 < norm.min 0"),
        ("range_above_max", "b: data max 3 > norm.max 2"),
    ]
    assert esf_check.check_ranges(cond, meta, 1.0) == []
    assert esf_check.check_ranges(cond[:0], meta, 0.0) == []
