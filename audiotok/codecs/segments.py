"""Whole-file encoding for codecs with a global receptive field: :class:`SegmentEncoder`.

A codec whose every frame depends on the whole input (``caps.global_context``:
self-attention over the file, as in XCodec2, NeuCodec and X-Codec) has no
context after which a chunk's codes equal a whole-file encode. So a file is
encoded as ONE window, up to a maximum length (``max_seconds``, the encode's
``chunk_seconds``): then its codes are the codec's whole-file codes. A longer
file is cut into segments, each encoded alone: each cut is at the quietest
frame boundary (:func:`quietest_cut`) in the last ``search`` frames before the
maximum length, so a segment is between ``max - search`` and ``max`` frames
long (the last one shorter), on the codec's frame grid. The cut depends on the
samples alone, so it is deterministic; the stream's
:class:`~audiotok.codecs.streams.Encoded` event carries the segments' frames,
and the encode records say which files were cut (their codes differ from a
whole-file encode near, and because of attention also away from, each cut).

Segments of exactly equal sample length (files of one length, typically) share
encoder calls, up to ``batch_size`` per call; zero-padding a shorter segment
would change every code of a global-context codec, so nothing else is batched.
Each source is read once, in order, a window at a time (in a background thread
with ``prefetch``): at most about ``horizon + prefetch`` segments are held.
It yields the events of :class:`~audiotok.codecs.batch.StreamEncoder`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from audiotok._threads import Prefetch
from audiotok._types import Seconds
from audiotok.codecs.chunking import frames_for_seconds
from audiotok.codecs.codec import Codec
from audiotok.codecs.streams import Advanced, Audio, Codes, Encoded, Event, Failed, Stream, check_source

__all__ = ["SEARCH_SECONDS", "SegmentEncoder", "quietest_cut"]

SEARCH_SECONDS = 5.0
"""How far before the maximum length a cut is looked for, seconds (at most half the maximum)."""


def quietest_cut(audio: Audio, hop: int, search: int) -> int:
    """The frame boundary to cut ``audio`` at: the quietest in its last ``search`` frames.

    Parameters
    ----------
    audio : ndarray[C, S] float32
        ``S = F * hop``, whole frames.
    hop : int
        Samples per frame.
    search : int
        Frames before the end to look in (``>= 1``).

    Returns
    -------
    int
        ``b`` with ``max(1, F - search) <= b <= F - 1``: the boundary whose two
        neighbouring frames have the least energy (mean square over channels
        and samples). Ties (digital silence) go to the middle of the last run
        of equally quiet boundaries, so that both sides keep some of the
        pause. ``F`` itself when ``F < 2`` (no boundary inside).
    """
    frames = int(audio.shape[-1]) // hop
    if frames < 2:
        return frames
    lo = max(1, frames - search)
    x = audio[:, (lo - 1) * hop : frames * hop].astype(np.float64)
    energy = np.square(x).reshape(x.shape[0], -1, hop).mean(axis=(0, 2))  # frames lo-1 .. F-1
    at = energy[:-1] + energy[1:]  # boundaries lo .. F-1
    quiet: set[int] = set(np.flatnonzero(at == at.min()).tolist())
    run_end = max(quiet)
    run_start = run_end
    while run_start - 1 in quiet:
        run_start -= 1
    return lo + (run_start + run_end) // 2


@dataclass
class _Segment:
    """One segment read: of stream ``stream``, number ``index``, from frame ``start``; ``last`` ends it."""

    stream: int
    index: int
    start: int
    audio: Audio
    last: bool


@dataclass
class _Done:
    """A stream's segments encoded so far (by index) and, once its last one is read, how many it has."""

    codes: dict[int, Codes] = field(default_factory=dict)
    bounds: dict[int, tuple[int, int]] = field(default_factory=dict)
    count: int | None = None


