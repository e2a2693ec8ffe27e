"""ESF validation: the rules ``esf audit`` and ``dataset build`` apply to a triplet.

:func:`check_triplet` takes what was read of ``NAME.ecdc``, ``NAME.cond.json``
and ``NAME.cond.npy`` (each value, or the :class:`~audiotok.errors.FormatError`
its reader raised) and returns every problem as a
:class:`~audiotok.formats.esf.models.SidecarProblem` named by an ``esf audit``
issue type. It reads nothing itself, except to tell a missing sidecar from a
broken one once a sidecar read has failed. :func:`check_sidecar` holds the
structural rules of the sidecar pair alone (``docs/specs/esf-format.md``,
validation 1, 2 and 5) and :func:`check_ranges` the optional data check.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from audiotok.errors import FormatError
from audiotok.formats.ecdc import EcdcMeta
from audiotok.formats.esf.models import ESF_FPS, CondMeta, SidecarProblem

__all__ = [
    "ADVISORY",
    "FPS_TOLERANCE",
    "STRUCTURAL",
    "NpyHeader",
    "check_frames",
    "check_ranges",
    "check_sidecar",
    "check_triplet",
]

FPS_TOLERANCE = 1e-6
"""Largest difference (frames per second) between the JSON fps and the expected fps."""
STRUCTURAL = frozenset({"names_length_mismatch", "norm_length_mismatch", "dtype_mismatch", "bad_shape"})
"""Issue types after which the matrix is not compared with ``norm`` (:func:`check_ranges`)."""
ADVISORY = frozenset({"fps_mismatch", "norm_inverted"})
"""Issue types of the JSON metadata alone: the codes and the matrix are still aligned and usable."""
_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32))

NpyHeader = tuple[tuple[int, ...], np.dtype[Any]]
"""``(shape, dtype)`` of a ``.cond.npy`` file."""


def _problem(issue: str, detail: str) -> SidecarProblem:
    return SidecarProblem(issue=issue, detail=detail)


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
        return [_problem("bad_shape", f".cond.npy has shape {list(shape)}, expected [T, D]")]
    if dtype is not None and dtype not in _FLOAT_DTYPES:
        problems.append(_problem("dtype_mismatch", f".cond.npy dtype {dtype}, expected float16/32"))
    d = shape[1]
    if len(meta.names) != d:
        problems.append(_problem("names_length_mismatch", f"{len(meta.names)} names for D = {d} columns"))
    if len(set(meta.names)) != len(meta.names):
        dupes = sorted({n for n in meta.names if meta.names.count(n) > 1})
        problems.append(_problem("duplicate_names", f"duplicate names {dupes}"))
    lengths = meta.norm.lengths()
    if not (set(lengths) <= {0} or set(lengths) == {d}):
        detail = f"norm min/max/mean/std lengths {list(lengths)}, expected all 0 or all {d}"
        problems.append(_problem("norm_length_mismatch", detail))
    return problems


def check_frames(sidecar_frames: int, codes_frames: int) -> list[SidecarProblem]:
    """ESF validation 4: the sidecar has exactly the codes' T frames (``frame_mismatch`` otherwise).

    Parameters
    ----------
    sidecar_frames : int
        Rows of ``NAME.cond.npy``.
    codes_frames : int
        T of ``NAME.ecdc``, the authoritative frame count.
    """
    if sidecar_frames == codes_frames:
        return []
    return [_problem("frame_mismatch", f"sidecar T = {sidecar_frames}, codes T = {codes_frames}")]


def check_triplet(
    codes: EcdcMeta | FormatError,
    meta: CondMeta | FormatError,
    header: NpyHeader | FormatError,
    *,
    sidecars: tuple[str | os.PathLike[str], str | os.PathLike[str]],
    expect_fps: float | None = None,
    expect_dtype: str | None = None,
    require: Sequence[str] = (),
) -> list[SidecarProblem]:
    """Every problem of one ESF triplet, in a fixed order (the first one is the worst).

    Parameters
    ----------
    codes : EcdcMeta or FormatError
        What :func:`audiotok.formats.ecdc.read_meta` (or ``read``) gave for ``NAME.ecdc``.
    meta : CondMeta or FormatError
        What :func:`audiotok.formats.esf.read_cond_meta` gave for ``NAME.cond.json``.
    header : (shape, dtype) or FormatError
        Shape and dtype of ``NAME.cond.npy`` (its header, or the loaded array's).
    sidecars : (npy path, json path)
        Only looked at when ``meta`` or ``header`` is an error: a file that
        does not exist is ``missing_sidecar``, any other failure ``bad_sidecar``.
    expect_fps : float, optional
        Required JSON ``fps`` in frames per second; default the codes' own fps
        (75 when the ``.ecdc`` does not say, or cannot be read).
    expect_dtype : {"float16", "float32"}, optional
        Required ``.cond.npy`` dtype.
    require : sequence of str
        Column names the JSON must have.

    Returns
    -------
    list of SidecarProblem
        ``bad_ecdc``; then ``missing_sidecar`` or ``bad_sidecar`` (and nothing
        more); else :func:`check_sidecar`'s problems, ``frame_mismatch``,
        ``dtype_mismatch`` (``expect_dtype``), ``fps_mismatch`` (also when the
        JSON has no ``fps``), ``missing_features``, ``norm_inverted``.
        Empty when the triplet passes.
    """
    problems: list[SidecarProblem] = []
    if isinstance(codes, FormatError):
        problems.append(_problem("bad_ecdc", codes.reason))
    if isinstance(meta, FormatError) or isinstance(header, FormatError):
        missing = [os.path.basename(p) for p in sidecars if not os.path.isfile(p)]
        if missing:
            problems.append(_problem("missing_sidecar", f"no {', '.join(missing)}"))
        else:
            exc = meta if isinstance(meta, FormatError) else header
            problems.append(_problem("bad_sidecar", str(exc)))
        return problems
    shape, dtype = header
    problems += check_sidecar(meta, shape, dtype)
    if len(shape) != 2:
        return problems
    if not isinstance(codes, FormatError):
        problems += check_frames(shape[0], codes.n_frames)
    if expect_dtype is not None and np.dtype(expect_dtype) != dtype:
        problems.append(_problem("dtype_mismatch", f"dtype {dtype}, expected {expect_dtype}"))
    problems += _check_fps(meta, codes, expect_fps)
    absent = [n for n in require if n not in meta.names]
    if absent:
        problems.append(_problem("missing_features", f"missing {absent}"))
    if len(meta.norm.min) == len(meta.norm.max):
        inverted = [
            n
            for n, lo, hi in zip(meta.names, meta.norm.min, meta.norm.max, strict=False)
            if lo is not None and hi is not None and lo > hi
        ]
        if inverted:
            problems.append(_problem("norm_inverted", f"norm.min > norm.max for {inverted}"))
    return problems


def _check_fps(meta: CondMeta, codes: EcdcMeta | FormatError, expect: float | None) -> list[SidecarProblem]:
    if not meta.fps_given:
        return [_problem("fps_mismatch", "fps missing")]
    if expect is None:
        expect = ESF_FPS if isinstance(codes, FormatError) else codes.fps
    if abs(meta.fps - expect) > FPS_TOLERANCE:
        return [_problem("fps_mismatch", f"JSON fps {meta.fps:g}, expected {expect:g}")]
    return []


def check_ranges(cond: np.ndarray[Any, Any], meta: CondMeta, tol: float) -> list[SidecarProblem]:
    """Columns of ``cond [T, D]`` whose data leave ``[norm.min - tol, norm.max + tol]``.

    Parameters
    ----------
    cond : ndarray[T, D]
        The matrix, with D equal to ``len(meta.names)`` (no structural problem).
    meta : CondMeta
    tol : float
        Absolute tolerance, in the columns' units.

    Returns
    -------
    list of SidecarProblem
        ``range_below_min`` / ``range_above_max``, one per column and side;
        empty when T = 0 or ``norm`` is empty. NaNs are ignored.
    """
    out: list[SidecarProblem] = []
    if cond.shape[0] == 0 or not meta.norm.min:
        return out
    data = cond.astype(np.float64)
    lo, hi = np.nanmin(data, axis=0), np.nanmax(data, axis=0)
    for i, name in enumerate(meta.names):
        nmin, nmax = meta.norm.min[i], meta.norm.max[i]
        if nmin is not None and lo[i] < nmin - tol:
            out.append(_problem("range_below_min", f"{name}: data min {lo[i]:.6g} < norm.min {nmin:.6g}"))
        if nmax is not None and hi[i] > nmax + tol:
            out.append(_problem("range_above_max", f"{name}: data max {hi[i]:.6g} > norm.max {nmax:.6g}"))
    return out
