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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from audiotok._types import FramesPerSecond, Seconds

__all__ = ["Chunk", "batch_chunks", "frames_for_seconds", "plan_chunks"]


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


def plan_chunks(n_frames: int, chunk_frames: int, context: tuple[int, int]) -> list[Chunk]:
    """Cut ``n_frames`` frames into chunks with context windows.

    Parameters
    ----------
    n_frames : int
        T, frames of the whole stream.
    chunk_frames : int
        Frames kept per chunk (``>= 1``).
    context : (int, int)
        Frames of context before and after each chunk (``>= 0``), e.g. a
        :class:`~audiotok.codecs.base.Context`.

    Returns
    -------
    list of Chunk
        Covering ``[0, n_frames)`` in order without gaps or overlap. When the
        whole stream fits in one chunk it is one window ``[0, n_frames)``.

    Raises
    ------
    ValueError
        If ``chunk_frames < 1`` or a context is negative.
    """
    before, after = context
    if chunk_frames < 1 or before < 0 or after < 0:
        raise ValueError("chunk_frames must be >= 1 and the context frames >= 0")
    chunks = []
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        chunks.append(Chunk(start, stop, max(0, start - before), min(n_frames, stop + after)))
    return chunks


def batch_chunks(
    chunks: list[Chunk], batch_size: int, length: Callable[[Chunk], int] | None = None
) -> Iterator[list[Chunk]]:
    """Group consecutive chunks of equal window length, at most ``batch_size`` per group.

    Parameters
    ----------
    length : callable, optional
        The length that must be equal within a group; default the window in
        frames (:attr:`Chunk.window`). The stream encoder passes the window in
        samples, so a last, shorter window is never padded to its neighbour's.
    """
    size = length or (lambda chunk: chunk.window)
    group: list[Chunk] = []
    for chunk in chunks:
        if group and (len(group) == batch_size or size(chunk) != size(group[0])):
            yield group
            group = []
        group.append(chunk)
    if group:
        yield group
