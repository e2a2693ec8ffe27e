"""Context-padded chunk planning for convolutional (and recurrent) codecs.

A stream of ``T`` frames is cut into chunks of ``chunk_frames`` frames. Each
chunk is run through the network inside a *window* that adds
``context.before`` frames of real signal before it and ``context.after``
after it (clipped at the stream's ends, where a whole-stream run sees the
same edges), and only the chunk's own frames are kept. With a context at
least the network's receptive field on each side, the kept frames equal
those of a single whole-stream run: DAC's encoder and decoders use a
symmetric context; the causal EnCodec 24 kHz encoder needs none after a
chunk. The planner knows nothing of any codec: frames in, frames out.

Across streams (the files of a batch), :func:`stream_windows` lists every
window in read order and :func:`plan_batches` groups windows of exactly
equal sample length into encoder calls: zero-padding a window to its
neighbour's length would change the codes near its end, so only equal
lengths share a call. Both need only the streams' lengths, which the batch
runner knows from its probes before any audio is decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from audiotok._types import FramesPerSecond, Seconds

__all__ = [
    "Chunk",
    "Window",
    "fixed_lengths",
    "frames_for_seconds",
    "plan_batches",
    "plan_chunks",
    "stream_windows",
]


@dataclass(frozen=True)
class Chunk:
    """One chunk, in frames.

    Attributes
    ----------
    start, stop : int
        The frames this chunk produces, ``[start, stop)``.
    win_start, win_stop : int
        The frames the network runs on, ``[win_start, win_stop)``, a superset.
    """

    start: int
    stop: int
    win_start: int
    win_stop: int

    @property
    def window(self) -> int:
        """Window length in frames."""
        return self.win_stop - self.win_start

    @property
    def keep(self) -> slice:
        """Slice of the window's output frames that belong to the chunk."""
        return slice(self.start - self.win_start, self.stop - self.win_start)


def frames_for_seconds(seconds: Seconds | None, frame_rate: FramesPerSecond, n_frames: int) -> int:
    """Frames per chunk for a chunk length in seconds: ``max(1, round(seconds * fps))``.

    ``None`` means one chunk for the whole stream (``max(1, n_frames)``).
    """
    if seconds is None:
        return max(1, n_frames)
    return max(1, round(seconds * frame_rate))


def plan_chunks(
    n_frames: int, chunk_frames: int, context: tuple[int, int], *, fixed: bool = False
) -> list[Chunk]:
    """Cut ``n_frames`` frames into chunks with context windows.

    Parameters
    ----------
    n_frames : int
        T, frames of the whole stream.
    chunk_frames : int
        Frames kept per chunk (``>= 1``).
    context : (int, int)
        Frames of context before and after each chunk (``>= 0``), e.g. a
        :class:`~audiotok.codecs.plugin.Context`.
    fixed : bool
        Give every window of a stream longer than ``W = chunk_frames +
        before + after`` frames exactly ``W`` frames, for a backend compiled
        per input shape: the first window ``[0, W)`` keeps its first ``W -
        after`` frames, and the last one is ``[n_frames - W, n_frames)``,
        with more context before its chunk than needed (real signal, so the
        codes are the same), or ``[n_frames - ceil(W / 2), n_frames)`` when
        its chunk and context fit in that (a second repeated length, less
        work than a whole window for a short tail). A stream of at most
        ``W`` frames is one window.

    Returns
    -------
    list of Chunk
        Covering ``[0, n_frames)`` in order without gaps or overlap. When the
        whole stream fits in one chunk (``fixed``: in one window) it is one
        window ``[0, n_frames)``.

    Raises
    ------
    ValueError
        If ``chunk_frames < 1`` or a context is negative.
    """
    before, after = context
    if chunk_frames < 1 or before < 0 or after < 0:
        raise ValueError("chunk_frames must be >= 1 and the context frames >= 0")
    window = chunk_frames + before + after
    if fixed and n_frames > window:
        chunks = [Chunk(0, window - after, 0, window)]
        for start in range(window - after, n_frames, chunk_frames):
            win_start = min(start - before, n_frames - window)
            chunks.append(Chunk(start, min(start + chunk_frames, n_frames), win_start, win_start + window))
        last, half = chunks[-1], fixed_lengths(chunk_frames, context)[1]
        if len(chunks) > 1 and n_frames - last.start + before <= half:  # a short tail: a half window
            chunks[-1] = Chunk(last.start, n_frames, n_frames - half, n_frames)
        return chunks
    if fixed:
        return [Chunk(0, n_frames, 0, n_frames)] if n_frames > 0 else []
    chunks = []
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        chunks.append(Chunk(start, stop, max(0, start - before), min(n_frames, stop + after)))
    return chunks


