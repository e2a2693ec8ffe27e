"""ESF triplets: ``NAME.ecdc`` codes with ``NAME.cond.npy`` ``[T, D]`` + ``NAME.cond.json``.

Follows ``docs/specs/esf-format.md`` (ESF v1). For each ``NAME.ecdc`` there is

- ``NAME.cond.npy``: conditioning matrix ``[T, D]``, float16 (default) or
  float32, row ``i`` aligned to EnCodec frame ``i`` (75 fps for the 24 kHz model,
  the spec's rate; 150 fps for the 48 kHz model, hop 320 too). Read with
  ``np.load(..., allow_pickle=False)``: object arrays are refused.
- ``NAME.cond.json``: schema v1 metadata::

      {"schema_version": 1, "fps": 75, "source_rate": 75,
       "names": ["pos", "gain"],
       "norm": {"min": [..], "max": [..], "mean": [..], "std": [..]}}

  ``names`` has length D; each ``norm`` list is empty or of length D. audiotok
  may add ``"units"`` and ``"docs"`` (name -> string); unknown keys are kept
  and otherwise ignored, as the spec asks. Reading also accepts schema v2
  (:mod:`audiotok.formats.esf.sidecar_json`); files are always written as v1.

:func:`read_triplet` reads a whole triplet and :func:`read_triplet_headers`
only its headers; both apply :func:`~audiotok.formats.esf.check.check_triplet`,
the one ESF validator (``esf audit`` and ``dataset build`` use it too), which
owns the rule that the sidecar has exactly the codes' T frames.
:func:`read_sidecar` checks a pair alone (:func:`check_sidecar`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
from pydantic import ValidationError

from audiotok._fsio import atomic_write_group
from audiotok.errors import FormatError
from audiotok.formats import ecdc
from audiotok.formats.esf.check import ADVISORY, NpyHeader, check_frames, check_sidecar, check_triplet
from audiotok.formats.esf.models import DTYPES, ESF_FPS, SCHEMA_VERSIONS, CondMeta, Norm, SidecarProblem
from audiotok.formats.esf.npy import read_cond_array, read_npy_header
from audiotok.formats.esf.sidecar_json import read_cond_meta

__all__ = [
    "ESF_FPS",
    "SCHEMA_VERSIONS",
    "CondMeta",
    "Norm",
    "SidecarProblem",
    "Triplet",
    "TripletHeaders",
    "check_sidecar",
    "compute_norm",
    "read_cond_array",
    "read_cond_meta",
    "read_npy_header",
    "read_sidecar",
    "read_triplet",
    "read_triplet_headers",
    "sidecar_paths",
    "write_sidecar",
]

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


def read_sidecar(
    npy_path: str | os.PathLike[str], json_path: str | os.PathLike[str], *, n_frames: int | None = None
) -> tuple[np.ndarray[Any, Any], CondMeta]:
    """Read a sidecar pair and check it.

    Parameters
    ----------
    npy_path, json_path : str or os.PathLike
    n_frames : int, optional
        T of the codes the pair belongs to; the matrix must have as many rows.

    Returns
    -------
    cond : ndarray[T, D] float16 or float32
        Conditioning matrix, row ``i`` aligned to frame ``i``.
    meta : CondMeta

    Raises
    ------
    FormatError
        If either file is missing or unreadable, the ``.npy`` holds objects
        (pickle is never loaded), :func:`check_sidecar` finds a problem, or
        the matrix does not have ``n_frames`` rows (``frame_mismatch``).
    """
    meta = read_cond_meta(json_path)
    cond = read_cond_array(npy_path)
    problems = check_sidecar(meta, cond.shape, cond.dtype)
    if n_frames is not None and not problems:
        problems = check_frames(cond.shape[0], n_frames)
    if problems:
        raise FormatError(f"{problems[0].issue}: {problems[0].detail}", npy_path)
    return cond, meta


class Triplet(NamedTuple):
    """One ESF triplet, read whole and checked (:func:`read_triplet`)."""

    codes: np.ndarray[Any, np.dtype[np.int64]]
    """``[T, Cb]`` int64, time-major."""
    cond: np.ndarray[Any, Any]
    """``[T, D]`` float16 or float32, row ``i`` aligned to frame ``i``."""
    codes_meta: ecdc.EcdcMeta
    cond_meta: CondMeta


class TripletHeaders(NamedTuple):
    """The headers :func:`read_triplet_headers` read (each value, or its reader's error) and the problems."""

    codes: ecdc.EcdcMeta | FormatError
    cond_meta: CondMeta | FormatError
    npy_header: NpyHeader | FormatError
    problems: list[SidecarProblem]


_T = TypeVar("_T")


def _attempt(read: Callable[[Any], _T], path: str | os.PathLike[str]) -> _T | FormatError:
    try:
        return read(path)
    except FormatError as exc:
        return exc


def read_triplet_headers(
    codes_path: str | os.PathLike[str],
    sidecars: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    *,
    expect_fps: float | None = None,
    expect_dtype: str | None = None,
    require: Sequence[str] = (),
) -> TripletHeaders:
    """Read the headers of a triplet and apply the ESF rules; never raises for a bad file.

    Only the ``.ecdc`` ``data.pkl`` (:func:`audiotok.formats.ecdc.read_meta`),
    the ``.npy`` header and the JSON are read: what ``esf audit`` needs of
    each file of a corpus.

    Parameters
    ----------
    codes_path : str or os.PathLike
        ``NAME.ecdc``.
    sidecars : (npy path, json path), optional
        Default: beside the codes (:func:`sidecar_paths`).
    expect_fps, expect_dtype, require
        As :func:`~audiotok.formats.esf.check.check_triplet`.

    Returns
    -------
    TripletHeaders
        ``problems`` is empty when the triplet passes.
    """
    npy, js = sidecar_paths(codes_path) if sidecars is None else sidecars
    codes = _attempt(ecdc.read_meta, codes_path)
    meta = _attempt(read_cond_meta, js)
    header = _attempt(read_npy_header, npy)
    problems = check_triplet(
        codes,
        meta,
        header,
        sidecars=(npy, js),
        expect_fps=expect_fps,
        expect_dtype=expect_dtype,
        require=require,
    )
    return TripletHeaders(codes, meta, header, problems)


def read_triplet(
    codes_path: str | os.PathLike[str],
    sidecars: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    *,
    strict: bool = True,
    expect_fps: float | None = None,
    expect_dtype: str | None = None,
    require: Sequence[str] = (),
) -> Triplet:
    """Read a whole triplet: codes ``[T, Cb]``, conditioning ``[T, D]`` and both metadata.

    ``codes_path``, ``sidecars``, ``expect_fps``, ``expect_dtype`` and
    ``require`` are as in :func:`read_triplet_headers`.

    Parameters
    ----------
    strict : bool
        Apply every rule of :func:`~audiotok.formats.esf.check.check_triplet`
        (``esf audit``, ``dataset build``). Without it, problems of the JSON
        metadata alone (:data:`~audiotok.formats.esf.check.ADVISORY`: a
        missing or other ``fps``, ``norm.min > norm.max``) are let through, as
        training loaders of older corpora need.

    Returns
    -------
    Triplet
        Codes and conditioning with the same T (the spec's rule).

    Raises
    ------
    FormatError
        ``PATH: <issue type>: <detail>`` for the first problem, ``PATH`` the
        codes file: ``bad_ecdc``, ``missing_sidecar``, ``bad_sidecar``,
        ``frame_mismatch`` and the others of ``esf audit``.
    """
    npy, js = sidecar_paths(codes_path) if sidecars is None else sidecars
    read = _attempt(ecdc.read, codes_path)
    meta = _attempt(read_cond_meta, js)
    cond = _attempt(read_cond_array, npy)
    problems = check_triplet(
        read if isinstance(read, FormatError) else read[1],
        meta,
        cond if isinstance(cond, FormatError) else (cond.shape, cond.dtype),
        sidecars=(npy, js),
        expect_fps=expect_fps,
        expect_dtype=expect_dtype,
        require=require,
    )
    if not strict:
        problems = [p for p in problems if p.issue not in ADVISORY]
    if problems:
        raise FormatError(f"{problems[0].issue}: {problems[0].detail}", codes_path)
    if isinstance(read, FormatError) or isinstance(meta, FormatError) or isinstance(cond, FormatError):
        raise RuntimeError(f"{codes_path}: check_triplet passed a read that failed")  # pragma: no cover
    return Triplet(read[0], cond, read[1], meta)


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
