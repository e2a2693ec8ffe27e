"""Chunked DAC encode and decode over streaming sources, with bounded memory.

Encoding: every chunk of ``chunk_frames`` frames runs inside a window with
``codec.encoder_context_frames`` of context on each side (see
:mod:`audiotok.codecs._chunking`), so chunked codes equal whole-file codes.
All channels of a window (Mid and Side) and up to ``batch_size`` windows of
equal length go through the encoder as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from audiotok.audio_stream import SampleSource
from audiotok.codecs._chunking import batch_chunks, plan_chunks
from audiotok.codecs.dac import DacCodec

__all__ = ["decode_chunks", "encode_source"]

#: Frames of context each side of a decode chunk. The 44 kHz decoder's
#: receptive field spans about 20 frames on each side; 32 leaves margin.
DECODE_CONTEXT_FRAMES = 32


def encode_source(
    source: SampleSource,
    codec: DacCodec,
    codebooks: Sequence[int],
    *,
    chunk_frames: int,
    batch_size: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> np.ndarray[Any, np.dtype[np.uint16]]:
    """Encode every channel of ``source`` (at the model rate) to RVQ tokens.

    Parameters
    ----------
    source : SampleSource
        ``C`` channels at ``codec.sample_rate``; ``C == len(codebooks)``.
    codec : DacCodec
    codebooks : sequence of int
        K per channel, e.g. ``(9, 4)`` for Mid/Side.
    chunk_frames : int
        Frames kept per chunk.
    batch_size : int
        Chunks per encoder call (each contributes ``C`` batch rows).
    on_chunk : callable, optional
        Called with the number of samples each finished chunk covered.

    Returns
    -------
    tokens : ndarray[T, sum(codebooks)] uint16
        ``T = ceil(source.length / hop_length)``; columns are channel 0's
        codebooks, then channel 1's.
    """
    if len(codebooks) != source.channels:
        raise ValueError(f"{source.channels} channels but {len(codebooks)} codebook counts")
    hop = codec.hop_length
    n_frames = codec.n_frames(source.length)
    k_run = max(codebooks)
    offsets = np.cumsum([0, *codebooks])
    out = np.empty((n_frames, int(offsets[-1])), dtype=np.uint16)
    chunks = plan_chunks(n_frames, chunk_frames, codec.encoder_context_frames)
    for group in batch_chunks(chunks, batch_size):
        window = group[0].window * hop
        batch = np.zeros((len(group), source.channels, window), dtype=np.float32)
        for i, chunk in enumerate(group):
            audio = source.read(chunk.win_start * hop, chunk.win_stop * hop)
            batch[i, :, : audio.shape[1]] = audio
        x = torch.from_numpy(batch).reshape(len(group) * source.channels, 1, window)
        codes = codec.encode(x, k_run).cpu().numpy().reshape(len(group), source.channels, k_run, -1)
        for i, chunk in enumerate(group):
            for c, k in enumerate(codebooks):
                out[chunk.start : chunk.stop, offsets[c] : offsets[c] + k] = codes[i, c, :k, chunk.keep].T
            if on_chunk is not None:
                on_chunk(min(chunk.stop * hop, source.length) - chunk.start * hop)
    return out


def decode_chunks(
    tokens: np.ndarray[Any, np.dtype[Any]],
    codec: DacCodec,
    codebooks: Sequence[int],
    *,
    chunk_frames: int,
) -> Iterator[np.ndarray[Any, np.dtype[np.float32]]]:
    """Decode tokens chunk by chunk.

    Parameters
    ----------
    tokens : ndarray[T, sum(codebooks)]
        Columns grouped by channel, as :func:`encode_source` writes them.
    codec : DacCodec
    codebooks : sequence of int
        K per output channel.
    chunk_frames : int
        Frames decoded per chunk.

    Yields
    ------
    audio : ndarray[C, chunk * hop_length] float32
        Consecutive pieces at ``codec.sample_rate``; ``T * hop_length``
        samples in all. Each chunk is decoded with
        :data:`DECODE_CONTEXT_FRAMES` frames of context on both sides.
    """
    hop = codec.hop_length
    offsets = np.cumsum([0, *codebooks])
    chunks = plan_chunks(tokens.shape[0], chunk_frames, DECODE_CONTEXT_FRAMES)
    for chunk in chunks:
        window = np.asarray(tokens[chunk.win_start : chunk.win_stop], dtype=np.int64)
        pieces = []
        keep = chunk.keep
        for c, k in enumerate(codebooks):
            if k == 0:  # e.g. an NPQ2 file without Side codebooks: silence
                pieces.append(np.zeros((keep.stop - keep.start) * hop, dtype=np.float32))
                continue
            codes = torch.from_numpy(window[:, offsets[c] : offsets[c] + k].T.copy())[None]
            audio = codec.decode(codes)[0, 0]
            pieces.append(audio[keep.start * hop : keep.stop * hop].cpu().numpy())
        yield np.stack(pieces).astype(np.float32, copy=False)