@dataclass(frozen=True)
class Window:
    """One chunk of one stream, as the batch planner sees it.

    Attributes
    ----------
    pos : int
        Read position: windows are numbered over all streams, stream 0's
        chunks first, in order.
    stream : int
        Index of the stream (file) in the batch.
    chunk : Chunk
        The chunk, in the stream's frames.
    samples : int
        Samples the network runs on: ``[win_start * hop, min(win_stop * hop, length))``,
        so a stream's last window is never padded. The bucket key.
    """

    pos: int
    stream: int
    chunk: Chunk
    samples: int


def stream_windows(
    lengths: Sequence[int],
    hop: int,
    chunk_frames: int | None,
    context: tuple[int, int],
    *,
    fixed: bool = False,
) -> Iterator[Window]:
    """Every window of every stream, in read order.

    Parameters
    ----------
    lengths : sequence of int
        Samples of each stream (at the codec's rate); a stream of 0 samples has no window.
    hop : int
        Samples per frame.
    chunk_frames : int or None
        Frames kept per chunk; ``None``: one window per stream.
    context : (int, int)
        Frames of context before and after each chunk.
    fixed : bool
        Windows of :func:`fixed_lengths` where a stream allows, as :func:`plan_chunks`.
    """
    pos = 0
    for stream, n in enumerate(lengths):
        n_frames = -(-n // hop)
        size = max(1, n_frames) if chunk_frames is None else chunk_frames
        chunks = plan_chunks(n_frames, size, context, fixed=fixed)
        for c in chunks:
            yield Window(pos, stream, c, min(c.win_stop * hop, n) - c.win_start * hop)
            pos += 1


def plan_batches(
    windows: Iterable[Window], batch_size: int, horizon: int | None = None
) -> Iterator[list[Window]]:
    """Group windows of equal :attr:`Window.samples` into encoder calls, greedily, in read order.

    Each length has one open group; a window joins its length's group, and a
    group is closed (yielded) when it holds ``batch_size`` windows, when the
    read position is ``horizon`` windows past its first window, or at the
    end. So every window is yielded by the time the scan is ``horizon``
    windows past it: whoever reads windows in order and encodes each group
    once all of it has arrived holds at most ``horizon`` windows back.

    Parameters
    ----------
    windows : iterable of Window
        In read order (:func:`stream_windows`).
    batch_size : int
        Windows per call (``>= 1``).
    horizon : int, optional
        How far apart, in windows, the members of one call may be read;
        default ``4 * batch_size``.

    Yields
    ------
    list of Window
        One encoder call: 1 to ``batch_size`` windows of one length, in read
        order, ``last.pos - first.pos < horizon``.

    Raises
    ------
    ValueError
        If ``batch_size`` or ``horizon`` is below 1.
    """
    span = 4 * batch_size if horizon is None else horizon
    if batch_size < 1 or span < 1:
        raise ValueError("batch_size and horizon must be >= 1")
    groups: dict[int, list[Window]] = {}  # by length; insertion order is the order of first windows
    for w in windows:
        while groups:
            oldest = next(iter(groups))
            if w.pos - groups[oldest][0].pos < span:
                break
            yield groups.pop(oldest)
        group = groups.setdefault(w.samples, [])
        group.append(w)
        if len(group) == batch_size:
            yield groups.pop(w.samples)
    yield from groups.values()


def fixed_lengths(chunk_frames: int, context: tuple[int, int]) -> tuple[int, int]:
    """The two window lengths (frames) of a ``fixed`` plan longer than one window: ``W`` and ``ceil(W / 2)``.

    They depend on the chunk size and context alone, so a backend compiled per
    shape can compile these two for every stream of a run, whatever the others.
    """
    window = chunk_frames + context[0] + context[1]
    return window, (window + 1) // 2
