"""Consoles and the progress adapter shared by every command."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import IO, cast

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from audiotok.progress import ProgressEvent, ProgressFn


class _Stdout:
    """Whatever ``sys.stdout`` is at the moment of each write.

    A plain ``Console()`` looks through rich's own stdout redirection and
    writes straight to the terminal, over a progress row drawn on stderr.
    Through this stand-in, results printed while a row is live on the same
    terminal go above the row (see :func:`progress`); otherwise, and when
    stdout is a file or a pipe, they go to stdout as always.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()

    @property
    def encoding(self) -> str:
        return getattr(sys.stdout, "encoding", None) or "utf-8"

    # no __getattr__ delegation: rich would find sys.stdout's ``rich_proxied_file`` through it


console = Console(file=cast(IO[str], _Stdout()))
"""stdout: results (tables, JSON Lines)."""
err_console = Console(stderr=True)
"""stderr: errors, warnings, progress."""

_quiet = False


@contextlib.contextmanager
def quiet_progress(quiet: bool) -> Iterator[None]:
    """``--quiet`` for the length of a command: no progress bars (errors are still printed)."""
    global _quiet
    saved, _quiet = _quiet, quiet
    try:
        yield
    finally:
        _quiet = saved


def is_quiet() -> bool:
    """Whether ``--quiet`` was given for the running command."""
    return _quiet


def _stdout_is_terminal() -> bool:
    return console.is_terminal


def _clock(seconds: float, *, hours: bool = False) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on (always with ``hours``, like rich's elapsed time)."""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h or hours else f"{m}:{s:02d}"


def audio_amount(done: float, total: float | None) -> str:
    """``"3.0/9.0 s audio"``, or ``"1:05/1:02:00 audio"`` once the total reaches a minute."""
    if total is not None and total < 60:
        return f"{done:.1f}/{total:.1f} s audio"
    return f"{_clock(done)}/{_clock(total)} audio" if total is not None else f"{_clock(done)} audio"


class RealTimeColumn(ProgressColumn):
    """Speed of a task counting audio seconds: audio seconds per wall second (``"12.5× real time"``)."""

    def render(self, task: Task) -> Text:
        """Blank until two updates have arrived, and for tasks that do not count seconds."""
        speed = task.finished_speed or task.speed
        if task.fields.get("unit") != "seconds" or speed is None:
            return Text("")
        return Text(f"{speed:.1f}× real time", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """``ETA 0:01:23``: time left at the current speed (``ETA -:--:--`` while unknown)."""

    def render(self, task: Task) -> Text:
        """Blank when the total is unknown."""
        if task.total is None:
            return Text("")
        left = task.time_remaining
        return Text(
            "ETA " + ("-:--:--" if left is None else _clock(left, hours=True)), style="progress.remaining"
        )


class _Row:
    """Drive one progress row from events: audio seconds once their total is known, else files."""

    def __init__(self, bars: Progress, description: str) -> None:
        self._bars = bars
        self._task = bars.add_task(description, total=None, unit="files", amount="", files="", item="")
        self._counts: dict[str, tuple[float, float | None]] = {}
        self._unit = "files"
        self._item = ""

    def __call__(self, event: ProgressEvent) -> None:
        done, total = self._counts.get(event.task, (0.0, None))
        self._counts[event.task] = (done + event.advance, total if event.total is None else event.total)
        if event.item is not None:
            self._item = event.item[-50:]
        unit = "seconds" if self._counts.get("seconds", (0.0, None))[1] is not None else "files"
        done, total = self._counts.get(unit, (0.0, None))
        if unit != self._unit:  # switch units before speed samples mix them
            self._bars.reset(self._task, total=total)
            self._unit = unit
        files_done, files_total = self._counts.get("files", (0.0, None))
        files = f"{int(files_done)}/{int(files_total)} files" if files_total is not None else ""
        self._bars.update(
            self._task,
            completed=done,
            total=total,
            unit=unit,
            amount=audio_amount(done, total) if unit == "seconds" else files,
            files=files if unit == "seconds" else "",
            item=self._item,
        )


def progress_columns() -> tuple[ProgressColumn, ...]:
    """What a progress row shows, left to right."""
    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[amount]}", markup=False),
        TextColumn("{task.fields[files]}", markup=False),
        RealTimeColumn(),
        TimeElapsedColumn(),
        EtaColumn(),
        TextColumn("{task.fields[item]}", style="dim", markup=False),
    )


@contextlib.contextmanager
def progress(
    description: str,
    *,
    enabled: bool = True,
    console: Console | None = None,
    get_time: Callable[[], float] | None = None,
) -> Iterator[ProgressFn]:
    """Yield an ``on_progress`` callback that draws one progress row on stderr.

    The row follows the ``seconds`` task (audio seconds) once a service sends
    its total, showing audio done/total, files done/total, the real-time
    factor and the ETA; otherwise it counts ``files``. With ``enabled=False``
    (``--json``), with ``--quiet`` or when stderr is not a terminal the
    callback does nothing. ``console`` and ``get_time`` replace stderr and
    the clock (tests).
    """
    target = console or err_console
    if not enabled or _quiet or not target.is_terminal:
        yield lambda event: None
        return
    # results printed meanwhile go above the row when stdout is this terminal too, else to stdout
    bars = Progress(
        *progress_columns(),
        console=target,
        transient=True,
        get_time=get_time,
        redirect_stdout=_stdout_is_terminal(),
    )
    row = _Row(bars, description)
    with bars:
        yield row
