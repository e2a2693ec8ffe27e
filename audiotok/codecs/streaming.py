"""Exact chunked encoding for causal codecs that carry their state: :class:`StreamingCodec` and its encoder.

A causal codec (Mimi) has a long memory: its transformer's sliding window
compounds over layers to about 80 s, so context windows
(:mod:`audiotok.codecs.chunking`) would cost more than the audio they code.
It runs instead chunk after chunk, each call carrying the network's state
(padding caches of its causal convolutions, the transformer's key/value
cache) to the next, and the codes equal a whole-file encode for any chunk
length on the frame grid.

:class:`StatefulEncoder` batches such a codec across files: up to
``batch_size`` rows (files, or Mid and Side of one) start together and
advance in lockstep, one chunk per call; a row whose file ends inside a
chunk runs on zeros after its end and leaves the state after that call.
Causality makes this exact: nothing after a frame changes it. A row's last, partial frame is
padded inside the network as a whole-file encode pads it
(:meth:`StreamingCodec.stream_step`'s ``valid``). It yields the events of
:class:`~audiotok.codecs.batch.StreamEncoder`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from audiotok._threads import Prefetch
from audiotok._types import Seconds
from audiotok.codecs.chunking import frames_for_seconds
from audiotok.codecs.codec import Array, Codec
from audiotok.codecs.streams import Advanced, Audio, Encoded, Event, Failed, Stream, check_source, offsets

__all__ = ["StatefulEncoder", "StreamingCodec"]


class StreamingCodec(Codec):
    """A causal codec that encodes chunk after chunk, its state carried (``caps.streaming``).

    Must (a subclass): :meth:`open_stream`, :meth:`stream_step`, :meth:`keep_rows`.
    """

    def open_stream(self, rows: int, n_codebooks: int) -> Any:
        """A fresh encoder state for ``rows`` batch rows that start at the first sample of their audio."""
        raise NotImplementedError

    def stream_step(self, state: Any, audio: Array, valid: Sequence[int]) -> Array:
        """Encode the next chunk of every row, updating ``state``.

        Parameters
        ----------
        state
            From :meth:`open_stream` (or :meth:`keep_rows`), advanced by every earlier call.
        audio : ndarray[B, C, S] float32
            ``S`` a multiple of :attr:`hop_length`; ``C = channels``.
        valid : sequence of int
            Real samples at the start of each row (``0 < valid[b] <= S``); a
            row with ``valid[b] < S`` ends in this chunk, and its last frame is
            padded as a whole-file encode of ``valid[b]`` more samples pads it.

        Returns
        -------
        codes : ndarray[B, K, S // hop_length] int64
            Frames past ``ceil(valid[b] / hop_length)`` are meaningless.
        """
        raise NotImplementedError

    def keep_rows(self, state: Any, rows: Sequence[int]) -> Any:
        """The state of ``rows`` only (indices into the current rows, in order)."""
        raise NotImplementedError


class _Step(NamedTuple):
    """One call's audio: from sample ``start``, ``size`` samples per row; each stream's chunk or error."""

    start: int
    size: int
    chunks: dict[int, Audio | Exception]


@dataclass
class _Row:
    stream: int
    item: int
    k: int


@dataclass
class _Group:
    streams: list[int]
    rows: list[_Row] = field(default_factory=list)


class StatefulEncoder:
    """Encode streams with a :class:`StreamingCodec`, batched across files, chunk by chunk.

    Parameters
    ----------
    codec : StreamingCodec
    chunk_seconds : float, optional
        Audio per call and row, rounded to whole frames; ``None``: 10 s.
        Never changes the codes.
    batch_size : int
        Rows per call (a stream of ``n`` items takes ``n`` rows; at least one stream per call).

    Attributes
    ----------
    calls, rows : int
        Encoder calls made and batch rows run, so far.
    """

    def __init__(self, codec: Codec, *, chunk_seconds: Seconds | None = None, batch_size: int = 1) -> None:
        if not isinstance(codec, StreamingCodec):
            raise TypeError(f"{type(codec).__name__} does not encode with a carried state")
        self.codec = codec
        self.chunk_frames = frames_for_seconds(
            10.0 if chunk_seconds is None else chunk_seconds, codec.frame_rate, 0
        )
        self.batch_size = max(1, batch_size)
        self.calls = 0
        self.rows = 0

    def run(self, streams: Sequence[Stream], *, prefetch: int = 0) -> Iterator[Event]:
        """Encode ``streams``: :class:`Advanced` per chunk, then each stream's :class:`Encoded` or
        :class:`Failed` (as :meth:`StreamEncoder.run <audiotok.codecs.batch.StreamEncoder.run>`).

        ``prefetch``: calls' worth of audio read ahead in a background thread (0: read in this one).
        """
        group = _Group([])
        for j, stream in enumerate(streams):
            if stream.length <= 0:
                yield Failed(j, ValueError("no samples to encode"))
                continue
            items = len(stream.codebooks)
            if group.streams and len(group.rows) + items > self.batch_size:
                yield from self._group(streams, group, prefetch)
                group = _Group([])
            group.streams.append(j)
            group.rows += [_Row(j, i, k) for i, k in enumerate(stream.codebooks)]
        if group.streams:
            yield from self._group(streams, group, prefetch)

    def _group(
        self, streams: Sequence[Stream], group: _Group, prefetch: int, reported: dict[int, int] | None = None
    ) -> Iterator[Event]:
        """Run one group of streams started together; on an encoder error, each stream again alone."""
        reported = reported or dict.fromkeys(group.streams, 0)
        try:
            yield from self._steps(streams, group, prefetch, reported)
        except _EncoderError as exc:
            if len(group.streams) == 1:
                yield Failed(group.streams[0], exc.error)
                return
            for j in exc.pending:  # a failed call spoils the shared state: each stream again, alone
                alone = _Group([j], [r for r in group.rows if r.stream == j])
                yield from self._group(streams, alone, prefetch, {j: reported[j]})

    def _reads(self, streams: Sequence[Stream], group: _Group) -> Iterator[_Step]:
        """Per call, each live stream's next chunk (zero-padded to the call's length), or why it failed.

        A call is one chunk long, or shorter when every live stream ends sooner (whole frames: a
        clip shorter than a chunk is not padded to it).
        """
        hop, full = self.codec.hop_length, self.chunk_frames * self.codec.hop_length
        with contextlib.ExitStack() as stack:
            sources: dict[int, Any] = {}
            failed: dict[int, Exception] = {}
            for j in group.streams:
                try:
                    source = stack.enter_context(streams[j].open())
                    check_source(source, streams[j], self.codec)
                    sources[j] = source
                except Exception as exc:  # this stream fails; the group goes on
                    failed[j] = exc
            start = 0
            while sources or failed:
                left = max((streams[j].length - start for j in sources), default=hop)
                size = min(full, -(-left // hop) * hop)
                step: dict[int, Audio | Exception] = dict(failed)
                failed = {}
                for j, source in list(sources.items()):
                    try:
                        chunk = source.read(start, start + size)
                        if chunk.shape[-1] < size:
                            chunk = np.pad(chunk, ((0, 0), (0, size - chunk.shape[-1])))
                        step[j] = chunk
                    except Exception as exc:
                        step[j] = exc
                    if isinstance(step[j], Exception) or start + size >= streams[j].length:
                        del sources[j]
                yield _Step(start, size, step)
                start += size

    def _steps(
        self, streams: Sequence[Stream], group: _Group, prefetch: int, reported: dict[int, int]
    ) -> Iterator[Event]:
        codec = self.codec
        hop, ch = codec.hop_length, codec.channels
        k_run = max(r.k for r in group.rows)
        rows = [r for r in group.rows if r.k > 0]
        out = {
            j: np.zeros((-(-streams[j].length // hop), sum(streams[j].codebooks)), np.int64)
            for j in group.streams
        }
        state = codec.open_stream(len(rows), k_run) if rows else None
        reads: Iterator[_Step] = self._reads(streams, group)
        source = Prefetch(reads, prefetch, "audiotok-read") if prefetch else reads
        done: set[int] = set()
        try:
            for start, size, step in source:
                for j, got in step.items():
                    if isinstance(got, Exception):
                        done.add(j)
                        out.pop(j, None)
                        yield Failed(j, got)
                chunks = {j: got for j, got in step.items() if not isinstance(got, Exception)}
                live = [i for i, r in enumerate(rows) if r.stream in chunks]
                if state is not None and len(live) < len(rows):
                    state = codec.keep_rows(state, live) if live else None
                rows = [rows[i] for i in live]
                valid = [min(size, streams[r.stream].length - start) for r in rows]
                if rows and state is not None:
                    audio = np.stack([_item(chunks[r.stream], r.item, ch) for r in rows])
                    try:
                        codes = codec.stream_step(state, audio, valid)
                    except Exception as exc:
                        pending = [j for j in group.streams if j not in done]
                        raise _EncoderError(exc, pending) from exc
                    self.calls += 1
                    self.rows += len(rows)
                    f0 = start // hop
                    for r, v, c in zip(rows, valid, codes, strict=True):
                        n = -(-v // hop)
                        cols = offsets(streams[r.stream].codebooks)
                        out[r.stream][f0 : f0 + n, cols[r.item] : cols[r.item] + r.k] = c[: r.k, :n].T
                for j in sorted(chunks):
                    length = streams[j].length
                    advanced = min(size, length - start)
                    if start + advanced > reported[j]:
                        yield Advanced(j, start + advanced - reported[j])
                        reported[j] = start + advanced
                    if start + size >= length:
                        done.add(j)
                        yield Encoded(j, out.pop(j))
                ending = [i for i, r in enumerate(rows) if start + size >= streams[r.stream].length]
                if ending and state is not None:
                    keep = [i for i in range(len(rows)) if i not in ending]
                    state = codec.keep_rows(state, keep) if keep else None
                    rows = [rows[i] for i in keep]
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()


class _EncoderError(Exception):
    """An encoder call failed: ``error``, with the group's streams not yet finished."""

    def __init__(self, error: Exception, pending: list[int]) -> None:
        super().__init__(str(error))
        self.error, self.pending = error, pending


def _item(chunk: Audio, item: int, channels: int) -> Audio:
    return chunk[item * channels : (item + 1) * channels]
