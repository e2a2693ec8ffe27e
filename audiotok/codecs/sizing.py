"""Batch sizes for the encoder: how many windows go through one call on a device.

On a CPU a batched eager call gains nothing (measured: four 3 s windows in one
call ran at 0.8-0.9x the per-sample speed of one), so the size is 1 there.
A backend compiled per window length (``codec.fixed_shapes("encoder")``,
OpenVINO) runs a call's rows one at a time on the model of their length, so
a batch only groups windows of one length: :data:`SAME_LENGTH_GROUP` of them
run back to back on one compiled model instead of alternating between the
models of the two window lengths every file. On CUDA one probe
call of two zero windows measures the peak memory a batch row takes per input
sample, and :func:`audiotok.device.batch_size_for` fills the free memory with
rows of that size, with headroom.
"""

from __future__ import annotations

import numpy as np

from audiotok import device as device_lib
from audiotok._types import Seconds
from audiotok.codecs.chunking import frames_for_seconds
from audiotok.codecs.plugin import Codec

__all__ = ["MAX_AUTO_BATCH", "SAME_LENGTH_GROUP", "auto_batch_size", "window_samples"]

MAX_AUTO_BATCH = 64
"""The largest batch :func:`auto_batch_size` picks (more rows add little once the GPU is busy)."""
SAME_LENGTH_GROUP = 8
"""Windows per call for an encoder backend compiled per window length (rows run one at a time).

Measured on 2 cores with DAC 44.1 kHz (2 s chunks): alternating between the
189- and 95-frame models every window ran 5 % slower than grouped runs, and
``npq encode --mono`` took 4-15 % less time on 9 and 24 real clips at 8 than
at 1, with the same codes (a row's codes never depend on its batch)."""
SAFETY = 1.25
"""Factor on the measured bytes per sample (allocator fragmentation, longer last windows)."""


def window_samples(codec: Codec, chunk_seconds: Seconds) -> int:
    """Input samples of one encoder window: the chunk and its context, in whole frames."""
    frames = frames_for_seconds(chunk_seconds, codec.frame_rate, 0)
    ctx = codec.encoder_context_frames
    return (frames + ctx.before + ctx.after) * codec.hop_length


def auto_batch_size(codec: Codec, chunk_seconds: Seconds, *, max_batch: int = MAX_AUTO_BATCH) -> int:
    """Windows per encoder call for ``codec`` on its device.

    :data:`SAME_LENGTH_GROUP` when its encoder backend is compiled per window
    length (rows run one at a time, so only windows of one length are
    grouped), else 1 off CUDA, and on CUDA what fits in free memory.

    Parameters
    ----------
    codec : Codec
        A loaded codec; its ``device`` attribute says where it runs (CPU when absent).
    chunk_seconds : float
        Audio per chunk, seconds, as the stream encoder will use it.
    max_batch : int
        Upper bound.

    Returns
    -------
    int
        Between 1 and ``max_batch``.
    """
    if codec.fixed_shapes("encoder"):
        return max(1, min(SAME_LENGTH_GROUP, max_batch))
    where = codec.device
    if device_lib.device_kind(where) != "cuda":
        return 1
    import torch

    dev = torch.device(where)
    window = window_samples(codec, chunk_seconds)
    rows = 2
    probe = np.zeros((rows, codec.channels, window), dtype=np.float32)
    torch.cuda.synchronize(dev)
    base = torch.cuda.memory_allocated(dev)
    device_lib.reset_peak_memory(dev)
    codec.encode(device_lib.to_device(probe, dev), 1)
    torch.cuda.synchronize(dev)
    per_sample = max(1.0, (device_lib.peak_memory(dev) - base) / (rows * window))
    return device_lib.batch_size_for(dev, window, per_sample * SAFETY, max_batch=max_batch)
