"""One output sink for every per-file command: human lines, JSON Lines (``--json``) or quiet.

As hf's ``cli/_output.py``: commands hand records and the summary to an
:class:`Output` and never choose between ``print``, ``typer.echo`` and
rich themselves.

- human: the command's line per record (if any) and its summary line, on stdout;
- ``--json``: one JSON object per record, the summary object last, on stdout;
- ``--quiet`` (root option): nothing on stdout but ``--json`` output.

In every mode a failed record is also one line ``error: PATH: reason`` on
stderr, with service parameter names turned into flags (:mod:`audiotok.cli._errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.table import Table

from audiotok.cli import _console
from audiotok.cli._errors import with_flags
from audiotok.cli._tables import FitTable
from audiotok.records import BatchSummary, FileRecord

__all__ = ["Output"]

HumanLine = Callable[[FileRecord], str | None]
S = TypeVar("S", bound=BatchSummary)


class Output:
    """Where one command's records, tables and summary go.

    Parameters
    ----------
    as_json : bool
        ``--json``: JSON Lines on stdout.
    human : callable, optional
        The human line of a record (``None``: no line for it). Failed records
        need none: they are reported on stderr.

    Attributes
    ----------
    failures : list of FileRecord
        The failed records so far (their ``error`` with flags).
    """

    def __init__(self, *, as_json: bool, human: HumanLine | None = None) -> None:
        self.as_json = as_json
        self.quiet = _console.is_quiet() and not as_json
        self.human = human
        self.failures: list[FileRecord] = []

    @property
    def lines(self) -> bool:
        """Whether human lines are printed (neither ``--json`` nor ``--quiet``)."""
        return not (self.as_json or self.quiet)

    def record(self, record: FileRecord) -> None:
        """Report one file: ``error:`` line for a failure, its JSON object or its human line."""
        if record.status == "failed":
            record = record.model_copy(update={"error": with_flags(record.error or "")})
            self.failures.append(record)
            self.error(record.input, record.error or "")
        if self.as_json:
            typer.echo(record.model_dump_json())
        elif self.lines and self.human is not None and record.status != "failed":
            text = self.human(record)
            if text is not None:
                self.line(text)

    def error(self, path: str, reason: str) -> None:
        """``error: PATH: reason`` on stderr, in every mode."""
        _console.err_console.print(f"error: {path}: {reason}", markup=False, highlight=False, soft_wrap=True)

    def line(self, text: str, *, style: str | None = None) -> None:
        """One human line on stdout (not with ``--json`` or ``--quiet``)."""
        if self.lines:
            _console.console.print(text, markup=False, highlight=False, soft_wrap=True, style=style)

    def table(self, table: Table | FitTable) -> None:
        """A table on stdout, if it has rows (not with ``--json`` or ``--quiet``)."""
        if self.lines and table.row_count:
            _console.console.print(table)

    def json(self, model: BaseModel) -> None:
        """One extra JSON object (a verification result, a report), with ``--json`` only."""
        if self.as_json:
            typer.echo(model.model_dump_json())

    def summary(self, summary: BaseModel, line: str | None = None) -> None:
        """The run's summary: its JSON object last with ``--json``, else ``line`` (if any)."""
        if self.as_json:
            typer.echo(summary.model_dump_json())
        elif line is not None:
            self.line(line)

    def run(
        self,
        label: str,
        batch: Callable[..., S],
        *args: Any,
        line: Callable[[S], str | None] | None = None,
        exit_on_failure: bool = True,
        **kwargs: Any,
    ) -> S:
        """Run one batch service under a progress row and report it here.

        ``batch(*args, on_record=self.record, on_progress=..., **kwargs)`` is
        called with the progress row ``label``; its summary goes to
        :meth:`summary` (with ``line(summary)`` as the human line).

        Raises
        ------
        typer.Exit
            Exit status 1 when a file failed and ``exit_on_failure`` is set.
        """
        with _console.progress(label, enabled=not self.as_json) as on_progress:
            summary = batch(*args, on_record=self.record, on_progress=on_progress, **kwargs)
        self.summary(summary, None if line is None else line(summary))
        if exit_on_failure and summary.files_failed:
            raise typer.Exit(1)
        return summary
