"""The local engine: a plan's items in this process, one at a time or on a few threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from audiotok.errors import UsageError

__all__ = ["LocalEngine"]

T = TypeVar("T")
R = TypeVar("R")


class LocalEngine:
    """Run items in this process, results in item order.

    Parameters
    ----------
    jobs : int
        Threads. 1 runs each item in the calling thread; more overlap waits
        (file system, fsync) for commands whose work releases the GIL.

    Raises
    ------
    UsageError
        If ``jobs < 1``.
    """

    def __init__(self, jobs: int = 1) -> None:
        if jobs < 1:
            raise UsageError(f"`jobs` must be at least 1, got {jobs}", param="jobs")
        self.jobs = jobs

    def execute(self, items: Sequence[T], attempt: Callable[[T], R]) -> Iterator[R]:
        """``attempt(item)`` for every item, in order.

        Closing the iterator early (a batch that stops at its first failure)
        cancels the items not yet started and waits for the running ones.
        """
        if self.jobs == 1 or len(items) < 2:
            for item in items:
                yield attempt(item)
            return
        pool = ThreadPoolExecutor(min(self.jobs, len(items)))
        try:
            yield from pool.map(attempt, items)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
