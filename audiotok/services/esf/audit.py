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
import itertools
import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
from pydantic import Field

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import FormatError
from audiotok.formats import esf
from audiotok.formats._base import FrozenModel
from audiotok.formats.esf import check as esf_check
from audiotok.formats.esf.models import SidecarProblem
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services.esf.sidecars import SidecarOptions, iter_codes

__all__ = [
    "CSV_COLUMNS",
    "ISSUE_TYPES",
    "AuditIssue",
    "AuditOptions",
    "AuditRecord",
    "AuditSummary",
    "audit_file",
    "audit_paths",
    "csv_rows",
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


class AuditOptions(FrozenModel):
    """What ``esf audit`` checks beyond the ESF structure."""

    require: tuple[str, ...] = Field(default=(), description="Feature names every sidecar must have.")
    expect_fps: float | None = Field(default=None, description="Required JSON fps (default: the codes' fps).")
    expect_dtype: str | None = Field(default=None, description="Required .cond.npy dtype (float16/float32).")
    verify_ranges: bool = Field(default=False, description="Compare the data with norm.min/max.")
    range_tol: float = Field(default=1e-3, ge=0, description="Tolerance of the range check (absolute).")


class AuditIssue(FrozenModel):
    """One problem of one triplet."""

    type: str = Field(description="One of ISSUE_TYPES.")
    detail: str


class AuditRecord(FrozenModel):
    """The audit of one ``.ecdc`` file and its sidecars."""

    path: str
    n_frames: int | None = None
    n_features: int | None = None
    issues: list[AuditIssue] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No issue."""
        return not self.issues


class AuditSummary(FrozenModel):
    """Totals over a whole audit."""

    files: int
    ok: int
    broken: int
    issues: dict[str, int] = Field(description="Files per issue type.")


Outcome = tuple[int | None, int | None, tuple[tuple[str, str], ...]]
"""What a worker sends back per file: ``(n_frames, n_features, ((type, detail), ...))``."""


def _pair(codes: str, sidecars: SidecarOptions) -> tuple[str, str]:
    """The sidecar paths of ``codes`` as strings (what ``sidecars.pair`` gives, without Path objects)."""
    if sidecars.cond_root is None:  # the rule of esf.sidecar_paths, on strings: this runs per file
        stem = os.path.splitext(codes)[0]
        return f"{stem}{sidecars.suffix}.npy", f"{stem}{sidecars.suffix}.json"
    npy, js = sidecars.pair(Path(codes))
    return str(npy), str(js)


def _ranges(npy: str, meta: esf.CondMeta, tol: float) -> list[SidecarProblem]:
    try:
        cond = np.load(npy, allow_pickle=False, mmap_mode="r")
        return esf_check.check_ranges(cond, meta, tol)
    except (OSError, ValueError) as exc:
        return [SidecarProblem(issue="bad_sidecar", detail=f"{npy}: cannot read data ({exc})")]


def _check(codes: str, sidecars: SidecarOptions, opts: AuditOptions) -> Outcome:
    """Read the headers of one triplet and apply the ESF rules (:func:`esf.read_triplet_headers`)."""
    try:
        npy, js = _pair(codes, sidecars)
    except FormatError as exc:  # --cond-root with a manifest path outside --audio-root
        return None, None, (("missing_sidecar", exc.reason),)
    codes_meta, meta, header, problems = esf.read_triplet_headers(
        codes, (npy, js), expect_fps=opts.expect_fps, expect_dtype=opts.expect_dtype, require=opts.require
    )
    n_frames = None if isinstance(codes_meta, FormatError) else codes_meta.n_frames
    n_features = None
    if not isinstance(meta, FormatError) and not isinstance(header, FormatError) and len(header[0]) == 2:
        n_features = header[0][1]
        if opts.verify_ranges and not esf_check.STRUCTURAL & {p.issue for p in problems}:
            problems += _ranges(npy, meta, opts.range_tol)
    return n_frames, n_features, tuple((p.issue, p.detail) for p in problems)


def _item(path: str, outcome: Outcome) -> AuditRecord:
    n_frames, n_features, issues = outcome
    return AuditRecord(
        path=path,
        n_frames=n_frames,
        n_features=n_features,
        issues=[AuditIssue(type=t, detail=d) for t, d in issues],
    )


def audit_file(codes: Path, sidecars: SidecarOptions, opts: AuditOptions) -> AuditRecord:
    """Check one triplet; every problem becomes an :class:`AuditIssue` (never raises for bad files).

    Only headers are read: the ``.ecdc`` ``data.pkl``, the ``.npy`` header
    and the JSON (the matrix too with ``opts.verify_ranges``), by
    :func:`audiotok.formats.esf.read_triplet_headers`, which ``dataset build
    --no-embed`` uses too; the rules are
    :func:`audiotok.formats.esf_check.check_triplet`'s, which the embedded
    ``dataset build`` applies as well.
    """
    path = os.fspath(codes)
    return _item(path, _check(path, sidecars, opts))


_WORKER: tuple[SidecarOptions, AuditOptions] | None = None


def _init_worker(sidecars: SidecarOptions, opts: AuditOptions) -> None:
    global _WORKER
    torch = sys.modules.get("torch")  # only header parsing here: never import torch for it
    if torch is not None:
        torch.set_num_threads(1)
    _WORKER = (sidecars, opts)


def _audit_chunk(paths: list[str]) -> list[Outcome]:
    if _WORKER is None:  # pragma: no cover - set by the pool initializer
        raise RuntimeError("worker not initialised")
    sidecars, opts = _WORKER
    return [_check(p, sidecars, opts) for p in paths]


_MIN_POOL = 64
"""Fewer files than this are audited in this process whatever ``jobs`` says."""
_FIRST_CHUNK, _MAX_CHUNK = 16, 512


def _chunks(paths: Iterator[str]) -> Iterator[list[str]]:
    """Runs of consecutive paths: 16 first, doubling up to 512 (workers start early, then cheaply)."""
    size = _FIRST_CHUNK
    while chunk := list(itertools.islice(paths, size)):
        yield chunk
        size = min(2 * size, _MAX_CHUNK)


def _in_order(
    chunk: list[str], future: Future[list[Outcome]], on_progress: ProgressFn | None
) -> Iterator[AuditRecord]:
    for codes, outcome in zip(chunk, future.result(), strict=True):
        yield _item(codes, outcome)
        if on_progress is not None:
            on_progress(ProgressEvent("files", advance=1, item=codes))


def audit_paths(
    sidecars: SidecarOptions,
    opts: AuditOptions,
    *,
    jobs: int = 1,
    on_progress: ProgressFn | None = None,
) -> Iterator[AuditRecord]:
    """Audit every codes file of ``sidecars`` (root or manifest, this shard), in order.

    Parameters
    ----------
    jobs : int
        Worker processes (1: in this process). With workers, the folder scan
        feeds them as it goes (chunks of paths in, plain tuples back); the
        total number of files is reported once the scan ends.

    Raises
    ------
    InputError
        If ``sidecars.audio_root`` is not a folder.
    """
    paths = iter_codes(sidecars)
    head = list(paths) if jobs <= 1 else list(itertools.islice(paths, _MIN_POOL))
    if len(head) < _MIN_POOL or jobs <= 1:  # then ``head`` holds every file
        emit(on_progress, ProgressEvent("files", total=len(head)))
        for codes in head:
            yield _item(codes, _check(codes, sidecars, opts))
            if on_progress is not None:
                on_progress(ProgressEvent("files", advance=1, item=codes))
        return
    emit(on_progress, ProgressEvent("files"))
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers in milliseconds; they only parse headers (no torch compute after the fork)
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(sidecars, opts))
    pending: collections.deque[tuple[list[str], Future[list[Outcome]]]] = collections.deque()
    total = 0
    try:
        for chunk in _chunks(itertools.chain(head, paths)):
            pending.append((chunk, pool.submit(_audit_chunk, chunk)))
            total += len(chunk)
            while pending and pending[0][1].done():  # hand on what is ready while the scan goes on
                yield from _in_order(*pending.popleft(), on_progress)
        emit(on_progress, ProgressEvent("files", total=total))
        while pending:
            yield from _in_order(*pending.popleft(), on_progress)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def summarize(items: Sequence[AuditRecord]) -> AuditSummary:
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


CSV_COLUMNS: tuple[str, ...] = ("type", "rel_ecdc", "rel_cond", "detail", "path")
"""``--export-csv`` columns: the older ``sidecar_audit.py``'s four, then the absolute ``.ecdc`` path."""


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:  # a manifest entry outside the root
        return Path(path).as_posix()


def csv_rows(items: Sequence[AuditRecord], sidecars: SidecarOptions) -> Iterator[tuple[str, ...]]:
    """One row per issue, in :data:`CSV_COLUMNS` order.

    ``rel_ecdc`` is the ``.ecdc`` path relative to ``sidecars.audio_root``;
    ``rel_cond`` the ``.cond.npy`` path relative to ``sidecars.cond_root``, or,
    for sidecars beside their codes, to the ``.ecdc`` file's folder (its file
    name), as the older tool wrote it. Paths use ``/``.
    """
    for item in items:
        if not item.issues:
            continue
        rel_ecdc = _relative(item.path, sidecars.audio_root)
        try:
            npy, _ = _pair(item.path, sidecars)
        except FormatError:  # not under the audio root: its mirrored sidecar has no path
            rel_cond = ""
        else:
            if sidecars.cond_root is None:
                rel_cond = os.path.basename(npy)
            else:
                rel_cond = _relative(npy, sidecars.cond_root)
        absolute = os.path.abspath(item.path)
        for issue in item.issues:
            yield issue.type, rel_ecdc, rel_cond, issue.detail, absolute


def export_csv(items: Sequence[AuditRecord], path: Path, sidecars: SidecarOptions) -> None:
    """Write every issue to a CSV file atomically (:data:`CSV_COLUMNS`, see :func:`csv_rows`).

    The first four columns are those of the older ``sidecar_audit.py
    --export-csv`` (``type,rel_ecdc,rel_cond,detail``), so scripts reading
    its files read these too.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(items, sidecars))
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))


def failing(items: Sequence[AuditRecord], fail_on: Sequence[str] | None) -> bool:
    """Whether the audit fails: on any issue (None, "any"), never ("none"), or on the given types."""
    types: set[str] = {i.type for item in items for i in item.issues}
    if fail_on is None or "any" in fail_on:
        return bool(types)
    if "none" in fail_on:
        return False
    return bool(types & set(fail_on))
