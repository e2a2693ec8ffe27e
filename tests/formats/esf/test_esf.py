"""Tests for audiotok.formats.esf (ESF v1 conditioning sidecars)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from audiotok.errors import FormatError, OutputError
from audiotok.formats import esf
from audiotok.formats.esf import npy as esf_npy
from audiotok.formats.esf import sidecar_json as esf_json


def test_sidecar_paths_beside_and_mirrored(tmp_path: Path) -> None:
    npy, js = esf.sidecar_paths(tmp_path / "a" / "x.ecdc")
    assert (npy, js) == (tmp_path / "a" / "x.cond.npy", tmp_path / "a" / "x.cond.json")
    npy, js = esf.sidecar_paths(
        tmp_path / "codes" / "a" / "x.ecdc",
        audio_root=tmp_path / "codes",
        cond_root=tmp_path / "p",
        suffix=".c2",
    )
    assert (npy, js) == (tmp_path / "p" / "a" / "x.c2.npy", tmp_path / "p" / "a" / "x.c2.json")
    with pytest.raises(FormatError, match="not under"):
        esf.sidecar_paths(
            tmp_path / "elsewhere.ecdc", audio_root=tmp_path / "codes", cond_root=tmp_path / "p"
        )


@pytest.mark.parametrize("dtype", [np.float16, np.float32, "float32"])
def test_round_trip(tmp_path: Path, dtype: object) -> None:
    cond = np.stack([np.linspace(0, 1, 20), np.full(20, 7.0)], axis=1)
    npy, js = esf.sidecar_paths(tmp_path / "x.ecdc")
    written = esf.write_sidecar(npy, js, cond, ["pos", "scene"], dtype=dtype, extra={"units": {"pos": "s"}})
    got, meta = esf.read_sidecar(npy, js)
    assert got.shape == (20, 2) and got.dtype == np.dtype(dtype)  # type: ignore[call-overload]
    np.testing.assert_allclose(got.astype(np.float64), cond, atol=1e-3)
    assert meta == written
    assert meta.names == ("pos", "scene") and meta.units == {"pos": "s"}
    assert meta.norm.min == (0.0, 7.0) and meta.norm.max == (1.0, 7.0)
    raw = json.loads(js.read_text())
    assert raw["schema_version"] == 1 and raw["fps"] == 75.0 and raw["source_rate"] == 75.0
    assert set(raw["norm"]) == {"min", "max", "mean", "std"}
    assert esf.read_npy_header(npy) == ((20, 2), np.dtype(dtype))  # type: ignore[call-overload]


def test_empty_sidecar(tmp_path: Path) -> None:
    npy, js = esf.sidecar_paths(tmp_path / "x.ecdc")
    esf.write_sidecar(npy, js, np.zeros((5, 0)), [])
    cond, meta = esf.read_sidecar(npy, js)
    assert cond.shape == (5, 0) and meta.names == () and meta.norm.lengths() == (0, 0, 0, 0)


def test_v2_from_older_tool_is_read(tmp_path: Path) -> None:
    js = tmp_path / "x.cond.json"
    js.write_text(
        json.dumps(
            {
                "features": {
                    "gain_db": {
                        "min": -12,
                        "max": 0,
                        "mean": -6,
                        "std": 3.5,
                        "units": "dB",
                        "doc_string": "gain",
                    },
                    "scene_id": {"min": 7, "max": 7, "mean": 7, "std": 0, "units": "", "doc_string": ""},
                },
                "fps": 75.0,
                "source_rate": 75.0,
                "schema_version": 2,
            }
        )
    )
    meta = esf.read_cond_meta(js)
    assert meta.schema_version == 1 and meta.names == ("gain_db", "scene_id")
    assert meta.norm.min == (-12.0, 7.0) and meta.norm.std == (3.5, 0.0)
    assert meta.units == {"gain_db": "dB"} and meta.docs == {"gain_db": "gain"}
    np.save(tmp_path / "x.cond.npy", np.zeros((3, 2), np.float16))
    cond, _ = esf.read_sidecar(tmp_path / "x.cond.npy", js)
    assert cond.shape == (3, 2)


def test_v1_unknown_keys_are_kept(tmp_path: Path) -> None:
    js = tmp_path / "x.cond.json"
    js.write_text(json.dumps({"schema_version": 1, "fps": 75, "names": ["a"], "norm": {}, "creator": "me"}))
    meta = esf.read_cond_meta(js)
    assert meta.names == ("a",) and meta.model_extra == {"creator": "me"}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"schema_version": 3, "names": []}', "unsupported schema_version 3"),
        ('{"schema_version": "1"}', "unsupported schema_version"),
        ("[1, 2]", "not a sidecar JSON object"),
        ("{not json", "not JSON"),
        ('{"schema_version": 1, "names": "abc"}', "names"),
        ('{"schema_version": 2, "names": []}', "features"),
    ],
)
def test_bad_json(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "x.cond.json").write_text(content)
    with pytest.raises(FormatError, match=match):
        esf.read_cond_meta(tmp_path / "x.cond.json")


def test_pickled_npy_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    arr = np.empty((1, 1), dtype=object)
    arr[0, 0] = Evil()
    with (tmp_path / "x.cond.npy").open("wb") as fh:
        np.save(fh, arr, allow_pickle=True)
    esf.write_sidecar(tmp_path / "ok.npy", tmp_path / "x.cond.json", np.zeros((1, 1)), ["a"])
    with pytest.raises(FormatError, match="not a readable"):
        esf.read_sidecar(tmp_path / "x.cond.npy", tmp_path / "x.cond.json")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("names", "norm", "issue"),
    [
        (["a"], {}, "names_length_mismatch"),
        (["a", "a"], {}, "duplicate_names"),
        (["a", "b"], {"min": [0, 0], "max": [1], "mean": [], "std": []}, "norm_length_mismatch"),
    ],
)
def test_structural_problems(
    tmp_path: Path, names: list[str], norm: dict[str, list[float]], issue: str
) -> None:
    (tmp_path / "x.cond.json").write_text(
        json.dumps({"schema_version": 1, "fps": 75, "names": names, "norm": norm})
    )
    np.save(tmp_path / "x.cond.npy", np.zeros((4, 2), np.float16))
    meta = esf.read_cond_meta(tmp_path / "x.cond.json")
    assert [p.issue for p in esf.check_sidecar(meta, (4, 2))] == [issue]
    with pytest.raises(FormatError, match=issue):
        esf.read_sidecar(tmp_path / "x.cond.npy", tmp_path / "x.cond.json")
    with pytest.raises(FormatError, match=issue):
        esf.write_sidecar(tmp_path / "y.npy", tmp_path / "y.json", np.zeros((4, 2)), names, norm=norm)
    assert not (tmp_path / "y.npy").exists() and not (tmp_path / "y.json").exists()


def test_bad_shape_and_dtype(tmp_path: Path) -> None:
    meta = esf.CondMeta(names=("a",))
    assert [p.issue for p in esf.check_sidecar(meta, (4,))] == ["bad_shape"]
    assert [p.issue for p in esf.check_sidecar(meta, (4, 1), np.dtype(np.int32))] == ["dtype_mismatch"]
    with pytest.raises(FormatError, match="float16 or float32"):
        esf.write_sidecar(tmp_path / "y.npy", tmp_path / "y.json", np.zeros((4, 1)), ["a"], dtype=np.int16)
    with pytest.raises(FormatError, match=r"\[T, D\]"):
        esf.write_sidecar(tmp_path / "y.npy", tmp_path / "y.json", np.zeros(4), ["a"])


def test_pair_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    npy, js = esf.sidecar_paths(tmp_path / "x.ecdc")
    esf.write_sidecar(npy, js, np.ones((3, 1)), ["a"])
    before = (npy.read_bytes(), js.read_bytes())

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(esf.np, "save", boom)
    with pytest.raises(OutputError, match="cannot write: disk full"):
        esf.write_sidecar(npy, js, np.zeros((3, 2)), ["a", "b"])
    assert (npy.read_bytes(), js.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.cond.json", "x.cond.npy"]


def test_nan_columns_and_frozen(tmp_path: Path) -> None:
    npy, js = esf.sidecar_paths(tmp_path / "x.ecdc")
    meta = esf.write_sidecar(npy, js, np.full((3, 1), np.nan), ["a"])
    assert meta.norm.min == (None,)
    with pytest.raises(ValidationError):
        meta.fps = 50  # type: ignore[misc]


_DOCS = [
    '{"schema_version": 1, "fps": 75, "source_rate": 75, "names": ["a", "b"],'
    ' "norm": {"min": [0, 1], "max": [1, 2], "mean": [0.5, 1.5], "std": [0.1, 0.2]}}',
    '{"names": ["a"], "norm": {"min": [NaN], "max": [Infinity], "mean": [null], "std": [1e400]}}',
    '{"schema_version": 1.0, "fps": "75", "source_rate": null}',
    '{"schema_version": true}',
    '{"schema_version": "1"}',
    '{"schema_version": 2, "fps": 75, "features": {"a": {"min": 0}}}',
    '{"names": ["a"], "stats": {"a": {"min": 0, "max": 1, "mean": 0.5, "std": 0.1}}}',
    '{"names": ["a"], "stats": {"a": {}}, "norm": {}}',
    '{"stats": "not a dict"}',
    '{"fps": true}',
    '{"fps": 0}',
    '{"fps": NaN}',
    '{"names": "abc"}',
    '{"names": [1]}',
    '{"names": ["x"], "names": ["y"]}',
    '{"units": {"a": "s"}, "docs": {"a": "d"}, "more": {"n": [1, 2.5, "\\u00e9", null]},'
    ' "big": 12345678901234567890123}',
    '{"units": {"a": 1}}',
    '{"norm": {"min": [1], "other": 3}}',
    '{"a": "\\ud800"}',
    '{"a": 0.1, "b": 2.2250738585072011e-308, "c": 1e-400, "d": -0}',
    "[1]",
    "null",
    "{} x",
    "\ufeff{}",
    "",
]


@pytest.mark.parametrize("doc", _DOCS)
def test_fast_json_path_gives_what_the_general_path_gives(tmp_path: Path, doc: str) -> None:
    js = tmp_path / "x.cond.json"
    js.write_text(doc, encoding="utf-8")
    try:
        general: esf.CondMeta | str = esf_json._meta_from_bytes(js.read_bytes(), js)
    except FormatError as exc:
        general = exc.reason
    try:
        got: esf.CondMeta | str = esf.read_cond_meta(js)
    except FormatError as exc:
        got = exc.reason
    assert repr(got) == repr(general)  # repr: NaN equals NaN here; extra keys included
    assert type(got) is type(general)
    if isinstance(got, esf.CondMeta) and isinstance(general, esf.CondMeta):
        assert got.fps_given == general.fps_given


def test_plain_v1_takes_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    js = tmp_path / "x.cond.json"
    js.write_text(_DOCS[0])
    monkeypatch.setattr(esf_json, "_parse_meta", lambda *a: pytest.fail("general path taken"))
    assert esf.read_cond_meta(js).names == ("a", "b")


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float16).reshape(6, 2),
        np.arange(12, dtype=np.float32).reshape(4, 3),
        np.zeros((0, 2), np.float16),
        np.arange(6, dtype=">f4").reshape(3, 2),
        np.asfortranarray(np.arange(6, dtype=np.float32).reshape(3, 2)),
        np.arange(5, dtype=np.float32),
    ],
    ids=["f16", "f32", "empty", "big-endian", "fortran", "1-d"],
)
def test_npy_reader_equals_np_load(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "x.cond.npy"
    np.save(path, array)
    fast = esf_npy._from_buffer(bytearray(path.read_bytes()))  # None: left to np.load
    assert (fast is not None) is (not np.isfortran(array))
    got, want = esf_npy.read_cond_array(path), np.load(path)
    assert got.dtype == want.dtype and got.shape == want.shape and got.flags.writeable
    np.testing.assert_array_equal(got, want)


def test_truncated_npy_is_a_format_error(tmp_path: Path) -> None:
    npy, js = esf.sidecar_paths(tmp_path / "x.ecdc")
    esf.write_sidecar(npy, js, np.ones((8, 2)), ["a", "b"])
    npy.write_bytes(npy.read_bytes()[:-3])
    with pytest.raises(FormatError, match=r"not a readable \.npy array"):
        esf.read_sidecar(npy, js)
