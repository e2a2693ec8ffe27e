"""PlannedTotal: a total known up front, advances that always add up to it."""

from __future__ import annotations

import pytest

from audiotok.progress import PlannedTotal, ProgressEvent


def test_shares_cap_advances_and_settle_keeps_the_sum_equal_to_the_total() -> None:
    events: list[ProgressEvent] = []
    planned = PlannedTotal(events.append, "seconds", [2.0, 1.0, 3.0])
    assert events == [ProgressEvent("seconds", total=6.0)]
    first = planned.share(0)
    assert first is not None
    first(ProgressEvent("seconds", advance=1.5, item="a"))
    first(ProgressEvent("seconds", advance=1.5, item="a"))  # rounding overshoot: capped at the share
    first(ProgressEvent("files", advance=1, item="a"))  # other tasks pass through
    planned.settle(0, done=True, item="a")  # nothing left
    planned.settle(1, done=False, item="b")  # skipped: off the total
    third = planned.share(2)
    assert third is not None
    third(ProgressEvent("seconds", advance=1.0, item="c"))
    planned.settle(2, done=True, item="c")  # the rest of c
    seconds = [e for e in events if e.task == "seconds"]
    assert [e.advance for e in seconds] == [0.0, 1.5, 0.5, 0.0, 1.0, 2.0]
    assert [e.total for e in seconds if e.total is not None] == [6.0, 5.0]
    assert sum(e.advance for e in seconds) == pytest.approx(planned.total) == pytest.approx(5.0)
    assert ProgressEvent("files", advance=1, item="a") in events


def test_failed_item_keeps_what_it_did() -> None:
    events: list[ProgressEvent] = []
    planned = PlannedTotal(events.append, "seconds", [4.0])
    share = planned.share(0)
    assert share is not None
    share(ProgressEvent("seconds", advance=1.0))
    planned.settle(0, done=False)
    assert planned.total == 1.0 and events[-1] == ProgressEvent("seconds", total=1.0)


def test_nobody_listening() -> None:
    planned = PlannedTotal(None, "seconds", [1.0])
    assert planned.share(0) is None
    planned.settle(0, done=True)  # sends nothing, raises nothing
