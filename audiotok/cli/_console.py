"""Consoles and the progress adapter shared by every command."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from audiotok.progress import ProgressEvent, ProgressFn

console = Console()
"""stdout: results (tables, JSON Lines)."""
err_console = Console(stderr=True)
"""stderr: errors, warnings, progress."""


@contextlib.contextmanager
def progress(description: str, *, enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield an ``on_progress`` callback that drives rich progress bars on stderr.

    One bar per :attr:`ProgressEvent.task` (``files``, ``seconds``, ...). With
    ``enabled=False`` (``--json``, ``--quiet``, no terminal) the callback does nothing.
    """
    if not enabled or not err_console.is_terminal:
        yield lambda event: None
        return
    bars = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[item]}", style="dim"),
        console=err_console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def on_progress(event: ProgressEvent) -> None:
        if event.task not in tasks:
            label = description if not tasks else f"  {event.task}"
            tasks[event.task] = bars.add_task(label, total=event.total, item="")
        task = tasks[event.task]
        item = "" if event.item is None else event.item[-50:]
        bars.update(task, advance=event.advance, total=event.total, item=item)

    with bars:
        yield on_progress
