"""A pipelined batch encode behind the runner's one-item-at-a-time ``work`` function.

:class:`Pipeline` takes the events of a
:class:`~audiotok.codecs.batch.StreamEncoder` run (which decodes and
resamples in its own reading thread, batching windows across files) and
hands each encoded stream to a writer thread through a small bounded queue.
The runner still asks for one item at a time, in plan order: :meth:`result`
drives the encoder in the calling thread until that item's output is
written, forwards its progress, and returns its record or raises its error,
so a failed file becomes that file's failed record and nothing else.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from audiotok._threads import POLL_S, put_until
from audiotok.codecs.batch import Advanced, Encoded, Event, Failed

__all__ = ["Pipeline"]

R = TypeVar("R")


class Pipeline(Generic[R]):
    """Per-stream results of an encoder run, written in a background thread.

    Parameters
    ----------
    events : iterator of Event
        From :meth:`StreamEncoder.run <audiotok.codecs.batch.StreamEncoder.run>`;
        consumed in the thread that calls :meth:`result`.
    finish : callable
        ``finish(done) -> R`` writes one stream's output (``done`` its
        :class:`~audiotok.codecs.streams.Encoded` event: ``codes :
        ndarray[T, K] int64`` and its segments, if it was cut) and returns its
        record; runs in the writer thread.
    queue_size : int
        Encoded streams waiting for the writer, at most.
    """

    def __init__(
        self, events: Iterator[Event], finish: Callable[[Encoded], R], *, queue_size: int = 2
    ) -> None:
        self._events = events
        self._finish = finish
        self._advanced: dict[int, list[int]] = {}  # per stream, each encoder call's samples not yet reported
        self._results: dict[int, R | BaseException] = {}
        self._broken: BaseException | None = None
        self._ended = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._writes: queue.Queue[Encoded | None] = queue.Queue(max(1, queue_size))
        self._writer = threading.Thread(target=self._write, name="audiotok-write", daemon=True)
        self._writer.start()

    def _write(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._writes.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if job is None:
                return
            stream = job.stream
            try:
                value: R | BaseException = self._finish(job)
            except Exception as exc:  # that file's failure, raised by result()
                value = exc
            with self._cond:
                self._results[stream] = value
                self._cond.notify_all()

    def _step(self) -> None:
        """Handle the encoder's next event (running an encoder call, usually)."""
        try:
            event = next(self._events)
        except StopIteration:
            self._ended = True
            return
        except BaseException as exc:
            self._broken = exc
            raise
        if isinstance(event, Advanced):
            self._advanced.setdefault(event.stream, []).append(event.samples)
        elif isinstance(event, Failed):
            with self._cond:
                self._results[event.stream] = event.error
        elif isinstance(event, Encoded) and not put_until(self._writes, event, self._stop):
            raise RuntimeError("the pipeline was closed")

    def result(self, stream: int, on_advance: Callable[[int], None] | None = None) -> R:
        """Stream ``stream``'s record, once its output is written; other streams go on meanwhile.

        Parameters
        ----------
        on_advance : callable, optional
            Gets the samples of this stream each encoder call covered, one call
            per encoder call, in order (also those encoded before this call).

        Raises
        ------
        Exception
            What reading, encoding or writing the stream raised.
        """
        while True:
            with self._cond:
                got = self._results.pop(stream, None)
            for samples in self._advanced.pop(stream, []):
                if on_advance is not None:
                    on_advance(samples)
            if got is not None:
                if isinstance(got, BaseException):
                    raise got
                return got
            if self._broken is not None:
                raise self._broken
            if not self._ended:
                self._step()
                continue
            if not self._writer.is_alive():
                raise RuntimeError(f"stream {stream} was never written")
            with self._cond:
                self._cond.wait_for(lambda: stream in self._results, timeout=POLL_S)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the encoder (and its reading thread) and the writer; outputs not yet written are dropped."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
        self._stop.set()
        with contextlib.suppress(queue.Full):  # wake a writer waiting for work now, not a poll later
            self._writes.put_nowait(None)
        self._writer.join(timeout)

    def __enter__(self) -> Pipeline[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
