"""The read, write and commit steps of ``dataset build`` (the plan step is :func:`.build.plan_build`)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from datasets import load_from_disk
from pydantic import Field

from audiotok.errors import AudiotokError
from audiotok.formats._base import FrozenModel
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.records import FileFailure
from audiotok.services.dataset import scan
from audiotok.services.dataset._arrow import SplitWriter, write_dataset_dict_json
from audiotok.services.dataset._place import Materialize, Placer
from audiotok.services.dataset._rows import CODES_DTYPES, Job, Row, esf_files, features_for, read_rows

if TYPE_CHECKING:
    from audiotok.services.dataset.build import BuildPlan

__all__ = ["Build", "BuildSummary"]


class BuildSummary(FrozenModel):
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


class Build:
    """The read, write and commit steps of one build, on its staging folder.

    ``read`` streams rows from the token files into the split writers (and
    places the files under ``tokens/``); ``finish`` closes the shards and
    checks that ``datasets`` opens the result; the caller verifies and commits.
    """

    def __init__(self, plan: BuildPlan, *, batch_rows: int) -> None:
        self.plan = plan
        # Codes start as uint16; the first row that needs uint32 widens every split (see features_for).
        self.width = CODES_DTYPES[0]
        #: Token files are placed under tokens/ (rows name them in ``audio``), else rows carry ``id``.
        self.placed = not plan.embed or plan.materialize != "none"
        self.features = features_for(plan.kind, embed=plan.embed, codes_dtype=self.width, placed=self.placed)
        self.workdir = plan.staging.create()
        self.writers: dict[str, SplitWriter] = {}
        try:
            for n in plan.split_names:
                self.writers[n] = SplitWriter(
                    os.path.join(self.workdir, n), self.features, batch_rows=batch_rows
                )
        except BaseException:
            self.discard()
            raise
        companions = esf_files if plan.kind == "esf" else lambda p: (p,)
        self.placer = Placer(plan.materialize, self.workdir, plan.staging.final, companions)
        self.failures: list[FileFailure] = []
        self.n_files = self.n_frames = 0

    def _jobs(self) -> Iterator[Job]:
        plan = self.plan
        for folder in scan.folders(plan.roots, plan.suffix, recursive=plan.recursive):
            files = folder.files[: plan.total - self.n_files]
            self.n_files += len(files)
            if len(files) < len(folder.files):  # --max-files ends inside this folder
                folder = dataclasses.replace(folder, files=files)
            yield from _folder_jobs(
                folder, plan.roots[folder.split], plan.tokens_prefix, plan.valid, self.failures
            )
            if self.n_files == plan.total:
                return

    def read(self, *, workers: int, on_progress: ProgressFn | None) -> None:
        """Read every planned file into its split's writer; failures are recorded, not raised."""
        emit(on_progress, ProgressEvent("files", total=self.plan.total))
        for (path, audio, name), row in read_rows(
            self.plan.kind, self._jobs(), embed=self.plan.embed, workers=workers
        ):
            try:
                if isinstance(row, str):
                    raise AudiotokError(row)
                self.placer.place(path, audio)
            except AudiotokError as exc:
                self.failures.append(FileFailure(path=path, error=exc.reason))
            except OSError as exc:
                self.failures.append(FileFailure(path=path, error=exc.strerror or str(exc)))
            else:
                self._write(name, row)
            if on_progress is not None:
                on_progress(ProgressEvent("files", advance=1, item=path))

    def _write(self, split: str, row: Row) -> None:
        self.n_frames += row.get("n_frames", 0)
        if not self.placed:  # nothing under tokens/: the row names its source file below the split's root
            below = row["audio"][len(self.plan.tokens_prefix) + len(split) + 2 :]
            row["id"] = below[: -len(self.plan.suffix)]
        if self.plan.embed and row["codes"].dtype.itemsize > self.width.itemsize:
            self.width = row["codes"].dtype
            self.features = features_for(
                self.plan.kind, embed=True, codes_dtype=self.width, placed=self.placed
            )
            for w in self.writers.values():
                w.widen(self.features)
        self.writers[split].add(row)

    def rows(self) -> dict[str, int]:
        """Rows written per split."""
        return {n: w.rows for n, w in self.writers.items()}

    def finish(self) -> None:
        """Close every split's shards, write ``dataset_dict.json`` and check ``load_from_disk`` opens it."""
        for w in self.writers.values():
            w.close()
        write_dataset_dict_json(self.workdir, self.plan.split_names)
        _check_loadable(self.workdir, self.rows())

    def discard(self) -> None:
        """Abandon the build: close the writers and remove the staging folder (OUT_DIR untouched)."""
        for w in self.writers.values():
            w.abort()
        self.plan.staging.discard()

    def result(
        self, start: float, *, written: bool, replaced: bool = False, verified: bool | None = None
    ) -> BuildSummary:
        """The :class:`BuildSummary` of this build, ``start`` being its ``time.perf_counter()``."""
        plan = self.plan
        return BuildSummary(
            out_dir=plan.out_dir,
            kind=plan.kind,
            embedded=plan.embed,
            materialize=plan.materialize,
            splits=self.rows(),
            n_files=self.n_files,
            n_frames=self.n_frames if plan.embed else None,
            failures=self.failures,
            written=written,
            replaced=replaced,
            verified=verified,
            elapsed_s=time.perf_counter() - start,
        )
