"""ESF conditioning sidecars: ``NAME.cond.npy`` ``[T, D]`` + ``NAME.cond.json``.

Follows ``specs/esf-format.md`` (ESF v1). For each ``NAME.ecdc`` there is

- ``NAME.cond.npy``: conditioning matrix ``[T, D]``, float16 (default) or
  float32, row ``i`` aligned to EnCodec frame ``i`` (75 fps). Read with
  ``np.load(..., allow_pickle=False)``: object arrays are refused.
- ``NAME.cond.json``: schema v1 metadata::

      {"schema_version": 1, "fps": 75, "source_rate": 75,
       "names": ["pos", "gain"],
       "norm": {"min": [..], "max": [..], "mean": [..], "std": [..]}}

  ``names`` has length D; each ``norm`` list is empty or of length D. audiotok
  may add ``"units"`` and ``"docs"`` (name -> string); unknown keys are kept
  and otherwise ignored, as the spec asks.

Reading also accepts schema v2, written by the older ``writeParamArrays``
tool: ``{"schema_version": 2, "fps", "source_rate", "features": {name:
{"min", "max", "mean", "std", "units", "doc_string"}}}`` (column order = key
order). It is converted to the same :class:`CondMeta`; files are always
written as v1. Unknown versions are refused.

Structural checks (names vs D, norm lengths, duplicate names) are in
:func:`check_sidecar` (:mod:`audiotok.formats.esf_check`, re-exported here),
shared by :func:`read_sidecar` and :func:`~audiotok.formats.esf_check.check_triplet`,
the validator of ``esf audit`` and ``dataset build``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from audiotok._fsio import atomic_write_group
from audiotok.errors import FormatError
from audiotok.formats._io import read_small
from audiotok.formats.esf_check import check_sidecar
from audiotok.formats.esf_models import DTYPES, ESF_FPS, SCHEMA_VERSIONS, CondMeta, Norm, SidecarProblem
from audiotok.formats.esf_npy import read_cond_array, read_npy_header

__all__ = [
    "ESF_FPS",
    "SCHEMA_VERSIONS",
    "CondMeta",
    "Norm",
    "SidecarProblem",
    "check_sidecar",
    "compute_norm",
    "read_cond_array",
    "read_cond_meta",
    "read_npy_header",
    "read_sidecar",
    "sidecar_paths",
    "write_sidecar",
]

_MAX_JSON = 64 << 20


# -- paths --------------------------------------------------------------------------------


def sidecar_paths(
    codes_path: str | os.PathLike[str],
    *,
    audio_root: str | os.PathLike[str] | None = None,
    cond_root: str | os.PathLike[str] | None = None,
    suffix: str = ".cond",
) -> tuple[Path, Path]:
    """The ``(npy, json)`` sidecar paths of a codes file.

    Beside the codes file by default (``a/x.ecdc`` -> ``a/x.cond.npy``,
    ``a/x.cond.json``). With ``cond_root``, the codes file's path relative to
    ``audio_root`` is mirrored under ``cond_root``.

    Raises
    ------
    FormatError
        If ``cond_root`` is given and ``codes_path`` is not under ``audio_root``.
    """
    codes = Path(codes_path)
    if cond_root is None:  # the common case, in string form: audits call this per file
        stem = os.path.splitext(os.fspath(codes))[0]
        return Path(f"{stem}{suffix}.npy"), Path(f"{stem}{suffix}.json")
    if audio_root is None:
        raise FormatError("cond_root needs audio_root to mirror paths from", codes)
    try:
        rel = codes.with_suffix("").relative_to(Path(audio_root))
    except ValueError:
        raise FormatError(f"not under the audio root {audio_root}", codes) from None
    base = Path(cond_root) / rel
    return base.parent / f"{base.name}{suffix}.npy", base.parent / f"{base.name}{suffix}.json"


# -- reading ------------------------------------------------------------------------------


def _from_v2(data: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    feats = data.get("features")
    if not isinstance(feats, dict):
        raise FormatError("schema_version 2 without a 'features' object", path)
    names = list(feats)
    stats: dict[str, list[float | None]] = {k: [] for k in ("min", "max", "mean", "std")}
    units: dict[str, str] = {}
    docs: dict[str, str] = {}
    for name, info in feats.items():
        info = info if isinstance(info, dict) else {}
        for key, col in stats.items():
            value = info.get(key)
            col.append(float(value) if isinstance(value, (int, float)) else None)
        if info.get("units"):
            units[name] = str(info["units"])
        if info.get("doc_string"):
            docs[name] = str(info["doc_string"])
    complete = all(v is not None for col in stats.values() for v in col)
    out = {k: v for k, v in data.items() if k not in ("features", "schema_version")}
    fps = data.get("fps")
    if fps is None:  # the older tool's files without fps: its source_rate, else 75 (not "given")
        fps = data.get("source_rate") or ESF_FPS
    out.update(
        schema_version=1,
        fps=fps,
        source_rate=data.get("source_rate") or fps,
        names=names,
        norm=stats if complete else {},
        units=units,
        docs=docs,
    )
    return out


def _parse_meta(data: Any, path: str | os.PathLike[str]) -> CondMeta:
    if not isinstance(data, dict):
        raise FormatError("not a sidecar JSON object", path)
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or version not in SCHEMA_VERSIONS:
        raise FormatError(
            f"unsupported schema_version {version!r} (this reader knows {list(SCHEMA_VERSIONS)})", path
        )
    fps_given = data.get("fps") is not None if version == 2 else "fps" in data
    if version == 2:
        data = _from_v2(data, path)
    elif isinstance(data.get("stats"), dict) and "norm" not in data:  # unversioned legacy stats
        stats = data["stats"]
        names = data.get("names") or []
        data = {
            **data,
            "norm": {k: [stats.get(n, {}).get(k) for n in names] for k in ("min", "max", "mean", "std")},
        }
    try:
        meta = CondMeta.model_validate({**data, "schema_version": 1})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise FormatError(f"bad sidecar JSON field {field or '(root)'}: {err['msg']}", path) from None
    if not fps_given and meta.fps_given:  # v2 fps taken from source_rate: still absent from the file
        meta = CondMeta.model_construct(_fields_set=meta.model_fields_set - {"fps"}, **dict(meta))
    return meta


def read_cond_meta(json_path: str | os.PathLike[str]) -> CondMeta:
    """Read ``NAME.cond.json`` (schema v1, or v2 converted to v1).

    Only the JSON is parsed; structural checks against the matrix are in
    :func:`check_sidecar`. A file without ``fps`` reads as 75 fps with
    ``fps_given`` false.

    Raises
    ------
    FormatError
        If the file is missing, not UTF-8 JSON, of an unknown
        ``schema_version``, or its fields have the wrong types.
    """
    raw = read_small(json_path, _MAX_JSON, "a sidecar JSON file")
    try:  # the usual v1 file, parsed and validated in one go by pydantic's JSON parser
        meta = CondMeta.model_validate_json(raw)
    except ValidationError:
        return _meta_from_bytes(raw, json_path)  # v2, not JSON, bad fields: conversions, messages
    stats = (meta.model_extra or {}).get("stats")
    if isinstance(stats, dict) and "norm" not in meta.model_fields_set:  # unversioned legacy stats
        return _meta_from_bytes(raw, json_path)
    return meta


def _meta_from_bytes(raw: bytes, json_path: str | os.PathLike[str]) -> CondMeta:
    """The general path of :func:`read_cond_meta`: ``json.loads``, then :func:`_parse_meta`."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"cannot read: {exc}", json_path) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON ({exc.msg} at line {exc.lineno})", json_path) from None
    return _parse_meta(data, json_path)


