"""``dataset build``: token files (+ sidecars) -> a Hugging Face ``DatasetDict`` on disk.

Follows ``specs/encodec-dataset-workflow.md`` (step 4) and keeps its ``audio``
column and ``tokens/<split>/...`` layout, but by default embeds the codes and
conditioning in the rows so the dataset is self-contained (uploadable).

Rows are streamed: files come from a folder scan, each row is read, appended
to a small Arrow batch and written straight into its split's shards, so memory
does not grow with the corpus. The dataset is assembled in ``OUT.incomplete``
and swapped in only when complete.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from datasets import load_from_disk
from pydantic import Field

from audiotok.errors import AudiotokError, InputError, UsageError
from audiotok.formats._base import FrozenModel
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.services.dataset import scan
from audiotok.services.dataset._arrow import SplitWriter, write_dataset_dict_json
from audiotok.services.dataset._place import Materialize, Placer
from audiotok.services.dataset._rows import CODES_DTYPES, Job, esf_files, features_for, read_rows
from audiotok.services.dataset._swap import Staging
from audiotok.services.dataset.verify import verify_dataset
from audiotok.services.records import FileFailure

__all__ = ["BuildResult", "Materialize", "build_dataset"]

log = logging.getLogger(__name__)


class BuildResult(FrozenModel):
    """What ``dataset build`` did."""

    out_dir: str = Field(description="The dataset folder.")
    kind: scan.Kind = Field(description="'esf' (.ecdc + sidecars) or 'npq'.")
    embedded: bool = Field(description="Whether codes (and conditioning) are stored in the rows.")
    materialize: Materialize = Field(description="How token files were placed under tokens/.")
    splits: dict[str, int] = Field(description="Rows per split.")
    n_files: int = Field(description="Token files found (after --max-files).")
    n_frames: int | None = Field(description="Frames in all rows (embedded layouts only).")
    failures: list[FileFailure] = Field(description="Files left out, and why.")
    written: bool = Field(description="Whether OUT_DIR now holds the new dataset.")
    replaced: bool = Field(description="Whether an older dataset at OUT_DIR was replaced.")
    verified: bool | None = Field(description="True when --verify re-read every row; None without it.")
    elapsed_s: float = Field(description="Wall time, seconds.")


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
        raise UsageError(f"--valid-fraction must be between 0 and 1, got {valid_fraction}")
    if valid_fraction is not None and split_map:
        raise UsageError("--valid-fraction and --split-map cannot be combined")
    if not embed and materialize == "none":
        raise UsageError("--no-embed stores only paths: use --materialize link or copy")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if max_files is not None and max_files < 1:
        raise UsageError(f"--max-files must be at least 1, got {max_files}")
    sub = Path(tokens_subdir)
    if sub.is_absolute() or not sub.parts or ".." in sub.parts:
        raise UsageError(f"--tokens-subdir must be a plain relative folder, got {tokens_subdir!r}")


def _check_loadable(dataset_dir: str, rows: Mapping[str, int]) -> None:
    """Open the written folder with ``datasets.load_from_disk`` and check the row counts."""
    try:
        dsd = load_from_disk(dataset_dir)
        got = {name: len(ds) for name, ds in dsd.items()}
    except Exception as exc:  # any failure here means the layout is not what datasets reads
        raise AudiotokError(f"datasets cannot open the written dataset: {exc}", dataset_dir) from exc
    if got != dict(rows):
        raise AudiotokError(f"datasets reads rows {got}, {dict(rows)} were written", dataset_dir)


def _folder_jobs(
    folder: scan.Folder,
    top: str,
    prefix: str,
    valid: tuple[float, int, str] | None,
    failures: list[FileFailure],
) -> list[Job]:
    """The jobs of one scanned folder; files that are symlinks out of ``top`` become failures."""
    rel_dir = folder.relative + "/" if folder.relative else ""
    out: list[Job] = []
    for entry in folder.files:
        path = entry.path
        if entry.is_symlink() and not scan.inside(os.path.realpath(path), top):
            failures.append(FileFailure(path=path, error="symlink resolves outside TOKENS_DIR; refusing it"))
            continue
        rel = rel_dir + entry.name
        name = folder.split
        if valid is not None and scan.assign_valid(rel, valid[0], valid[1]):
            name = valid[2]
        out.append((path, f"{prefix}/{name}/{rel}", name))
    return out


def _whole(folder: scan.Folder, jobs: list[Job], kind: scan.Kind) -> bool:
    """Whether ``folder`` holds exactly the files of ``jobs`` (and sidecars), all for one split."""
    if not folder.plain or len(jobs) != len(folder.files) or len({job[2] for job in jobs}) != 1:
        return False
    if kind == "npq":
        return len(folder.names) == len(jobs)
    return folder.names == {os.path.basename(p) for e in folder.files for p in esf_files(e.name)}


def build_dataset(
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
    verify: bool = False,
    max_files: int | None = None,
    skip_bad: bool = False,
    workers: int = 1,
    batch_rows: int = 256,
    on_progress: ProgressFn | None = None,
) -> BuildResult:
    """Build a ``DatasetDict`` in ``out_dir`` from the token files under ``tokens_dir``.

    Parameters
    ----------
    tokens_dir : str or os.PathLike
        Folder of ``NAME.ecdc`` files with their ``NAME.cond.npy`` /
        ``NAME.cond.json`` sidecars (ESF), or of ``.npq`` files.
    out_dir : str or os.PathLike
        The dataset folder. An existing dataset there is replaced only once the
        new one is complete; any other non-empty folder is refused.
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
        Default: ``"none"`` when embedding, ``"link"`` (relative symlinks) without.
        With ``"link"``, a source folder holding exactly its rows' files is one
        folder symlink (see :mod:`audiotok.services.dataset._place`).
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
    BuildResult
        The ``codes`` column is uint16, or uint32 for every split when a file
        needs it (see :func:`~audiotok.services.dataset._rows.features_for`).

    Raises
    ------
    InputError
        If ``tokens_dir`` (or a split folder) is missing or holds no token files.
    UsageError
        If options contradict each other, a split folder escapes ``tokens_dir``,
        ``out_dir`` and ``tokens_dir`` nest, or ``out_dir`` is not a dataset.
    """
    start = time.perf_counter()
    mode: Materialize = materialize or ("none" if embed else "link")
    _check_options(
        split_map=split_map,
        valid_fraction=valid_fraction,
        embed=embed,
        materialize=mode,
        max_files=max_files,
        tokens_subdir=tokens_subdir,
        workers=workers,
    )
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
        raise UsageError(f"--suffix must be .ecdc or .npq, got {suffix!r}")
    kind = scan.SUFFIXES[suffix]
    split_names = list(roots)
    if valid_fraction is not None:
        split_names.append(scan.check_split_name(valid_split))
        if valid_split == split:
            raise UsageError("the validation split needs a name other than --split")

    # Files are streamed from the folder scan (never listed in memory); a first,
    # cheap pass only counts them for the progress total.
    total = scan.count(roots, suffix, recursive=recursive)
    total = min(total, max_files) if max_files else total
    if not total:
        raise InputError(f"no {suffix} files to build from", tokens_path)

    if Path(tokens_subdir).parts[0] in split_names:
        raise UsageError(f"--tokens-subdir {tokens_subdir!r} collides with a split folder of the dataset")

    # Codes start as uint16; the first row that needs uint32 widens every split (see features_for).
    width = CODES_DTYPES[0]
    features = features_for(kind, embed=embed, codes_dtype=width)
    workdir = staging.create()
    try:
        writers = {
            n: SplitWriter(os.path.join(workdir, n), features, batch_rows=batch_rows) for n in split_names
        }
        placer = Placer(mode, workdir, staging.final, esf_files if kind == "esf" else lambda p: (p,))
        n_frames = n_files = 0
        failures: list[FileFailure] = []
        prefix = Path(tokens_subdir).as_posix()
        valid = None if valid_fraction is None else (valid_fraction, seed, valid_split)

        def jobs() -> Iterator[Job]:
            nonlocal n_files
            for folder in scan.folders(roots, suffix, recursive=recursive):
                files = folder.files[: total - n_files]
                n_files += len(files)
                if len(files) < len(folder.files):  # --max-files ends inside this folder
                    folder = dataclasses.replace(folder, files=files)
                batch = _folder_jobs(folder, roots[folder.split], prefix, valid, failures)
                if mode == "link" and batch and _whole(folder, batch, kind):
                    placer.whole_folder(folder.path, os.path.dirname(batch[0][1]))
                yield from batch
                if n_files == total:
                    return

        emit(on_progress, ProgressEvent("files", total=total))
        for (path, audio, name), row in read_rows(kind, jobs(), embed=embed, workers=workers):
            try:
                if isinstance(row, str):
                    raise AudiotokError(row)
                placer.place(path, audio)
            except AudiotokError as exc:
                failures.append(FileFailure(path=path, error=exc.reason))
                placer.failed(path, audio)
            except OSError as exc:
                failures.append(FileFailure(path=path, error=exc.strerror or str(exc)))
            else:
                n_frames += row.get("n_frames", 0)
                if embed and row["codes"].dtype.itemsize > width.itemsize:
                    width = row["codes"].dtype
                    features = features_for(kind, embed=embed, codes_dtype=width)
                    for w in writers.values():
                        w.widen(features)
                writers[name].add(row)
            if on_progress is not None:
                on_progress(ProgressEvent("files", advance=1, item=path))

        def result(*, written: bool, replaced: bool = False, verified: bool | None = None) -> BuildResult:
            return BuildResult(
                out_dir=str(out_path),
                kind=kind,
                embedded=embed,
                materialize=mode,
                splits={n: w.rows for n, w in writers.items()},
                n_files=n_files,
                n_frames=n_frames if embed else None,
                failures=failures,
                written=written,
                replaced=replaced,
                verified=verified,
                elapsed_s=time.perf_counter() - start,
            )

        if failures and not skip_bad:
            for w in writers.values():
                w.abort()
            staging.discard()
            return result(written=False)
        for w in writers.values():
            w.close()
        write_dataset_dict_json(workdir, split_names)
        _check_loadable(workdir, {n: w.rows for n, w in writers.items()})
        if verify:
            verify_failures = verify_dataset(workdir, kind, roots, tokens_subdir, embed=embed)
            if verify_failures:
                failures.extend(verify_failures)
                staging.discard()
                return result(written=False, verified=False)
        replaced = staging.commit()
    except BaseException:
        for w in locals().get("writers", {}).values():
            w.abort()
        staging.discard()
        raise
    log.info("built %s: %s", staging.final, {n: w.rows for n, w in writers.items()})
    return result(written=True, replaced=replaced, verified=True if verify else None)
