"""Pipeline: records per stream from the writer thread, its errors per stream, closing early never hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from audiotok.codecs.batch import Advanced, Encoded, Event, Failed
from audiotok.services.pipeline import Pipeline


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "audiotok-write"]


def test_results_errors_progress_and_an_early_close() -> None:
    closed = threading.Event()

    def events() -> Iterator[Event]:
        try:
            yield Failed(1, ValueError("bad file"))
            for s in (0, 2, 3, 4, 5):
                yield Advanced(s, 10)
                yield Encoded(s, np.full((1, 1), s, dtype=np.int64))
            while True:  # a batch that would go on: the runner stops early
                yield Advanced(9, 1)
        finally:
            closed.set()

    def finish(done: Encoded) -> str:
        if done.stream == 2:
            raise OSError("disk full")
        time.sleep(0.01)
        return f"wrote {int(done.codes[0, 0])}"

    advanced: list[int] = []
    pipe = Pipeline(events(), finish)
    with pipe:
        assert pipe.result(0, advanced.append) == "wrote 0" and advanced == [10]
        with pytest.raises(ValueError, match="bad file"):
            pipe.result(1)
        with pytest.raises(OSError, match="disk full"):
            pipe.result(2)
        assert pipe.result(3) == "wrote 3"
    assert closed.is_set() and not _writers()


def test_close_wakes_an_idle_writer_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing does not wait for the writer's next poll (it waited up to POLL_S at the end of every run)."""
    from audiotok.services import pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "POLL_S", 30.0)  # an idle writer would sleep this long
    pipe: Pipeline[int] = Pipeline(iter([]), lambda done: done.stream)
    pipe.close(timeout=10.0)
    assert not pipe._writer.is_alive()
