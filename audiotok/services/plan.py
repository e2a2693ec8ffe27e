"""Planning a batch: which files, which outputs, which shard, what resume skips, how much audio.

:func:`plan` (and :func:`plan_files` for files found otherwise) decides
everything before any work, so that a usage error (two inputs for one
output, a shard that does not exist) comes before the first file is written
and progress totals are known up front. :func:`audiotok.services.runner.run`
then works through the :class:`Plan`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from audiotok import paths
from audiotok._fsio import remove_stale_temps
from audiotok._types import HasDuration
from audiotok.errors import UsageError
from audiotok.paths import InputFile, Unmatched, expand_inputs, in_shard, mirror_path
from audiotok.records import FileRecord, Status

__all__ = ["HasDuration", "Plan", "PlanItem", "check_shard", "expand", "plan", "plan_files"]

R = TypeVar("R", bound=FileRecord)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanItem:
    """One file of a plan.

    Attributes
    ----------
    index : int
        Position in :attr:`Plan.items`.
    file : InputFile
        The input and the root its output is mirrored from.
    output : Path or None
        Where its output goes; ``None`` for commands that write none.
    skipped : FileRecord or None
        The ``skipped`` record when resume found a valid output (no work then).
    info : object or None
        What the plan's probe returned for the file (``AudioInfo``, an NPQ
        header), or ``None`` when it was not probed or could not be read.
    seconds : float
        Audio seconds from the probe (0 when unknown).
    """

    index: int
    file: InputFile
    output: Path | None
    skipped: FileRecord | None = None
    info: object | None = None
    seconds: float = 0.0

    @property
    def path(self) -> Path:
        """The input file."""
        return self.file.path

    @property
    def dst(self) -> Path:
        """The output path, for plans that have outputs.

        Raises
        ------
        TypeError
            If the plan was made without outputs (a bug in the command, never caught per file).
        """
        if self.output is None:
            raise TypeError(f"{self.file.path}: planned without an output")
        return self.output

    def record(self, cls: type[R], status: Status, **fields: object) -> R:
        """A ``cls`` record of this item: its input and output, ``status`` and the command's ``fields``."""
        output = None if self.output is None else str(self.output)
        return cls(input=str(self.file.path), output=output, status=status, **fields)


@dataclass(frozen=True)
class Plan:
    """What a run will do, decided before any work.

    Attributes
    ----------
    items : tuple of PlanItem
        This shard's files in input order, those skipped by resume included.
    unmatched : tuple of Unmatched
        Command-line arguments that named no file (reported as failed records).
    measured : bool
        Items were probed for their duration: progress counts audio seconds.
    """

    items: tuple[PlanItem, ...]
    unmatched: tuple[Unmatched, ...] = ()
    measured: bool = False

    @property
    def files(self) -> int:
        """Files in the plan (this shard)."""
        return len(self.items)

    @property
    def todo(self) -> int:
        """Files to work on (not skipped by resume)."""
        return sum(item.skipped is None for item in self.items)

    @property
    def skipped(self) -> int:
        """Files skipped by resume."""
        return len(self.items) - self.todo

    @property
    def seconds(self) -> float:
        """Audio seconds of the files to work on (0 unless :attr:`measured`)."""
        return sum(item.seconds for item in self.items if item.skipped is None)


def check_shard(shard: tuple[int, int]) -> None:
    """Refuse a shard that does not exist (:func:`audiotok.paths.check_shard`).

    Raises
    ------
    UsageError
        If ``shard_count < 1`` or ``shard_index`` is not in ``[0, shard_count)``.
    """
    paths.check_shard(*shard)


def expand(
    inputs: Iterable[str | os.PathLike[str]], *, suffixes: Sequence[str] | None, recursive: bool = False
) -> tuple[list[InputFile], list[Unmatched]]:
    """Files named by ``inputs`` (files, globs, folders); see :func:`audiotok.paths.expand_inputs`."""
    return expand_inputs(inputs, suffixes=suffixes, recursive=recursive)


def plan(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    suffixes: Sequence[str] | None,
    outdir: Path | None = None,
    out_suffix: str | None = None,
    recursive: bool = False,
    shard: tuple[int, int] = (0, 1),
    resume: Callable[[PlanItem], FileRecord | None] | None = None,
    overwrite: bool = False,
    probe: Callable[[Path], HasDuration | None] | None = None,
    sweep_temps: bool = True,
) -> Plan:
    """Plan a batch over the files named by ``inputs``.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        Files, glob patterns or folders.
    suffixes : sequence of str or None
        Input suffixes kept from folders and globs (``None``: all).
    outdir : Path, optional
        Output folder; the input tree is mirrored under it. Default: beside each input.
    out_suffix : str, optional
        The outputs' suffix (``".npq"``); ``None``: the command writes no output.
    recursive : bool
        Scan folders recursively.
    shard : (int, int)
        ``(shard_index, shard_count)``: keep the files whose relative path
        hashes to this shard (:func:`audiotok.paths.in_shard`).
    resume : callable, optional
        ``resume(item)`` returns the ``skipped`` record when the item's output
        already validates, else ``None``. Not called with ``overwrite``.
    overwrite : bool
        Work on every file, whatever exists.
    probe : callable, optional
        ``probe(path)`` returns the file's header (with ``duration_s``) or
        ``None`` when unreadable; the work function finds it in
        :attr:`PlanItem.info`. Called for the files to work on only.
    sweep_temps : bool
        Remove what killed runs left beside this shard's outputs (see :func:`plan_files`);
        ``False`` for a dry run, which changes nothing.

    Raises
    ------
    UsageError
        If two inputs map to one output (naming both), or the shard does not exist.
    """
    files, unmatched = expand(inputs, suffixes=suffixes, recursive=recursive)
    output = None if out_suffix is None else _mirror(outdir, out_suffix)
    return plan_files(
        files, unmatched, output=output, shard=shard, resume=resume, overwrite=overwrite, probe=probe,
        sweep_temps=sweep_temps,
    )  # fmt: skip


