"""Context-padded chunk planning for convolutional codecs.

A file of ``T`` frames is cut into chunks of ``chunk_frames`` frames. Each
chunk is run through the network inside a *window* that adds
``context_frames`` frames of real signal on both sides (clipped at the file's
ends, where the whole-file run sees the same zero padding), and only the
chunk's own frames are kept. With a context at least the network's receptive
field, the kept frames equal those of a single whole-file run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Chunk", "batch_chunks", "plan_chunks"]


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


def plan_chunks(n_frames: int, chunk_frames: int, context_frames: int) -> list[Chunk]:
    """Cut ``n_frames`` frames into chunks with context windows.

    Parameters
    ----------
    n_frames : int
        T, frames of the whole file.
    chunk_frames : int
        Frames kept per chunk (``>= 1``).
    context_frames : int
        Frames of context on each side (``>= 0``).

    Returns
    -------
    list of Chunk
        Covering ``[0, n_frames)`` in order without gaps or overlap. When the
        whole file fits in one chunk it is one window ``[0, n_frames)``.

    Raises
    ------
    ValueError
        If ``chunk_frames < 1`` or ``context_frames < 0``.
    """
    if chunk_frames < 1 or context_frames < 0:
        raise ValueError("chunk_frames must be >= 1 and context_frames >= 0")
    chunks = []
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        chunks.append(
            Chunk(start, stop, max(0, start - context_frames), min(n_frames, stop + context_frames))
        )
    return chunks


def batch_chunks(chunks: list[Chunk], batch_size: int) -> Iterator[list[Chunk]]:
    """Group consecutive chunks of equal window length, at most ``batch_size`` per group."""
    group: list[Chunk] = []
    for chunk in chunks:
        if group and (len(group) == batch_size or chunk.window != group[0].window):
            yield group
            group = []
        group.append(chunk)
    if group:
        yield group
