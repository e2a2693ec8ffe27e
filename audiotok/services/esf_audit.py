"""``esf audit``: check every ESF triplet (``.ecdc`` + ``.cond.npy`` + ``.cond.json``).

Each file gets a list of issues; a broken file never stops the audit. Only
headers are read (``.ecdc`` ``data.pkl``, ``.npy`` header, JSON), unless
``verify_ranges`` asks for the matrix. Files are checked in ``jobs`` worker
processes.
"""

from __future__ import annotations

import collections
import csv
import io
import multiprocessing
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import AudiotokError
from audiotok.formats import ecdc, esf
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services.esf_sidecars import SidecarOptions, find_codes

__all__ = [
    "ISSUE_TYPES",
    "AuditIssue",
    "AuditItem",
    "AuditOptions",
    "AuditSummary",
    "audit_file",
    "audit_paths",
    "export_csv",
    "failing",
    "summarize",
]

ISSUE_TYPES: tuple[str, ...] = (
    "missing_sidecar",
    "bad_ecdc",
    "bad_sidecar",
    "bad_shape",
    "frame_mismatch",
    "dtype_mismatch",
    "fps_mismatch",
    "duplicate_names",
    "names_length_mismatch",
    "missing_features",
    "norm_length_mismatch",
    "range_below_min",
    "range_above_max",
    "norm_inverted",
)
"""Every issue type ``esf audit`` reports."""


class AuditOptions(BaseModel):
    """What ``esf audit`` checks beyond the ESF structure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    require: tuple[str, ...] = Field(default=(), description="Feature names every sidecar must have.")
    expect_fps: float | None = Field(default=None, description="Required JSON fps (default: the codes' fps).")
    expect_dtype: str | None = Field(default=None, description="Required .cond.npy dtype (float16/float32).")
    verify_ranges: bool = Field(default=False, description="Compare the data with norm.min/max.")
    range_tol: float = Field(default=1e-3, ge=0, description="Tolerance of the range check (absolute).")


class AuditIssue(BaseModel):
    """One problem of one triplet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="One of ISSUE_TYPES.")
    detail: str


class AuditItem(BaseModel):
    """The audit of one ``.ecdc`` file and its sidecars."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    n_frames: int | None = None
    n_features: int | None = None
    issues: list[AuditIssue] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No issue."""
        return not self.issues


