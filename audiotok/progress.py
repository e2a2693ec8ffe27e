"""Progress reporting from services to whatever front end is listening.

Services never draw progress bars; they call an optional ``on_progress``
callback with :class:`ProgressEvent` values. The CLI turns these into rich
progress bars; library users can log them or ignore them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


class PlannedTotal:
    """A progress task whose total is known up front, as one share per planned item.

    Services use it for ``"seconds"`` (audio seconds): the shares are the
    durations of the planned files, probed before the first file is touched.
    While item ``i`` runs, :meth:`share` is the ``on_progress`` to hand down;
    its events for :attr:`task` are capped at the item's share. :meth:`settle`
    then advances what is left of the share (the item was processed) or
    takes it off the total (skipped or failed), so the advances always add up
    to the last total sent.

    Parameters
    ----------
    on_progress : callable or None
        Where events go; ``None`` sends nothing.
    task : str
        The task name, e.g. ``"seconds"``.
    shares : sequence of float
        Each item's part of the total (0 where it is unknown).
    """

    def __init__(self, on_progress: ProgressFn | None, task: str, shares: Sequence[float]) -> None:
        self._on_progress = on_progress
        self.task = task
        self._shares = [max(0.0, float(s)) for s in shares]
        self._done = [0.0] * len(self._shares)
        self.total = sum(self._shares)
        emit(on_progress, ProgressEvent(task, total=self.total))

    def share(self, index: int) -> ProgressFn | None:
        """The ``on_progress`` callback for item ``index`` (``None`` when nobody listens)."""
        if self._on_progress is None:
            return None
        forward = self._on_progress

        def on_progress(event: ProgressEvent) -> None:
            if event.task != self.task:
                forward(event)
                return
            advance = min(event.advance, self._shares[index] - self._done[index])
            if advance > 0:
                self._done[index] += advance
                forward(ProgressEvent(self.task, advance=advance, item=event.item))

        return on_progress

    def settle(self, index: int, *, done: bool, item: str | None = None) -> None:
        """Item ``index`` is finished: ``done`` advances its remainder, otherwise the total shrinks."""
        rest = self._shares[index] - self._done[index]
        self._done[index] = self._shares[index]
        if rest <= 0:
            return
        if done:
            emit(self._on_progress, ProgressEvent(self.task, advance=rest, item=item))
        else:
            self.total -= rest
            emit(self._on_progress, ProgressEvent(self.task, total=self.total, item=item))
