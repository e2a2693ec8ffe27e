"""``dataset build``: token files (+ sidecars) -> a Hugging Face ``DatasetDict`` on disk.

Follows ``docs/specs/encodec-dataset-workflow.md`` (step 4) and keeps its ``audio``
column and ``tokens/<split>/...`` layout, but by default embeds the codes and
conditioning in the rows so the dataset is self-contained (uploadable).

A build is four steps: **plan** (:func:`plan_build`: options, folders, file
count; nothing written), **read** and **write** (rows are streamed: files come
from a folder scan, each row is read, appended to a small Arrow batch and
written straight into its split's shards, so memory does not grow with the
corpus), and **commit** (the dataset is assembled in ``OUT.incomplete``,
checked, optionally verified, and swapped in only when complete).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from typing_extensions import Unpack

from audiotok.errors import InputError, UsageError
from audiotok.progress import ProgressFn
from audiotok.services.dataset import identity, scan
from audiotok.services.dataset._place import Materialize
from audiotok.services.dataset._steps import Build, BuildSummary
from audiotok.services.dataset._swap import Staging
from audiotok.services.dataset.verify import verify_dataset
from audiotok.sinks.manifest import Manifest

__all__ = ["BuildPlan", "BuildSummary", "Materialize", "PlanOptions", "build_dataset", "plan_build"]

log = logging.getLogger(__name__)


def _check_options(
    *,
    split_map: Mapping[str, str] | None,
    valid_fraction: float | None,
    embed: bool,
    materialize: Materialize,
    max_files: int | None,
    tokens_subdir: str,
    workers: int,
) -> None:
    if valid_fraction is not None and not 0.0 < valid_fraction < 1.0:
        raise UsageError(
            f"`valid_fraction` must be between 0 and 1, got {valid_fraction}", param="valid_fraction"
        )
    if valid_fraction is not None and split_map:
        raise UsageError(
            "`valid_fraction` and `split_map` cannot be combined", param=("valid_fraction", "split_map")
        )
    if not embed and materialize == "none":
        raise UsageError(
            "with `embed` off only paths are stored: use `materialize` link or copy", param="materialize"
        )
    if workers < 1:
        raise UsageError(f"`workers` must be at least 1, got {workers}", param="workers")
    if max_files is not None and max_files < 1:
        raise UsageError(f"`max_files` must be at least 1, got {max_files}", param="max_files")
    sub = Path(tokens_subdir)
    if sub.is_absolute() or not sub.parts or ".." in sub.parts:
        raise UsageError(
            f"`tokens_subdir` must be a plain relative folder, got {tokens_subdir!r}", param="tokens_subdir"
        )


class PlanOptions(TypedDict, total=False):
    """The options of :func:`plan_build` (and :func:`build_dataset`), with their defaults.

    ``suffix`` (None: detected), ``split`` ("train"), ``split_map`` (None),
    ``valid_fraction`` (None), ``valid_split`` ("valid"), ``seed`` (0),
    ``recursive`` (False), ``tokens_subdir`` ("tokens"), ``materialize``
    (None), ``embed`` (True), ``max_files`` (None), ``workers`` (1); see
    :func:`build_dataset`.
    """

    suffix: str | None
    split: str
    split_map: Mapping[str, str] | None
    valid_fraction: float | None
    valid_split: str
    seed: int
    recursive: bool
    tokens_subdir: str
    materialize: Materialize | None
    embed: bool
    max_files: int | None
    workers: int


def build_dataset(
    tokens_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    verify: bool = False,
    skip_bad: bool = False,
    batch_rows: int = 256,
    on_progress: ProgressFn | None = None,
    **options: Unpack[PlanOptions],
) -> BuildSummary:
    """Build a ``DatasetDict`` in ``out_dir`` from the token files under ``tokens_dir``.

    Parameters
    ----------
    tokens_dir : str or os.PathLike
        Folder of ``NAME.ecdc`` files with their ``NAME.cond.npy`` /
        ``NAME.cond.json`` sidecars (ESF), or of ``.npq`` files.
    out_dir : str or os.PathLike
        The dataset folder. An existing dataset there is replaced only once the
        new one is complete; any other non-empty folder is refused. The
        identity manifest above the token files (``tokens.json``, which every
        encode writes) is copied into it, so the dataset names its codec
        (:mod:`~audiotok.services.dataset.identity`).
    suffix : {".ecdc", ".npq"}, optional
        Token file suffix; detected when only one kind is present.
    split : str
        Split name when neither ``split_map`` nor ``valid_fraction`` is given
        (and the training split's name with ``valid_fraction``).
    split_map : mapping of str to str, optional
        Split name -> folder inside ``tokens_dir``.
    valid_fraction : float, optional
        Fraction of files sent to ``valid_split``, chosen by a hash of
        ``seed`` and the file's relative path (deterministic).
    recursive : bool
        Scan subfolders.
    tokens_subdir : str
        Folder of the dataset the ``audio`` column points into.
    materialize : {"link", "copy", "none"}, optional
        How token files (and sidecars) are placed under ``tokens_subdir``.
        Default: ``"none"`` when embedding, ``"link"`` without. ``"link"``
        makes one relative symlink per file (token file and each sidecar),
        never one for a folder (see :mod:`audiotok.services.dataset._place`).
    embed : bool
        Store ``codes``/``cond`` and metadata columns in the rows; ``False``
        keeps the spec's path-only layout (``audio`` only).
    verify : bool
        Reopen the finished dataset and compare every row with its source
        files, token for token, before swapping it in.
    max_files : int, optional
        Use only the first ``max_files`` files (sorted by path).
    skip_bad : bool
        Write the dataset without the files that failed. By default any
        failure leaves ``out_dir`` untouched.
    workers : int
        Processes reading token files (rows keep their order).
    batch_rows : int
        Rows per Arrow record batch (memory bound of the build).
    on_progress : callable, optional
        Receives ``ProgressEvent("files", ...)``.

    Returns
    -------
    BuildSummary
        The ``codes`` column is uint16, or uint32 for every split when a file
        needs it (see :func:`~audiotok.services.dataset._rows.features_for`).

    Raises
    ------
    InputError
        If ``tokens_dir`` (or a split folder) is missing or holds no token files.
    UsageError
        If options contradict each other, a split folder escapes ``tokens_dir``,
        ``out_dir`` and ``tokens_dir`` nest, ``out_dir`` is not a dataset, or
        the files sit under identity manifests (``tokens.json``) naming
        different codecs.
    """
    start = time.perf_counter()
    plan = plan_build(tokens_dir, out_dir, **options)
    build = Build(plan, batch_rows=batch_rows)
    try:
        build.read(workers=plan.workers, on_progress=on_progress)  # read -> write, row by row
        if build.failures and not skip_bad:
            build.discard()
            return build.result(start, written=False)
        build.finish()
        identity.write_manifest(build.workdir, plan.manifests)  # the codec identity, if the files have one
        if verify:
            verify_failures = verify_dataset(
                build.workdir, plan.kind, plan.roots, plan.tokens_prefix, embed=plan.embed
            )
            if verify_failures:
                build.failures.extend(verify_failures)
                plan.staging.discard()
                return build.result(start, written=False, verified=False)
        replaced = plan.staging.commit()
    except BaseException:
        build.discard()
        raise
    log.info("built %s: %s", plan.staging.final, build.rows())
    return build.result(start, written=True, replaced=replaced, verified=True if verify else None)


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    """What a build will read and where it will write, decided before any file is written.

    Attributes
    ----------
    out_dir : str
        The dataset folder as given.
    roots : dict of str to str
        Split name -> real folder of its token files.
    kind : {"esf", "npq"}
    suffix : str
        ``.ecdc`` or ``.npq``.
    split_names : list of str
        Splits of the dataset, in order (the validation split last, if any).
    total : int
        Token files the build reads (after ``max_files``).
    staging : Staging
        The ``OUT.incomplete`` folder and the final dataset folder.
    materialize : {"link", "copy", "none"}
    embed : bool
    recursive : bool
    tokens_prefix : str
        The ``audio`` column's folder (``tokens``).
    valid : tuple (fraction, seed, split) or None
    workers : int
        Processes reading token files.
    manifests : tuple of Manifest
        The identity manifests above the files (one codec), copied into the
        dataset as ``tokens.json`` (:mod:`~audiotok.services.dataset.identity`).
    """

    out_dir: str
    roots: dict[str, str]
    kind: scan.Kind
    suffix: str
    split_names: list[str]
    total: int
    staging: Staging
    materialize: Materialize
    embed: bool
    recursive: bool
    tokens_prefix: str
    valid: tuple[float, int, str] | None
    workers: int
    manifests: tuple[Manifest, ...] = ()


def plan_build(
    tokens_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    suffix: str | None = None,
    split: str = "train",
    split_map: Mapping[str, str] | None = None,
    valid_fraction: float | None = None,
    valid_split: str = "valid",
    seed: int = 0,
    recursive: bool = False,
    tokens_subdir: str = "tokens",
    materialize: Materialize | None = None,
    embed: bool = True,
    max_files: int | None = None,
    workers: int = 1,
) -> BuildPlan:
    """Check the options and the folders and count the files: the plan step of :func:`build_dataset`.

    Nothing is written. Parameters as :func:`build_dataset`.

    Raises
    ------
    InputError, UsageError
        As :func:`build_dataset`.
    """
    mode: Materialize = materialize or ("none" if embed else "link")
    _check_options(
        split_map=split_map, valid_fraction=valid_fraction, embed=embed, materialize=mode,
        max_files=max_files, tokens_subdir=tokens_subdir, workers=workers,
    )  # fmt: skip
    tokens_path, out_path = Path(tokens_dir), Path(out_dir)
    roots = scan.split_roots(tokens_path, split, split_map)
    staging = Staging(out_path)
    for real_root in roots.values():
        if scan.inside(staging.final, real_root) or scan.inside(real_root, staging.final):
            raise UsageError(f"OUT_DIR and TOKENS_DIR {tokens_path} must not contain each other", out_path)
    if suffix and not suffix.startswith("."):
        suffix = "." + suffix
    suffix = suffix or scan.detect_suffix(roots, recursive)
    if suffix not in scan.SUFFIXES:
        raise UsageError(f"`suffix` must be .ecdc or .npq, got {suffix!r}", param="suffix")
    split_names = list(roots)
    if valid_fraction is not None:
        split_names.append(scan.check_split_name(valid_split))
        if valid_split == split:
            raise UsageError("the validation split needs a name other than `split`", param="valid_split")
    # Files are streamed from the folder scan (never listed in memory); this
    # cheap pass only counts them for the progress total.
    total = scan.count(roots, suffix, recursive=recursive)
    total = min(total, max_files) if max_files else total
    if not total:
        raise InputError(f"no {suffix} files to build from", tokens_path)
    if Path(tokens_subdir).parts[0] in split_names:
        raise UsageError(
            f"`tokens_subdir` {tokens_subdir!r} collides with a split folder of the dataset",
            param="tokens_subdir",
        )
    manifests = identity.find_manifests(roots, suffix, recursive=recursive, total=total)
    return BuildPlan(
        out_dir=str(out_path), roots=roots, kind=scan.SUFFIXES[suffix], suffix=suffix,
        split_names=split_names, total=total, staging=staging, materialize=mode, embed=embed,
        recursive=recursive, tokens_prefix=Path(tokens_subdir).as_posix(),
        valid=None if valid_fraction is None else (valid_fraction, seed, valid_split), workers=workers,
        manifests=manifests,
    )  # fmt: skip