class SegmentEncoder:
    """Encode streams with a global-context codec: each file one window, long files cut at quiet points.

    Parameters
    ----------
    codec : Codec
        ``caps.global_context`` (any codec works; the name says why it exists).
    max_seconds : float, optional
        The longest window, seconds (whole frames); ``None``: no limit, every
        file is one window whatever its length.
    batch_size : int
        Segments of equal length per encoder call.
    search_seconds : float
        How far before the maximum a cut is looked for (at most half the maximum).
    horizon : int, optional
        Segments read that may wait for partners of their length; default ``4 * batch_size``.

    Attributes
    ----------
    calls, rows : int
        Encoder calls made and batch rows run, so far.
    """

    def __init__(
        self,
        codec: Codec,
        *,
        max_seconds: Seconds | None = None,
        batch_size: int = 1,
        search_seconds: Seconds = SEARCH_SECONDS,
        horizon: int | None = None,
    ) -> None:
        self.codec = codec
        fps = codec.frame_rate
        self.max_frames = None if max_seconds is None else frames_for_seconds(max_seconds, fps, 0)
        search = frames_for_seconds(search_seconds, codec.frame_rate, 0)
        self.search = max(1, min(search, (self.max_frames or 2) // 2))
        self.batch_size = max(1, batch_size)
        self.horizon = max(1, 4 * self.batch_size if horizon is None else horizon)
        self.calls = 0
        self.rows = 0

    def run(self, streams: Sequence[Stream], *, prefetch: int = 0) -> Iterator[Event]:
        """Encode ``streams``: :class:`Advanced` per segment, then each stream's :class:`Encoded`
        (with its segments when it was cut) or :class:`Failed`, as
        :meth:`StreamEncoder.run <audiotok.codecs.batch.StreamEncoder.run>`.

        ``prefetch``: segments read ahead in a background thread (0: read in this one).
        """
        for j, stream in enumerate(streams):
            if stream.length <= 0:
                yield Failed(j, ValueError("no samples to encode"))
        reads = self._read(streams)
        source: Iterator[_Segment | Failed] = (
            Prefetch(reads, prefetch, "audiotok-read") if prefetch else reads
        )
        state = _Run(self, streams)
        try:
            for got in source:
                if isinstance(got, Failed):
                    yield from state.fail(got.stream, got.error)
                else:
                    yield from state.arrive(got)
            yield from state.flush_all()
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _read(self, streams: Sequence[Stream]) -> Iterator[_Segment | Failed]:
        hop = self.codec.hop_length
        for j, stream in enumerate(streams):
            if stream.length <= 0:
                continue
            try:
                with stream.open() as source:
                    check_source(source, stream, self.codec)
                    start, index = 0, 0  # frames
                    while True:
                        left = stream.length - start * hop
                        if self.max_frames is None or left <= self.max_frames * hop:
                            audio = source.read(start * hop, stream.length)
                            yield _Segment(j, index, start, audio, True)
                            break
                        window = source.read(start * hop, (start + self.max_frames) * hop)
                        cut = quietest_cut(window, hop, self.search)
                        yield _Segment(j, index, start, window[:, : cut * hop], False)
                        start, index = start + cut, index + 1
            except Exception as exc:  # this stream fails; the batch goes on
                yield Failed(j, exc)

    def encode_segments(self, segments: Sequence[_Segment], streams: Sequence[Stream]) -> list[list[Codes]]:
        """Run segments of one length through the encoder as one call.

        Returns
        -------
        list of list of ndarray[k, F] int64
            Per segment, per item (``codec.channels`` channels each), its codes.
        """
        ch = self.codec.channels
        rows: list[Audio] = []
        k_run = 0
        for seg in segments:
            codebooks = streams[seg.stream].codebooks
            rows += list(seg.audio.reshape(len(codebooks), ch, seg.audio.shape[-1]))
            k_run = max(k_run, *codebooks)
        codes = np.asarray(self.codec.encode_array(np.stack(rows), k_run))
        self.calls += 1
        self.rows += len(rows)
        out: list[list[Codes]] = []
        row = 0
        for seg in segments:
            items = []
            for k in streams[seg.stream].codebooks:
                items.append(codes[row, :k])
                row += 1
            out.append(items)
        return out


class _Run:
    """One run's bookkeeping: segments waiting for partners of their length, codes per stream."""

    def __init__(self, encoder: SegmentEncoder, streams: Sequence[Stream]) -> None:
        self.encoder = encoder
        self.streams = streams
        self.waiting: dict[int, list[_Segment]] = {}  # by sample length, oldest group first
        self.held = 0
        self.done: dict[int, _Done] = {}
        self.failed: set[int] = set()

    def arrive(self, seg: _Segment) -> Iterator[Event]:
        if seg.stream in self.failed:
            return
        group = self.waiting.setdefault(seg.audio.shape[-1], [])
        group.append(seg)
        self.held += 1
        if len(group) == self.encoder.batch_size:
            yield from self._run(self.waiting.pop(seg.audio.shape[-1]))
        while self.held > self.encoder.horizon and self.waiting:
            yield from self._run(self.waiting.pop(next(iter(self.waiting))))

    def flush_all(self) -> Iterator[Event]:
        while self.waiting:
            yield from self._run(self.waiting.pop(next(iter(self.waiting))))

    def fail(self, stream: int, error: Exception) -> Iterator[Event]:
        if stream in self.failed:
            return
        self.failed.add(stream)
        self.done.pop(stream, None)
        for length in list(self.waiting):
            kept = [s for s in self.waiting[length] if s.stream != stream]
            self.held -= len(self.waiting[length]) - len(kept)
            if kept:
                self.waiting[length] = kept
            else:
                del self.waiting[length]
        yield Failed(stream, error)

    def _encode(self, group: list[_Segment]) -> Iterator[Event | tuple[_Segment, list[Codes]]]:
        try:
            yield from zip(group, self.encoder.encode_segments(group, self.streams), strict=True)
        except Exception as exc:  # one bad stream must not fail the others: each stream alone
            streams = sorted({s.stream for s in group})
            if len(streams) == 1:
                yield from self.fail(streams[0], exc)
                return
            for j in streams:
                mine = [s for s in group if s.stream == j]
                try:
                    got = self.encoder.encode_segments(mine, self.streams)
                except Exception as alone:
                    yield from self.fail(j, alone)
                    continue
                yield from zip(mine, got, strict=True)

    def _run(self, group: list[_Segment]) -> Iterator[Event]:
        self.held -= len(group)
        hop = self.encoder.codec.hop_length
        for got in list(self._encode(group)):
            if not isinstance(got, tuple):
                yield got
                continue
            seg, items = got
            if seg.stream in self.failed:
                continue
            frames = -(-seg.audio.shape[-1] // hop)
            done = self.done.setdefault(seg.stream, _Done())
            done.codes[seg.index] = np.concatenate([c[:, :frames] for c in items]).T
            done.bounds[seg.index] = (seg.start, seg.start + frames)
            if seg.last:
                done.count = seg.index + 1
            yield Advanced(seg.stream, seg.audio.shape[-1])
            if done.count is not None and len(done.codes) == done.count:
                del self.done[seg.stream]
                codes = np.concatenate([done.codes[i] for i in range(done.count)])
                bounds = tuple(done.bounds[i] for i in range(done.count)) if done.count > 1 else ()
                yield Encoded(seg.stream, np.ascontiguousarray(codes, dtype=np.int64), bounds)