class AuditSummary(BaseModel):
    """Totals over a whole audit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: int
    ok: int
    broken: int
    issues: dict[str, int] = Field(description="Files per issue type.")


def _ranges(npy: Path, meta: esf.CondMeta, tol: float, out: list[AuditIssue]) -> None:
    cond = np.load(npy, allow_pickle=False, mmap_mode="r").astype(np.float64)
    if cond.shape[0] == 0 or not meta.norm.min:
        return
    lo, hi = np.nanmin(cond, axis=0), np.nanmax(cond, axis=0)
    for i, name in enumerate(meta.names):
        nmin, nmax = meta.norm.min[i], meta.norm.max[i]
        if nmin is not None and lo[i] < nmin - tol:
            out.append(
                AuditIssue(
                    type="range_below_min", detail=f"{name}: data min {lo[i]:.6g} < norm.min {nmin:.6g}"
                )
            )
        if nmax is not None and hi[i] > nmax + tol:
            out.append(
                AuditIssue(
                    type="range_above_max", detail=f"{name}: data max {hi[i]:.6g} > norm.max {nmax:.6g}"
                )
            )


def audit_file(codes: Path, sidecars: SidecarOptions, opts: AuditOptions) -> AuditItem:
    """Check one triplet; every problem becomes an :class:`AuditIssue` (never raises for bad files)."""
    issues: list[AuditIssue] = []
    n_frames: int | None = None
    codes_fps: float | None = None
    try:
        meta_c = ecdc.read_meta(codes)
        n_frames, codes_fps = meta_c.n_frames, meta_c.fps
    except AudiotokError as exc:
        issues.append(AuditIssue(type="bad_ecdc", detail=exc.reason))
    npy, js = sidecars.pair(codes)
    try:
        meta = esf.read_cond_meta(js)
        shape, dtype = esf.read_npy_header(npy)
    except AudiotokError as exc:
        # Existence is checked only here, so a good triplet costs no extra stat calls.
        missing = [p.name for p in (npy, js) if not p.is_file()]
        if missing:
            issues.append(AuditIssue(type="missing_sidecar", detail=f"no {', '.join(missing)}"))
        else:
            issues.append(AuditIssue(type="bad_sidecar", detail=str(exc)))
        return AuditItem(path=str(codes), n_frames=n_frames, issues=issues)
    issues += [AuditIssue(type=p.issue, detail=p.detail) for p in esf.check_sidecar(meta, shape, dtype)]
    if len(shape) != 2:
        return AuditItem(path=str(codes), n_frames=n_frames, issues=issues)
    if n_frames is not None and shape[0] != n_frames:
        issues.append(
            AuditIssue(type="frame_mismatch", detail=f"sidecar T = {shape[0]}, codes T = {n_frames}")
        )
    if opts.expect_dtype is not None and np.dtype(opts.expect_dtype) != dtype:
        issues.append(
            AuditIssue(type="dtype_mismatch", detail=f"dtype {dtype}, expected {opts.expect_dtype}")
        )
    want_fps = opts.expect_fps if opts.expect_fps is not None else codes_fps
    if want_fps is not None and abs(meta.fps - want_fps) > 1e-6:
        issues.append(AuditIssue(type="fps_mismatch", detail=f"JSON fps {meta.fps:g}, expected {want_fps:g}"))
    absent = [n for n in opts.require if n not in meta.names]
    if absent:
        issues.append(AuditIssue(type="missing_features", detail=f"missing {absent}"))
    if len(meta.norm.min) == len(meta.norm.max):
        inverted = [
            n
            for n, lo, hi in zip(meta.names, meta.norm.min, meta.norm.max, strict=False)
            if lo is not None and hi is not None and lo > hi
        ]
        if inverted:
            issues.append(AuditIssue(type="norm_inverted", detail=f"norm.min > norm.max for {inverted}"))
    structural = {"names_length_mismatch", "norm_length_mismatch", "dtype_mismatch", "bad_shape"}
    if opts.verify_ranges and not structural & {i.type for i in issues}:
        try:
            _ranges(npy, meta, opts.range_tol, issues)
        except (OSError, ValueError) as exc:
            issues.append(AuditIssue(type="bad_sidecar", detail=f"{npy}: cannot read data ({exc})"))
    return AuditItem(path=str(codes), n_frames=n_frames, n_features=shape[1], issues=issues)


_WORKER: tuple[SidecarOptions, AuditOptions] | None = None


def _init_worker(sidecars: SidecarOptions, opts: AuditOptions) -> None:
    global _WORKER
    torch = sys.modules.get("torch")  # only header parsing here: never import torch for it
    if torch is not None:
        torch.set_num_threads(1)
    _WORKER = (sidecars, opts)


def _audit_in_worker(codes: Path) -> AuditItem:
    if _WORKER is None:  # pragma: no cover - set by the pool initializer
        raise RuntimeError("worker not initialised")
    return audit_file(codes, *_WORKER)


def audit_paths(
    sidecars: SidecarOptions,
    opts: AuditOptions,
    *,
    jobs: int = 1,
    on_progress: ProgressFn | None = None,
) -> Iterator[AuditItem]:
    """Audit every codes file of ``sidecars`` (root or manifest, this shard), in order.

    Parameters
    ----------
    jobs : int
        Worker processes (1: in this process).
    """
    files = find_codes(sidecars)
    emit(on_progress, ProgressEvent("files", total=len(files)))
    if jobs <= 1 or len(files) < 64:
        for codes in files:
            yield audit_file(codes, sidecars, opts)
            emit(on_progress, ProgressEvent("files", advance=1, item=str(codes)))
        return
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers in milliseconds; they only parse headers (no torch compute after the fork)
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    chunk = max(16, min(512, len(files) // (jobs * 8)))
    with ProcessPoolExecutor(
        jobs, mp_context=ctx, initializer=_init_worker, initargs=(sidecars, opts)
    ) as pool:
        for item in pool.map(_audit_in_worker, files, chunksize=chunk):
            yield item
            emit(on_progress, ProgressEvent("files", advance=1, item=item.path))


def summarize(items: Sequence[AuditItem]) -> AuditSummary:
    """Totals: files, ok, broken, and files per issue type."""
    counts: collections.Counter[str] = collections.Counter()
    for item in items:
        counts.update({i.type for i in item.issues})
    broken = sum(1 for i in items if i.issues)
    return AuditSummary(
        files=len(items),
        ok=len(items) - broken,
        broken=broken,
        issues={t: counts[t] for t in ISSUE_TYPES if counts[t]},
    )


def export_csv(items: Sequence[AuditItem], path: Path) -> None:
    """Write one CSV row per issue (``path, issue, detail``) atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "issue", "detail"])
    for item in items:
        for issue in item.issues:
            writer.writerow([item.path, issue.type, issue.detail])
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))


def failing(items: Sequence[AuditItem], fail_on: Sequence[str] | None) -> bool:
    """Whether the audit fails: on any issue (None, "any"), never ("none"), or on the given types."""
    types: set[str] = {i.type for item in items for i in item.issues}
    if fail_on is None or "any" in fail_on:
        return bool(types)
    if "none" in fail_on:
        return False
    return bool(types & set(fail_on))
