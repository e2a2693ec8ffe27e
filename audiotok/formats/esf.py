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
:func:`check_sidecar`, shared by :func:`read_sidecar` and ``esf audit``.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from audiotok._fsio import atomic_write_group
from audiotok.errors import FormatError
from audiotok.formats.esf_models import DTYPES, ESF_FPS, SCHEMA_VERSIONS, CondMeta, Norm, SidecarProblem

__all__ = [
    "ESF_FPS",
    "SCHEMA_VERSIONS",
    "CondMeta",
    "Norm",
    "SidecarProblem",
    "check_sidecar",
    "compute_norm",
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
    fps = data.get("fps") or data.get("source_rate") or ESF_FPS
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
        return CondMeta.model_validate({**data, "schema_version": 1})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise FormatError(f"bad sidecar JSON field {field or '(root)'}: {err['msg']}", path) from None


def read_cond_meta(json_path: str | os.PathLike[str]) -> CondMeta:
    """Read ``NAME.cond.json`` (schema v1, or v2 converted to v1).

    Only the JSON is parsed; structural checks against the matrix are in
    :func:`check_sidecar`.

    Raises
    ------
    FormatError
        If the file is missing, not JSON, of an unknown ``schema_version``, or
        its fields have the wrong types.
    """
    p = json_path  # no Path object: this runs once per file of a dataset build
    try:
        fd = os.open(p, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size > _MAX_JSON:
                raise FormatError("sidecar JSON larger than 64 MiB", p)
            raw = os.read(fd, size)  # one read for the usual (small) file
            while chunk := os.read(fd, 1 << 16):
                raw += chunk
        finally:
            os.close(fd)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise FormatError("no such file", p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read: {exc}", p) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON ({exc.msg} at line {exc.lineno})", p) from None
    return _parse_meta(data, p)


_NPY_HEADER = re.compile(
    r"\{'descr': '([<>|=][a-zA-Z]\d{1,2})', 'fortran_order': (True|False), 'shape': \(((?:\d+, ?)*\d*)\), \}"
)


def read_npy_header(npy_path: str | os.PathLike[str]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of an ``.npy`` file from its header alone (no data read).

    The usual header (as numpy writes it) is matched by a regular expression;
    anything else goes through numpy's own header parser.

    Raises
    ------
    FormatError
        If the file is missing or not an ``.npy`` file.
    """
    p = Path(npy_path)
    try:
        with p.open("rb") as fh:
            head = fh.read(256)
            if head[:8] == b"\x93NUMPY\x01\x00" and len(head) >= 10:
                hlen = int.from_bytes(head[8:10], "little")
                m = _NPY_HEADER.match(head[10 : 10 + hlen].decode("latin1"))
                if m is not None:
                    shape = tuple(int(v) for v in m.group(3).replace(" ", "").split(",") if v)
                    return shape, np.dtype(m.group(1))
            fh.seek(0)
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except FileNotFoundError:
        raise FormatError("no such file", p) from None
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise FormatError(f"not an .npy file ({exc})", p) from None
    return tuple(shape), dtype


_NPY_READ_WHOLE = 64 << 20


def _npy_from_buffer(buf: bytearray) -> np.ndarray[Any, Any] | None:
    """The array of a whole ``.npy`` file in ``buf``, viewed in place; ``None`` unless the usual header.

    The usual header (version 1.0, C order, a plain dtype: as numpy writes
    it) is matched by :data:`_NPY_HEADER`; anything else is left to ``np.load``.
    """
    if buf[:8] != b"\x93NUMPY\x01\x00" or len(buf) < 10:
        return None
    end = 10 + int.from_bytes(buf[8:10], "little")
    m = _NPY_HEADER.match(buf[10:end].decode("latin1"))
    if m is None or m.group(2) != "False":
        return None
    dtype = np.dtype(m.group(1))
    shape = tuple(int(v) for v in m.group(3).replace(" ", "").split(",") if v)
    count = 1
    for n in shape:
        count *= n
    if dtype.hasobject or len(buf) - end != count * dtype.itemsize:
        return None  # np.load says why
    return np.frombuffer(buf, dtype=dtype, count=count, offset=end).reshape(shape)


def _load_npy(npy: str | os.PathLike[str]) -> np.ndarray[Any, Any]:
    """``np.load(npy, allow_pickle=False)``, reading small files in one call and parsing their header here."""
    fd = os.open(npy, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        buf = bytearray(size) if size <= _NPY_READ_WHOLE else None
        got = os.readv(fd, [buf]) if buf is not None and size else 0
    finally:
        os.close(fd)
    if buf is not None and got == size:
        arr = _npy_from_buffer(buf)
        if arr is not None:
            return arr
    return np.load(npy, allow_pickle=False)  # type: ignore[no-any-return]


def check_sidecar(
    meta: CondMeta, shape: tuple[int, ...], dtype: np.dtype[Any] | None = None
) -> list[SidecarProblem]:
    """Structural problems of a sidecar pair (empty list when it passes ESF validation 1, 2, 5).

    Parameters
    ----------
    meta : CondMeta
    shape : tuple of int
        Shape of the ``.cond.npy`` matrix, expected ``(T, D)``.
    dtype : numpy dtype, optional
        Its dtype; must be float16 or float32 when given.

    Returns
    -------
    list of SidecarProblem
        Issue types ``bad_shape``, ``dtype_mismatch`` (not a float16/32),
        ``names_length_mismatch``, ``duplicate_names``, ``norm_length_mismatch``.
    """
    problems: list[SidecarProblem] = []
    if len(shape) != 2:
        return [
            SidecarProblem(issue="bad_shape", detail=f".cond.npy has shape {list(shape)}, expected [T, D]")
        ]
    if dtype is not None and dtype not in (np.dtype(np.float16), np.dtype(np.float32)):
        problems.append(
            SidecarProblem(issue="dtype_mismatch", detail=f".cond.npy dtype {dtype}, expected float16/32")
        )
    d = shape[1]
    if len(meta.names) != d:
        problems.append(
            SidecarProblem(
                issue="names_length_mismatch", detail=f"{len(meta.names)} names for D = {d} columns"
            )
        )
    dupes = sorted({n for n in meta.names if meta.names.count(n) > 1})
    if dupes:
        problems.append(SidecarProblem(issue="duplicate_names", detail=f"duplicate names {dupes}"))
    lengths = meta.norm.lengths()
    if not (set(lengths) <= {0} or set(lengths) == {d}):
        problems.append(
            SidecarProblem(
                issue="norm_length_mismatch",
                detail=f"norm min/max/mean/std lengths {list(lengths)}, expected all 0 or all {d}",
            )
        )
    return problems


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
    npy = npy_path
    meta = read_cond_meta(json_path)
    try:
        cond = _load_npy(npy)
    except FileNotFoundError:
        raise FormatError("no such file", npy) from None
    except (OSError, ValueError, EOFError) as exc:
        raise FormatError(f"not a readable .npy array ({str(exc).splitlines()[0][:200]})", npy) from None
    if not isinstance(cond, np.ndarray):
        raise FormatError("not a single .npy array", npy)
    problems = check_sidecar(meta, cond.shape, cond.dtype)
    if problems:
        raise FormatError(f"{problems[0].issue}: {problems[0].detail}", npy)
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
