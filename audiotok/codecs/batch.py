"""Batched encoding of many sources: windows of equal length share encoder calls, across sources.

:class:`StreamEncoder` encodes a batch of sources (:class:`Stream`): every
source is cut into context windows (:mod:`audiotok.codecs.chunking`), and
windows of exactly equal sample length, of one source or of several, go
through the encoder together, up to ``batch_size`` windows per call, as
:func:`~audiotok.codecs.chunking.plan_batches` plans them from the sources'
lengths alone. A source with more channels than the codec takes is split into
items of ``codec.channels`` channels each (DAC's Mid and Side are two mono
items, two batch rows). Windows are read in order (in a background thread
with ``prefetch``); each source's codes are handed back as soon as its last
window is encoded, and a source that fails (opening, reading, encoding) fails
alone. An item that is exactly zero (the Side of a dual-mono window, digital
silence) is not run again: its codes are those of the zero window of the
same length, encoded once and kept (:mod:`audiotok.codecs.silence`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np

from audiotok._threads import Prefetch
from audiotok._types import Seconds
from audiotok.codecs.chunking import (
    Window,
    fixed_lengths,
    frames_for_seconds,
    plan_batches,
    stream_windows,
)
from audiotok.codecs.codec import Codec, Context
from audiotok.codecs.silence import SILENCE_CACHE, SilenceCache
from audiotok.codecs.streams import (
    Advanced,
    Audio,
    Codes,
    Encoded,
    Event,
    Failed,
    Stream,
    check_source,
    offsets,
)

__all__ = [
    "SILENCE_CACHE",
    "Advanced",
    "Encoded",
    "Event",
    "Failed",
    "Stream",
    "StreamEncoder",
    "check_source",
]


@dataclass
class _Call:
    members: list[Window]
    audio: dict[int, Audio] = field(default_factory=dict)
    missing: int = 0


class StreamEncoder:
    """Encode a batch of streams to RVQ codes, windows of equal length batched across streams.

    Parameters
    ----------
    codec : Codec
    chunk_seconds : float, optional
        Audio per chunk, seconds (rounded to whole frames); ``None``: one
        window per stream.
    context : Context, optional
        Frames of context before and after each chunk; default
        ``codec.encoder_context_frames``.
    batch_size : int
        Windows per encoder call (a window contributes one batch row per item).
    horizon : int, optional
        How far apart (in windows read) the windows of one call may be; default
        ``4 * batch_size``. Bounds the windows held back waiting for partners.
    reuse_silence : bool
        Take the codes of an all-zero item from the zero window of the same
        length, encoded once (exact: the codes of a window depend only on its
        samples; kept frames are then sliced as for any window).
    silence : SilenceCache, optional
        Where those codes are kept; default
        :meth:`SilenceCache.for_codec(codec) <audiotok.codecs.silence.SilenceCache.for_codec>`
        (on disk, across runs, per weights and backend).
    fixed_windows : bool, optional
        Cut windows of one length where a stream allows
        (:func:`~audiotok.codecs.chunking.plan_chunks` ``fixed=True``; the
        same codes); default: when the codec's encoder backend is compiled
        per input shape (``codec.fixed_shapes("encoder")``).

    Attributes
    ----------
    calls, rows : int
        Encoder calls made and batch rows run, so far.
    """

    def __init__(
        self,
        codec: Codec,
        *,
        chunk_seconds: Seconds | None = None,
        context: Context | None = None,
        batch_size: int = 1,
        horizon: int | None = None,
        reuse_silence: bool = True,
        silence: SilenceCache | None = None,
        fixed_windows: bool | None = None,
    ) -> None:
        self.codec = codec
        grid = codec.frame_grid  # chunks (and context) in whole grid steps, so windows start on the grid
        self.chunk_frames = (
            None
            if chunk_seconds is None
            else -(-frames_for_seconds(chunk_seconds, codec.frame_rate, 0) // grid) * grid
        )
        self.context = context or codec.encoder_context_frames
        if any(c % grid for c in self.context):
            raise ValueError(f"{codec.name}'s encoder context must be whole steps of {grid} frames")
        self.batch_size = batch_size
        self.horizon = horizon
        self.reuse_silence = reuse_silence
        if fixed_windows is None:
            fixed_windows = codec.fixed_shapes("encoder") and grid == 1  # fixed windows end off the grid
        self.fixed_windows = fixed_windows
        self.calls = 0
        self.rows = 0
        self._silence = (
            silence if silence is not None else SilenceCache.for_codec(codec) if reuse_silence else None
        )

    def run(self, streams: Sequence[Stream], *, prefetch: int = 0) -> Iterator[Event]:
        """Encode ``streams``: events as windows are encoded, then each stream's end.

        Parameters
        ----------
        streams : sequence of Stream
        prefetch : int
            Windows read ahead in a background thread (decoding and
            resampling overlap the encoder); 0 reads in this thread.

        Yields
        ------
        Advanced, Encoded or Failed
            A stream's :class:`Encoded` comes after its last :class:`Advanced`;
            streams finish about in order (a window may wait up to ``horizon``
            windows for partners of its length). Closing the iterator stops
            the reading thread.
        """
        lengths = [s.length for s in streams]
        for j, n in enumerate(lengths):
            if n <= 0:
                yield Failed(j, ValueError("no samples to encode"))
        if self.fixed_windows and self.chunk_frames is not None:
            self.codec.expect_windows("encoder", fixed_lengths(self.chunk_frames, self.context))
        state = _Batch(
            self,
            streams,
            plan_batches(self._windows(lengths), self.batch_size, self.horizon),
        )
        reads = self._read(streams, self._windows(lengths))
        source: Iterator[tuple[Window, Audio] | Failed] = (
            Prefetch(reads, prefetch, "audiotok-read") if prefetch else reads
        )
        try:
            for got in source:
                if isinstance(got, Failed):
                    yield from state.fail(got.stream, got.error)
                else:
                    yield from state.arrive(*got)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _windows(self, lengths: Sequence[int]) -> Iterator[Window]:
        """The windows of ``lengths``, lazily: a run walks them a few times rather than hold them all
        (one per chunk of every file of the batch)."""
        hop = self.codec.hop_length
        return stream_windows(lengths, hop, self.chunk_frames, self.context, fixed=self.fixed_windows)

    def _read(
        self, streams: Sequence[Stream], windows: Iterator[Window]
    ) -> Iterator[tuple[Window, Audio] | Failed]:
        hop = self.codec.hop_length
        for j, group in groupby(windows, key=lambda w: w.stream):
            stream = streams[j]
            try:
                with stream.open() as source:
                    check_source(source, stream, self.codec)
                    for w in group:
                        start = w.chunk.win_start * hop
                        yield w, source.read(start, start + w.samples)
            except Exception as exc:  # this stream fails; the batch goes on
                yield Failed(j, exc)

    def encode_items(self, windows: Sequence[tuple[Audio, Sequence[int]]]) -> list[list[Codes]]:
        """Run windows of one length through the encoder as one batch.

        Parameters
        ----------
        windows : sequence of (ndarray[C, S] float32, codebooks)
            ``C = len(codebooks) * codec.channels``, ``S`` equal for all.

        Returns
        -------
        list of list of ndarray[k, F] int64
            Per window, per item, the codes of the whole window (``k`` of
            that item's codebooks, ``codec.columns(k)`` rows for a layout with
            strides; ``F = ceil(S / hop)`` frames).
        """
        ch = self.codec.channels
        rows: list[Audio] = []
        zero_row: dict[int, int] = {}  # silence key (samples) -> row of a zero item to encode (and cache)
        plan: list[list[tuple[int, int] | Codes]] = []  # per window, per item: (row, k) or cached codes
        k_run = 0
        hop = self.codec.hop_length
        for audio, codebooks in windows:
            samples = audio.shape[-1]
            # a codec that zero-pads to whole frames sees the same zeros for every length of a frame count
            key = -(-samples // hop) * hop if self.codec.caps.zero_pads_to_hop else samples
            items: list[tuple[int, int] | Codes] = []
            for item, k in zip(audio.reshape(len(codebooks), ch, samples), codebooks, strict=True):
                silent = self._silence is not None and k > 0 and not item.any()  # one scan of the item
                cols = self.codec.columns(k)
                cached = self._silence.get(key, cols) if silent and self._silence is not None else None
                if k == 0:
                    items.append(np.zeros((0, -(-samples // hop)), dtype=np.int64))
                elif cached is not None:
                    items.append(cached)
                elif silent:
                    if key not in zero_row:
                        zero_row[key] = len(rows)
                        rows.append(item)
                    items.append((zero_row[key], k))
                else:
                    items.append((len(rows), k))
                    rows.append(item)
                k_run = max(k_run, k)
            plan.append(items)
        codes = np.zeros((0, 0, 0), dtype=np.int64)
        if rows:
            # arrays in and out: without PyTorch (caps.arrays), or through the device (pinned, non-blocking)
            codes = np.asarray(self.codec.encode_array(np.stack(rows), k_run))
            self.calls += 1
            self.rows += len(rows)
        for samples, row in zero_row.items():
            if self._silence is not None:
                self._silence.put(samples, codes[row])
        width = self.codec.columns
        return [
            [it if isinstance(it, np.ndarray) else codes[it[0], : width(it[1])] for it in items]
            for items in plan
        ]


class _Batch:
    """One run's bookkeeping: calls planned, windows arrived, codes per stream."""

    def __init__(
        self, encoder: StreamEncoder, streams: Sequence[Stream], calls: Iterator[list[Window]]
    ) -> None:
        self.encoder = encoder
        self.streams = streams
        self.calls = calls
        self.call_of: dict[int, _Call] = {}  # window pos -> its call, for planned calls not yet run
        self.out: dict[int, Codes] = {}
        windows = encoder._windows([s.length for s in streams])
        self.left = [0] * len(streams)  # windows still to encode per stream
        for w in windows:
            self.left[w.stream] += 1
        self.failed: set[int] = set()

    def _call(self, pos: int) -> _Call:
        while pos not in self.call_of:
            call = _Call(next(self.calls))
            live = [w for w in call.members if w.stream not in self.failed]
            call.missing = len(live)
            if live:
                self.call_of.update((w.pos, call) for w in live)
        return self.call_of[pos]

    def arrive(self, w: Window, audio: Audio) -> Iterator[Event]:
        call = self._call(w.pos)
        call.audio[w.pos] = audio
        call.missing -= 1
        if call.missing == 0:
            yield from self._run(call)

    def fail(self, stream: int, error: Exception) -> Iterator[Event]:
        if stream in self.failed:
            return
        self.failed.add(stream)
        self.out.pop(stream, None)
        yield Failed(stream, error)
        pending = {id(c): c for c in self.call_of.values()}.values()
        for call in list(pending):
            mine = [w for w in call.members if w.stream == stream]
            if not mine:
                continue
            call.missing -= sum(w.pos not in call.audio for w in mine)
            for w in mine:
                call.audio.pop(w.pos, None)
                self.call_of.pop(w.pos, None)
            call.members = [w for w in call.members if w.stream != stream]
            if call.members and call.missing == 0:
                yield from self._run(call)

    def _encode(self, members: list[Window], call: _Call) -> list[tuple[Window, list[Codes]]]:
        got = self.encoder.encode_items(
            [(call.audio[w.pos], self.streams[w.stream].codebooks) for w in members]
        )
        return list(zip(members, got, strict=True))

    def _run(self, call: _Call) -> Iterator[Event]:
        members = [w for w in call.members if w.pos in call.audio and w.stream not in self.failed]
        call.members = []  # run (or dropped): a failing stream no longer looks at it
        for w in members:
            self.call_of.pop(w.pos, None)
        if not members:
            return
        try:
            results = self._encode(members, call)
        except Exception as exc:  # one bad stream must not fail the others: encode each stream alone
            by_stream = {
                s: list(ws) for s, ws in groupby(sorted(members, key=lambda w: w.stream), lambda w: w.stream)
            }
            if len(by_stream) == 1:
                yield from self.fail(members[0].stream, exc)
                return
            results = []
            for s, ws in by_stream.items():
                try:
                    results += self._encode(ws, call)
                except Exception as alone:
                    yield from self.fail(s, alone)
        call.audio.clear()
        hop = self.encoder.codec.hop_length
        advanced: dict[int, int] = {}
        for w, items in results:
            if w.stream in self.failed:
                continue
            stream, c = self.streams[w.stream], w.chunk
            out = self.out.get(w.stream)
            if out is None:
                out = self.out[w.stream] = np.empty(
                    (-(-stream.length // hop), sum(map(self.encoder.codec.columns, stream.codebooks))),
                    np.int64,
                )
            cols = offsets([self.encoder.codec.columns(k) for k in stream.codebooks])
            for j, codes in enumerate(items):
                out[c.start : c.stop, cols[j] : cols[j + 1]] = codes[:, c.keep].T
            self.left[w.stream] -= 1
            advanced[w.stream] = advanced.get(w.stream, 0) + min(c.stop * hop, stream.length) - c.start * hop
        for s, samples in advanced.items():
            yield Advanced(s, samples)
            if self.left[s] == 0:
                yield Encoded(s, self.out.pop(s))
