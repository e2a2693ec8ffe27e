"""Chunked encode and decode of one stream by any :class:`~audiotok.codecs.plugin.Codec`, with bounded memory.

Encoding reads a :class:`~audiotok.audio.stream.SampleSource` window by
window: every chunk runs inside a window with the codec's
``encoder_context_frames`` before and after it (see
:mod:`audiotok.codecs.chunking`) and only the chunk's own frames are kept;
:func:`encode_source` is a :class:`~audiotok.codecs.batch.StreamEncoder` of
one source (many sources, batched across them: that class; a codec that
carries its state: :class:`~audiotok.codecs.streaming.StatefulEncoder`; a
codec with a global receptive field: :class:`~audiotok.codecs.segments.SegmentEncoder`).
Decoding runs chunks of codes the same way with the codec's ``decoder_context_frames``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from audiotok._types import Seconds
from audiotok.audio.stream import SampleSource
from audiotok.codecs.batch import StreamEncoder
from audiotok.codecs.chunking import fixed_lengths, plan_chunks
from audiotok.codecs.plugin import Codec, Context
from audiotok.codecs.segments import SegmentEncoder
from audiotok.codecs.streaming import StatefulEncoder
from audiotok.codecs.streams import Encoded, Failed, Stream, check_source, offsets

__all__ = ["decode_codes", "encode_source", "stream_encoder"]

Codes = np.ndarray[Any, np.dtype[np.int64]]
Audio = np.ndarray[Any, np.dtype[np.float32]]


def stream_encoder(
    codec: Codec, *, chunk_seconds: Seconds | None, context: Context | None = None, batch_size: int = 1
) -> StreamEncoder | StatefulEncoder | SegmentEncoder:
    """The batch encoder for ``codec``: :class:`StatefulEncoder` for a codec that carries its state
    (``caps.streaming``; ``context`` unused), :class:`SegmentEncoder` for a codec with a global
    receptive field (``caps.global_context``: ``chunk_seconds`` is the longest window, a longer file is
    cut at quiet points), else :class:`StreamEncoder` with context windows."""
    if codec.caps.global_context:
        return SegmentEncoder(codec, max_seconds=chunk_seconds, batch_size=batch_size)
    if codec.caps.streaming:
        return StatefulEncoder(codec, chunk_seconds=chunk_seconds, batch_size=batch_size)
    return StreamEncoder(codec, chunk_seconds=chunk_seconds, context=context, batch_size=batch_size)


def encode_source(
    source: SampleSource,
    codec: Codec,
    codebooks: Sequence[int],
    *,
    chunk_seconds: Seconds | None = None,
    context: Context | None = None,
    batch_size: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> Codes:
    """Encode one ``source`` (at the codec's rate) to RVQ codes, chunk by chunk.

    Parameters
    ----------
    source : SampleSource
        ``C`` channels at ``codec.sample_rate``: ``C = len(codebooks) * codec.channels``.
    codec : Codec
    codebooks : sequence of int
        K per item of ``codec.channels`` channels, e.g. ``(9, 4)`` for DAC's
        Mid/Side, ``(8,)`` for EnCodec.
    chunk_seconds : float, optional
        Audio per chunk, seconds (rounded to whole frames); ``None``: one
        window for the whole source. For a codec with ``caps.global_context``
        the longest window: a longer source is cut at quiet points (:mod:`audiotok.codecs.segments`).
    context : Context, optional
        Frames of context before and after each chunk; default
        ``codec.encoder_context_frames``.
    batch_size : int
        Windows per encoder call (each contributes ``len(codebooks)`` batch rows).
    on_chunk : callable, optional
        Called after each encoder call with the number of samples (at the
        codec's rate) its chunks covered; they add up to ``source.length``.

    Returns
    -------
    codes : ndarray[T, sum(codebooks)] int64
        ``T = ceil(source.length / hop_length)``; columns are item 0's
        codebooks, then item 1's.

    Raises
    ------
    ValueError
        If the source's rate or channels do not fit, or it is empty.
    Exception
        Whatever reading the source or the encoder raised.
    """
    stream = Stream(source.length, tuple(codebooks), lambda: contextlib.nullcontext(source))
    check_source(source, stream, codec)
    if source.length == 0:
        raise ValueError("no samples to encode")
    encoder = stream_encoder(codec, chunk_seconds=chunk_seconds, context=context, batch_size=batch_size)
    for event in encoder.run([stream]):
        if isinstance(event, Failed):
            raise event.error
        if isinstance(event, Encoded):
            return event.codes
        if on_chunk is not None:
            on_chunk(event.samples)
    raise AssertionError("the stream ended without its codes")  # run() always ends a stream


def decode_codes(
    codes: np.ndarray[Any, np.dtype[Any]],
    codec: Codec,
    codebooks: Sequence[int],
    *,
    chunk_frames: int | None = None,
    context: Context | None = None,
) -> Iterator[Audio]:
    """Decode codes to audio, chunk by chunk.

    Parameters
    ----------
    codes : ndarray[T, sum(codebooks)]
        Integer codes (rows of a layout with strides: ``codec.columns(k)``
        per item), columns grouped by item as :func:`encode_source`
        writes them (may be memory-mapped: only a window is read at a time).
    codec : Codec
    codebooks : sequence of int
        K per item; an item with K = 0 decodes to silence.
    chunk_frames : int, optional
        Frames decoded per chunk; ``None``: the whole stream at once.
    context : Context, optional
        Frames of context before and after each chunk; default
        ``codec.decoder_context_frames``.

    Windows are of one length where the stream allows when the codec's
    decoder backend is compiled per shape (``codec.fixed_shapes("decoder")``).

    Yields
    ------
    audio : ndarray[len(codebooks) * codec.channels, n] float32
        Consecutive pieces at ``codec.output_sample_rate``, ``T * output_hop_length``
        samples in all; item 0's channels first.
    """
    hop = codec.output_hop_length
    n_frames = codes.shape[0]
    cols = offsets([codec.columns(k) for k in codebooks])
    size = n_frames if chunk_frames is None else -(-chunk_frames // codec.frame_grid) * codec.frame_grid
    fixed = codec.fixed_shapes("decoder") and codec.frame_grid == 1  # fixed windows end off the grid
    context = context or codec.decoder_context_frames
    if fixed and chunk_frames is not None:
        codec.expect_windows("decoder", fixed_lengths(max(1, chunk_frames), context))
    for chunk in plan_chunks(n_frames, max(1, size), context, fixed=fixed):
        window = np.asarray(codes[chunk.win_start : chunk.win_stop], dtype=np.int64)
        keep = slice(chunk.keep.start * hop, chunk.keep.stop * hop)
        pieces = []
        for j, k in enumerate(codebooks):
            if k == 0:  # e.g. an NPQ2 file without Side codebooks: silence
                pieces.append(np.zeros((codec.channels, keep.stop - keep.start), dtype=np.float32))
                continue
            item = window[:, cols[j] : cols[j + 1]].T.copy()[None]
            pieces.append(codec.decode_array(item)[0, :, keep])  # without PyTorch where caps.arrays
        yield np.concatenate(pieces).astype(np.float32, copy=False)
