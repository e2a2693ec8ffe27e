"""ESF ``NAME.cond.json``: schema v1, v2 (converted on read) and unversioned legacy stats.

Follows ``docs/specs/esf-format.md``. :func:`read_cond_meta` parses the JSON
into :class:`~audiotok.formats.esf.models.CondMeta`; it is re-exported by
:mod:`audiotok.formats.esf`. Schema v2, written by the older
``writeParamArrays`` tool (``{"schema_version": 2, "fps", "source_rate",
"features": {name: {"min", "max", "mean", "std", "units", "doc_string"}}}``,
column order = key order), becomes the same model; unknown versions are refused.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import ValidationError

from audiotok.errors import FormatError
from audiotok.formats._io import read_small
from audiotok.formats.esf.models import ESF_FPS, SCHEMA_VERSIONS, CondMeta

__all__ = ["read_cond_meta"]

_MAX_JSON = 64 << 20


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
