"""What a batch encode is about: the streams (sources planned by length) and the events of a run.

:class:`~audiotok.codecs.batch.StreamEncoder` takes :class:`Stream` values
and yields :class:`Advanced`, :class:`Encoded` and :class:`Failed` events (each a
:class:`StreamEvent`, naming its stream).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiotok.audio.stream import SampleSource
from audiotok.codecs.codec import Codec

__all__ = [
    "Advanced",
    "Audio",
    "Codes",
    "Encoded",
    "Event",
    "Failed",
    "Stream",
    "StreamEvent",
    "check_source",
    "offsets",
]

Codes = np.ndarray[Any, np.dtype[np.int64]]
Audio = np.ndarray[Any, np.dtype[np.float32]]


def offsets(codebooks: Sequence[int]) -> list[int]:
    return [0, *np.cumsum(codebooks).tolist()]


@dataclass(frozen=True)
class Stream:
    """One source of a batch, planned from its length before it is opened.

    Attributes
    ----------
    length : int
        Samples per channel at the codec's rate (what the opened source's
        ``length`` will be, e.g. from a probe).
    codebooks : tuple of int
        K per item of ``codec.channels`` channels: ``(9, 4)`` for DAC Mid/Side, ``(9,)`` mono.
    open : callable
        Returns a context manager giving the :class:`SampleSource`, with
        ``len(codebooks) * codec.channels`` channels at the codec's rate.
        Called in the reading thread, when the stream's first window is read.
    """

    length: int
    codebooks: tuple[int, ...]
    open: Callable[[], AbstractContextManager[SampleSource]]


@dataclass(frozen=True)
class StreamEvent:
    """Something that happened to stream ``stream`` (its index among the streams of the batch)."""

    stream: int


@dataclass(frozen=True)
class Advanced(StreamEvent):
    """``samples`` more of the stream are encoded (at the codec's rate)."""

    samples: int


@dataclass(frozen=True)
class Encoded(StreamEvent):
    """The stream is done: ``codes : ndarray[T, sum(codec.columns(k) for k in codebooks)] int64``
    (``sum(codebooks)`` columns for rectangular codes; rows of a layout with strides otherwise).

    ``segments``: for a stream cut into separately encoded segments
    (:class:`~audiotok.codecs.segments.SegmentEncoder`), each segment's
    ``(start, stop)`` frames, in order, covering ``[0, T)``; empty when the
    stream was encoded as one window (or its chunks reproduce a whole-file encode).
    """

    codes: Codes
    segments: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Failed(StreamEvent):
    """The stream failed (opening, reading or encoding it) with ``error``; nothing more comes of it."""

    error: Exception


Event = Advanced | Encoded | Failed


def check_source(source: SampleSource, stream: Stream, codec: Codec) -> None:
    """Refuse a source that does not fit ``stream`` and ``codec``.

    Raises
    ------
    ValueError
        If its channels, rate or length are not what the stream planned.
    """
    items = len(stream.codebooks)
    if source.channels != items * codec.channels:
        raise ValueError(f"{source.channels} channels but {items} items of {codec.channels} channel(s)")
    if source.sample_rate != codec.sample_rate:
        raise ValueError(f"source at {source.sample_rate} Hz, codec at {codec.sample_rate} Hz")
    if source.length != stream.length:
        raise ValueError(f"source has {source.length} samples, {stream.length} were planned")
