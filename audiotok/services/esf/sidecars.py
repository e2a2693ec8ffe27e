"""``esf init`` / ``esf add`` and :func:`write_sidecar_features`: writing ESF sidecars.

Codes files are found under ``audio_root`` (recursively) or listed in a
manifest CSV; sidecars go beside them, or mirrored under ``cond_root``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from audiotok.errors import InputError, UsageError
from audiotok.formats import ecdc, esf
from audiotok.formats._base import FrozenModel
from audiotok.paths import InputFile, in_shard, iter_files
from audiotok.progress import ProgressFn
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import runner
from audiotok.services.engines.local import LocalEngine
from audiotok.services.esf.producers import Producer

__all__ = [
    "SidecarOptions",
    "SidecarRecord",
    "add_paths",
    "find_codes",
    "init_paths",
    "iter_codes",
    "merge_columns",
    "write_sidecar_features",
]

Mode = Literal["append", "overwrite"]


class SidecarOptions(FrozenModel):
    """Options shared by ``esf init``, ``esf add`` and ``esf audit``."""

    audio_root: Path = Field(description="Folder holding the .ecdc files (searched recursively).")
    cond_root: Path | None = Field(default=None, description="Mirror sidecars under this folder.")
    suffix: str = Field(default=".cond", description="Sidecar suffix before .npy/.json.")
    dtype: Literal["float16", "float32"] = Field(default="float16", description="On-disk matrix dtype.")
    overwrite: bool = Field(default=False, description="Replace existing sidecars (init).")
    manifest_csv: Path | None = Field(default=None, description="CSV listing .ecdc paths (column 'path').")
    shard_index: int = Field(default=0, ge=0)
    shard_count: int = Field(default=1, ge=1)
    skip_errors: bool = Field(default=False, description="Report a failing file and go on (else stop).")

    def pair(self, codes: Path) -> tuple[Path, Path]:
        """The sidecar ``(npy, json)`` paths of ``codes``."""
        return esf.sidecar_paths(
            codes, audio_root=self.audio_root, cond_root=self.cond_root, suffix=self.suffix
        )


class SidecarRecord(FileRecord):
    """One sidecar pair written or left alone: ``input`` is the .ecdc file, ``output`` its .npy sidecar."""

    n_frames: int = Field(description="T.")
    names: list[str] = Field(description="Columns after the operation.")


def _manifest(path: Path, root: Path) -> list[Path]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(f"cannot read manifest: {exc.strerror or exc}", path) from None
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    col = next((header.index(k) for k in ("path", "ecdc", "file") if k in header), None)
    body = rows[1:] if col is not None else rows
    col = col or 0
    out = []
    for row in body:
        if len(row) > col and row[col].strip():
            p = Path(row[col].strip())
            out.append(p if p.is_absolute() else root / p)
    return out


def iter_codes(opts: SidecarOptions) -> Iterator[str]:
    """The ``.ecdc`` files to work on, as path strings, lazily: manifest or recursive scan, then this shard.

    The files of :func:`find_codes`, in its order, found as the scan goes.

    Raises
    ------
    InputError
        If ``audio_root`` is not a folder (when iteration starts).
    """
    files: Iterable[str]
    if opts.manifest_csv is not None:
        files = [os.fspath(p) for p in _manifest(opts.manifest_csv, opts.audio_root)]
    else:
        if not opts.audio_root.is_dir():
            raise InputError("`audio_root` is not a folder", opts.audio_root, param="audio_root")
        files = iter_files(opts.audio_root, (".ecdc",))
    if (opts.shard_index, opts.shard_count) == (0, 1):  # no sharding: no relative path per file
        yield from files
        return
    for path in files:
        p = Path(path)
        rel = p.relative_to(opts.audio_root) if p.is_relative_to(opts.audio_root) else p
        if in_shard(rel, opts.shard_index, opts.shard_count):
            yield path


def find_codes(opts: SidecarOptions) -> list[Path]:
    """The ``.ecdc`` files to work on: manifest or recursive scan, then this shard.

    Raises
    ------
    InputError
        If ``audio_root`` is not a folder.
    """
    return [Path(p) for p in iter_codes(opts)]


def _plan(opts: SidecarOptions) -> runner.Plan:
    """The codes files (manifest or scan) of this shard, each with its sidecar ``.npy`` as output."""
    root = opts.audio_root

    def item(path: str) -> InputFile:
        p = Path(path)
        return InputFile(p, root if p.is_relative_to(root) else p.parent)

    def shard_key(f: InputFile) -> Path:  # as iter_codes: relative to audio_root, else the path itself
        return f.path.relative_to(root) if f.path.is_relative_to(root) else f.path

    return runner.plan_files(
        (item(p) for p in iter_codes(opts.model_copy(update={"shard_index": 0, "shard_count": 1}))),
        output=lambda f: opts.pair(f.path)[0],
        shard=(opts.shard_index, opts.shard_count),
        shard_key=shard_key,
        written_with=lambda npy: (npy.with_suffix(".json"),),  # killed runs' temps of the pair, both files
    )


def _init_one(item: runner.PlanItem, opts: SidecarOptions) -> SidecarRecord:
    npy, js = opts.pair(item.path)
    meta = ecdc.read_meta(item.path)
    if not opts.overwrite and npy.exists() and js.exists():
        return item.record(SidecarRecord, "skipped", n_frames=meta.n_frames, names=[])
    esf.write_sidecar(npy, js, np.zeros((meta.n_frames, 0)), [], fps=meta.fps, dtype=opts.dtype)
    return item.record(SidecarRecord, "written", n_frames=meta.n_frames, names=[])


def init_paths(
    opts: SidecarOptions,
    *,
    jobs: int = 1,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Write empty ``[T, 0]`` sidecars for every codes file (``esf init``).

    Existing pairs are left alone unless ``opts.overwrite``. Without
    ``opts.skip_errors`` the batch stops after the first failure. ``jobs``
    threads overlap the file system waits (each pair is fsynced); records
    come in file order.

    Raises
    ------
    InputError
        If ``audio_root`` is not a folder.
    UsageError
        If ``jobs < 1`` or the shard does not exist.
    """
    engine = LocalEngine(jobs)
    return runner.run(
        _plan(opts),
        lambda item, _: _init_one(item, opts),
        on_record=on_record,
        on_progress=on_progress,
        skip_errors=opts.skip_errors,
        engine=engine,
    )


