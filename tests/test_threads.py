"""Prefetch: items in order, the producer's error after them, closing never hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from audiotok._threads import Prefetch


def test_items_in_order_then_the_error() -> None:
    def produce() -> Iterator[int]:
        yield from range(5)
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"), Prefetch(produce(), 2) as items:
        got.extend(items)
    assert got == [0, 1, 2, 3, 4]


def test_close_stops_a_blocked_producer_and_runs_its_finally() -> None:
    closed = threading.Event()

    def forever() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    items = Prefetch(forever(), 2, name="audiotok-test")
    assert next(items) == 0
    time.sleep(0.05)  # the producer is blocked on the full queue now
    t0 = time.perf_counter()
    items.close()
    assert time.perf_counter() - t0 < 1.0
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "audiotok-test"]
    with pytest.raises(StopIteration):
        next(items)
