"""Background threads with bounded queues, that stop when asked and never hang the caller.

:class:`Prefetch` runs an iterator (decoding and resampling audio, say) in a
daemon thread, a few items ahead of its consumer. The consumer sees the
items in order, and an exception of the iterator as its own, after the
items before it. Closing a :class:`Prefetch` (or leaving its ``with``) stops
the thread within a poll interval, even when it is blocked on a full queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["POLL_S", "Prefetch", "put_until"]

T = TypeVar("T")

POLL_S = 0.1
"""Seconds a blocked thread waits before it looks at its stop flag again."""


class _End:
    """The producer is done; ``error`` is what ended it, if anything."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def put_until(q: queue.Queue[T], item: T, stop: threading.Event) -> bool:
    """Put ``item`` on ``q``, waiting while it is full; ``False`` (not put) once ``stop`` is set."""
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_S)
        except queue.Full:
            continue
        return True
    return False


class Prefetch(Iterator[T], Generic[T]):
    """Iterate ``source`` in a daemon thread, at most ``size`` items ahead.

    Parameters
    ----------
    source : iterator
        Runs in the thread only (a generator is also closed there, so its
        ``finally`` and ``with`` blocks run in the thread that ran it).
    size : int
        Items the thread may hold ready (``>= 1``).
    name : str
        The thread's name.
    """

    def __init__(self, source: Iterator[T], size: int, name: str = "audiotok-prefetch") -> None:
        self._queue: queue.Queue[T | _End] = queue.Queue(max(1, size))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _produce(self, source: Iterator[T]) -> None:
        end = _End()
        try:
            for item in source:
                if not put_until(self._queue, item, self._stop):
                    break
        except BaseException as exc:  # handed to the consumer, raised there
            end = _End(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        put_until(self._queue, end, self._stop)

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        while True:
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self._done = True
                    raise StopIteration from None
                continue
            if isinstance(item, _End):
                self._done = True
                if item.error is not None:
                    raise item.error
                raise StopIteration
            return item

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it (at most ``timeout`` seconds; it is a daemon)."""
        self._done = True
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue at once
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout)

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