def merge_columns(
    cond: np.ndarray[Any, Any],
    names: Sequence[str],
    new: Mapping[str, np.ndarray[Any, Any]],
    mode: Mode,
    path: Path,
) -> tuple[np.ndarray[Any, np.dtype[np.float32]], list[str]]:
    """Add (``append``) or replace-or-add (``overwrite``) columns of ``cond [T, D]``.

    Raises
    ------
    InputError
        In ``append`` mode, if a column already exists.
    """
    cols = [np.asarray(cond[:, i], dtype=np.float32) for i in range(cond.shape[1])]
    out_names = list(names)
    for name, values in new.items():
        if name in out_names:
            if mode == "append":
                raise InputError(f"column {name!r} already exists (use `mode` overwrite)", path, param="mode")
            cols[out_names.index(name)] = values
        else:
            out_names.append(name)
            cols.append(values)
    arr = np.stack(cols, axis=1) if cols else np.zeros((cond.shape[0], 0), np.float32)
    return arr.astype(np.float32, copy=False), out_names


def _existing(
    codes: Path, npy: Path, js: Path, n_frames: int, create: bool
) -> tuple[np.ndarray[Any, Any], esf.CondMeta]:
    if not npy.exists() or not js.exists():
        if not create:
            raise InputError(
                "no sidecar (run `esf init` or use `create_missing`)", codes, param="create_missing"
            )
        return np.zeros((n_frames, 0), np.float32), esf.CondMeta()
    return esf.read_sidecar(npy, js, n_frames=n_frames)