def _mirror(outdir: Path | None, suffix: str) -> Callable[[InputFile], Path]:
    return lambda f: mirror_path(f, outdir, suffix)


def plan_files(
    files: Iterable[InputFile],
    unmatched: Iterable[Unmatched] = (),
    *,
    output: Callable[[InputFile], Path] | None = None,
    shard: tuple[int, int] = (0, 1),
    shard_key: Callable[[InputFile], str | os.PathLike[str]] | None = None,
    resume: Callable[[PlanItem], FileRecord | None] | None = None,
    overwrite: bool = False,
    probe: Callable[[Path], HasDuration | None] | None = None,
    sweep_temps: bool = True,
    written_with: Callable[[Path], Iterable[Path]] | None = None,
) -> Plan:
    """Plan a batch over files already found (:func:`plan` after expanding its inputs).

    Parameters
    ----------
    files : iterable of InputFile
        The inputs, in order.
    unmatched : iterable of Unmatched
        Arguments that named nothing, reported first as failed records.
    output : callable, optional
        Output path of each input; ``None``: the command writes no output.
    shard_key : callable, optional
        The path a file's shard is computed from; default: its path relative to its root.
    shard, resume, overwrite, probe
        As in :func:`plan`.
    sweep_temps : bool
        Before any work, clean up what runs killed while writing (``kill -9``,
        a lost node) left beside the outputs of this shard's items, those
        resume skips included: their temporary files are removed and their
        interrupted sidecar pairs finished (:func:`audiotok._fsio.remove_stale_temps`).
        Other files are never touched. ``False`` for a dry run.
    written_with : callable, optional
        ``written_with(output)``: the other files the work writes with each
        output (a sidecar's ``.json``), swept as well.

    Raises
    ------
    UsageError
        If two inputs map to one output (naming both), or the shard does not exist.
    """
    check_shard(shard)
    files = list(files)
    outputs: list[Path | None] = [None] * len(files) if output is None else [output(f) for f in files]
    if output is not None:
        _refuse_collisions(files, outputs)  # over every shard: two workers must not write one file
    key = shard_key or (lambda f: f.relative)
    mine = [
        (f, dst) for f, dst in zip(files, outputs, strict=True) if shard == (0, 1) or in_shard(key(f), *shard)
    ]
    if sweep_temps:  # before resume looks at the outputs: an interrupted pair is finished first
        _sweep([dst for _, dst in mine if dst is not None], written_with)
    items: list[PlanItem] = []
    for f, dst in mine:
        item = PlanItem(len(items), f, dst)
        skipped = resume(item) if resume is not None and not overwrite and dst is not None else None
        if skipped is not None:
            item = PlanItem(item.index, f, dst, skipped=skipped)
        elif probe is not None:
            info = probe(f.path)
            item = PlanItem(item.index, f, dst, info=info, seconds=0.0 if info is None else info.duration_s)
        items.append(item)
    return Plan(tuple(items), tuple(unmatched), measured=probe is not None)


def _sweep(outputs: list[Path], written_with: Callable[[Path], Iterable[Path]] | None) -> None:
    """Clean up beside this shard's outputs only (one listing per output folder).

    Safe while other shards of the same batch run: every shard maps inputs to
    outputs alike and no two inputs share an output (:func:`_refuse_collisions`),
    so another shard's live temporary files belong to outputs not in ``outputs``
    and stay. Only a second run of this very shard at the same time (not
    supported) could lose a write to it.
    """
    if written_with is not None:
        outputs += [other for out in list(outputs) for other in written_with(out)]
    swept = remove_stale_temps(*outputs)
    if swept:
        log.info(
            "removed %d leftover temporary file(s) of killed runs, finished %d interrupted write(s)",
            len(swept.removed),
            len(swept.completed),
        )


def _refuse_collisions(files: Sequence[InputFile], outputs: Sequence[Path | None]) -> None:
    owner: dict[str, Path] = {}
    for f, dst in zip(files, outputs, strict=True):
        if dst is None:
            continue
        key = os.path.normcase(os.path.abspath(dst))
        first = owner.setdefault(key, f.path)
        if first != f.path:
            raise UsageError(
                f"{first} and {f.path} would both be written to {dst}; "
                "rename one of them, or give them different output folders"
            )