def read_sidecar(
    npy_path: str | os.PathLike[str], json_path: str | os.PathLike[str]
) -> tuple[np.ndarray[Any, Any], CondMeta]:
    """Read a sidecar pair and check it.

    Returns
    -------
    cond : ndarray[T, D] float16 or float32
        Conditioning matrix, row ``i`` aligned to frame ``i``.
    meta : CondMeta

    Raises
    ------
    FormatError
        If either file is missing or unreadable, the ``.npy`` holds objects
        (pickle is never loaded), or :func:`check_sidecar` finds a problem.
    """
    meta = read_cond_meta(json_path)
    cond = read_cond_array(npy_path)
    problems = check_sidecar(meta, cond.shape, cond.dtype)
    if problems:
        raise FormatError(f"{problems[0].issue}: {problems[0].detail}", npy_path)
    return cond, meta


# -- writing ------------------------------------------------------------------------------


def compute_norm(cond: np.ndarray[Any, Any]) -> Norm:
    """Per-column min/max/mean/std of ``cond [T, D]`` (float64, NaNs ignored; empty when T = 0)."""
    if cond.shape[0] == 0 or cond.shape[1] == 0:
        return Norm()
    x = cond.astype(np.float64)

    def col(values: np.ndarray[Any, Any]) -> tuple[float | None, ...]:
        return tuple(None if not np.isfinite(v) else float(v) for v in values)

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> None
        return Norm(
            min=col(np.nanmin(x, axis=0)),
            max=col(np.nanmax(x, axis=0)),
            mean=col(np.nanmean(x, axis=0)),
            std=col(np.nanstd(x, axis=0)),
        )