def add_paths(
    opts: SidecarOptions,
    producers: Sequence[Producer],
    *,
    mode: Mode = "append",
    create_missing: bool = False,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Run ``producers`` on every codes file and add their columns to its sidecar (``esf add``).

    ``init`` of each producer runs before the first file and ``shutdown``
    after the last, also when the batch stops early (without
    ``opts.skip_errors``, after the first failure).

    Raises
    ------
    UsageError
        If no producer is given, or the shard does not exist.
    """
    if not producers:
        raise UsageError("no producer given: pass `producers`", param="producers")
    batch = _plan(opts)

    def work(item: runner.PlanItem, _: ProgressFn | None) -> SidecarRecord:
        codes = item.path
        meta = ecdc.read_meta(codes)
        npy, js = opts.pair(codes)
        cond, old = _existing(codes, npy, js, meta.n_frames, create_missing)
        new: dict[str, np.ndarray[Any, Any]] = {}
        for prod in producers:
            new.update(prod.produce(codes, meta.n_frames))
        arr, names = merge_columns(cond, old.names, new, mode, codes)
        extra = {k: v for k, v in old.to_json_dict().items() if k not in ("names", "norm", "fps")}
        esf.write_sidecar(npy, js, arr, names, fps=meta.fps, dtype=opts.dtype, extra=extra)
        return item.record(SidecarRecord, "written", n_frames=meta.n_frames, names=names)

    started: list[Producer] = []
    try:
        for prod in producers:
            prod.init()
            started.append(prod)
        return runner.run(
            batch, work, on_record=on_record, on_progress=on_progress, skip_errors=opts.skip_errors
        )
    finally:
        for prod in started:
            prod.shutdown()


def _feature(name: str, value: Any) -> tuple[np.ndarray[Any, np.dtype[np.float32]], dict[str, Any]]:
    if isinstance(value, Mapping):
        if "values" not in value:
            raise InputError(f"feature {name!r}: a dict needs 'values'")
        info = {k: value[k] for k in ("units", "doc_string", "min", "max") if value.get(k) is not None}
        return np.asarray(value["values"], dtype=np.float32).reshape(-1), info
    return np.asarray(value, dtype=np.float32).reshape(-1), {}


def write_sidecar_features(
    root: str | os.PathLike[str],
    codes_rel: str | os.PathLike[str],
    features: Mapping[str, Any],
    *,
    fps: float = esf.ESF_FPS,
    mode: Mode = "overwrite",
    dtype: Literal["float16", "float32"] = "float16",
    require_codes: bool = False,
) -> esf.CondMeta:
    """Write feature columns into the sidecar of ``root / codes_rel`` (Python API).

    Parameters
    ----------
    root : path
        Dataset root; the codes file and its sidecars must resolve under it.
    codes_rel : path
        ``.ecdc`` path relative to ``root``.
    features : mapping
        ``name -> float[T]`` or ``name -> {"values": float[T], "units", "doc_string",
        "min", "max"}``. Given ``min``/``max`` override the computed statistics
        (e.g. a fixed [0, 1] range for normalisation at load time).
    fps : float
        Frame rate in frames per second (75 for EnCodec 24 kHz).
    mode : {"overwrite", "append"}
        Replace same-named columns, or refuse them.
    dtype : {"float16", "float32"}
    require_codes : bool
        Refuse when the ``.ecdc`` file does not exist; when it exists, T must match its frames.

    Returns
    -------
    CondMeta
        As written.

    Raises
    ------
    InputError
        If ``codes_rel`` leaves ``root``, features differ in length or from the
        codes' T, or a column exists in ``append`` mode.
    """
    base = Path(root).resolve()
    codes = (base / codes_rel).resolve()
    if Path(codes_rel).is_absolute() or not codes.is_relative_to(base):
        raise InputError(f"{codes_rel} is outside the dataset root", base)
    if codes.suffix != ".ecdc":
        raise InputError("expected a .ecdc path", codes)
    cols: dict[str, np.ndarray[Any, Any]] = {}
    infos: dict[str, dict[str, Any]] = {}
    for name, value in features.items():
        cols[name], infos[name] = _feature(name, value)
    lengths = {v.shape[0] for v in cols.values()}
    if len(lengths) > 1:
        raise InputError(f"features have different lengths {sorted(lengths)}", codes)
    n_frames = lengths.pop() if lengths else 0
    if codes.exists():
        t_codes = ecdc.read_meta(codes).n_frames
        if cols and t_codes != n_frames:
            raise InputError(f"features have {n_frames} frames, codes T = {t_codes}", codes)
        n_frames = t_codes
    elif require_codes:
        raise InputError("no such .ecdc file", codes)
    npy, js = esf.sidecar_paths(codes)
    cond, old = _existing(codes, npy, js, n_frames, True)
    arr, names = merge_columns(cond, old.names, cols, mode, codes)
    norm = esf.compute_norm(arr.astype(dtype))
    mins, maxs = list(norm.min), list(norm.max)
    for name, info in infos.items():
        i = names.index(name)
        mins[i] = float(info["min"]) if "min" in info else mins[i]
        maxs[i] = float(info["max"]) if "max" in info else maxs[i]
    units = {**old.units, **{n: str(i["units"]) for n, i in infos.items() if i.get("units")}}
    docs = {**old.docs, **{n: str(i["doc_string"]) for n, i in infos.items() if i.get("doc_string")}}
    return esf.write_sidecar(
        npy,
        js,
        arr,
        names,
        fps=fps,
        dtype=dtype,
        norm=norm.model_copy(update={"min": tuple(mins), "max": tuple(maxs)}),
        extra={**(old.model_extra or {}), "units": units, "docs": docs},
    )
