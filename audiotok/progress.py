"""Progress reporting from services to whatever front end is listening.

Services never draw progress bars; they call an optional ``on_progress``
callback with :class:`ProgressEvent` values. The CLI turns these into rich
progress bars; library users can log them or ignore them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One progress update.

    Attributes
    ----------
    task : str
        Which counter moved, e.g. ``"files"`` or ``"seconds"`` (audio seconds).
    advance : float
        How much was completed since the last event for this task.
    total : float or None
        The task's total, when known (sent with the first event, may be repeated).
    item : str or None
        What is being worked on now (usually a file path).
    """

    task: str
    advance: float = 0.0
    total: float | None = None
    item: str | None = None


ProgressFn = Callable[[ProgressEvent], None]


def emit(on_progress: ProgressFn | None, event: ProgressEvent) -> None:
    """Send ``event`` to ``on_progress`` if a callback was given."""
    if on_progress is not None:
        on_progress(event)