def write_sidecar(
    npy_path: str | os.PathLike[str],
    json_path: str | os.PathLike[str],
    cond: np.ndarray[Any, Any],
    names: Sequence[str],
    *,
    fps: float = ESF_FPS,
    dtype: Any = np.float16,
    norm: Literal["auto", "empty"] | Norm | Mapping[str, Sequence[float | None]] = "auto",
    extra: Mapping[str, Any] | None = None,
) -> CondMeta:
    """Write a sidecar pair atomically (both files or neither), schema v1.

    Parameters
    ----------
    npy_path, json_path : str or os.PathLike
        Destinations (see :func:`sidecar_paths`).
    cond : ndarray[T, D]
        Conditioning matrix; cast to ``dtype``.
    names : sequence of str
        Column names, length D, unique.
    fps : float
        Frame rate in frames per second (ESF: 75).
    dtype : float16 or float32
        On-disk dtype of the matrix.
    norm : "auto", "empty", Norm or mapping
        ``"auto"`` computes per-column statistics of ``cond`` as stored (after
        the cast to ``dtype``, computed in float64); ``"empty"`` writes empty lists.
    extra : mapping, optional
        More JSON keys (``units``, ``docs`` or anything else).

    Returns
    -------
    CondMeta
        The metadata as written.

    Raises
    ------
    FormatError
        If ``cond`` is not 2-D, ``names`` does not match D or repeats a name,
        ``norm`` has the wrong lengths, or ``dtype`` is not float16/float32.
    """
    npy = Path(npy_path)
    arr = np.asarray(cond)
    np_dtype = np.dtype(DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype)
    if np_dtype not in (np.dtype(np.float16), np.dtype(np.float32)):
        raise FormatError(f"sidecar dtype must be float16 or float32, not {np_dtype}", npy)
    if arr.ndim != 2:
        raise FormatError(f"conditioning must be [T, D]; got shape {list(arr.shape)}", npy)
    if norm == "auto":
        norm_model = compute_norm(arr.astype(np_dtype))  # stats of the values as stored
    elif norm == "empty":
        norm_model = Norm()
    elif isinstance(norm, Norm):
        norm_model = norm
    else:
        norm_model = Norm.model_validate(dict(norm))  # type: ignore[arg-type]
    try:
        meta = CondMeta.model_validate(
            {
                **(dict(extra) if extra else {}),
                "schema_version": 1,
                "fps": fps,
                "source_rate": (extra or {}).get("source_rate", fps),
                "names": list(names),
                "norm": norm_model,
            }
        )
    except ValidationError as exc:
        raise FormatError(f"bad sidecar metadata: {exc.errors()[0]['msg']}", Path(json_path)) from None
    problems = check_sidecar(meta, arr.shape)
    if problems:
        raise FormatError(f"{problems[0].issue}: {problems[0].detail}", npy)
    text = json.dumps(meta.to_json_dict(), indent=2, allow_nan=False).encode("utf-8") + b"\n"
    with atomic_write_group([npy, Path(json_path)]) as (fh_npy, fh_json):
        np.save(fh_npy, np.ascontiguousarray(arr, dtype=np_dtype), allow_pickle=False)
        fh_json.write(text)
    return meta
