"""``audio normalize``: peak windowed-RMS loudness normalisation, resampling, mono.

The level of a file is the largest RMS over windows of ``window_ms``
milliseconds hopping by a quarter window (75 % overlap), on the mono mix.
The whole file is scaled so that this level equals ``target_rms``. If that
pushes a sample beyond full scale (1.0), the clipping policy decides:
``scale`` lowers the gain until the peak is exactly 1.0 (the level ends up
below the target), ``clip`` hard-limits samples to [-1, 1]. Either way the
result reports it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from audiotok import audio
from audiotok.errors import UsageError
from audiotok.paths import AUDIO_SUFFIXES
from audiotok.progress import ProgressFn
from audiotok.records import BatchSummary, FileRecord
from audiotok.services import runner

__all__ = ["ClipPolicy", "NormalizeRecord", "normalize_file", "normalize_paths", "peak_windowed_rms"]

ClipPolicy = Literal["scale", "clip"]


class NormalizeRecord(FileRecord):
    """One normalised file."""

    sample_rate: int = Field(description="Output sample rate in Hz.")
    channels: int
    level_before: float = Field(description="Peak windowed RMS of the input (linear).")
    gain_db: float = Field(description="Gain applied in dB.")
    peak_after: float = Field(description="Largest absolute sample after the gain, before limiting.")
    limited: bool = Field(description="The clipping policy had to act (peak_after > 1).")
    clipped_samples: int = Field(default=0, description="Samples hard-limited (policy 'clip').")


def peak_windowed_rms(x: torch.Tensor, sample_rate: int, window_ms: float = 250.0) -> float:
    """Largest RMS of the mono mix of ``x [C, N]`` over windows of ``window_ms`` with 75 % overlap.

    Files shorter than one window use their whole length.
    """
    mono = x.to(torch.float64).mean(dim=0)
    win = max(1, round(sample_rate * window_ms / 1000))
    if mono.numel() <= win:
        return float(mono.pow(2).mean().sqrt()) if mono.numel() else 0.0
    hop = max(1, win // 4)
    frames = mono.unfold(0, win, hop)
    return float(frames.pow(2).mean(dim=1).sqrt().max())


def _check_target(target_rms: float) -> None:
    if not 0 < target_rms <= 1:
        raise UsageError(f"`target_rms` must be in (0, 1], got {target_rms}", param="target_rms")


def normalize_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    target_rms: float = 0.1,
    window_ms: float = 250.0,
    sample_rate: int | None = 24_000,
    keep_channels: bool = False,
    clip: ClipPolicy = "scale",
) -> NormalizeRecord:
    """Normalise one file and write a PCM16 WAV atomically.

    Raises
    ------
    InputError
        If the audio cannot be decoded.
    UsageError
        If ``target_rms`` is not in (0, 1].
    """
    _check_target(target_rms)
    info = audio.probe(src)
    rate = sample_rate or info.sample_rate
    x = audio.load(src, sample_rate=rate, mode="keep" if keep_channels else "mono")
    level = peak_windowed_rms(x, rate, window_ms)
    gain = target_rms / level if level > 0 else 1.0
    y = x * gain
    peak = float(y.abs().max()) if y.numel() else 0.0
    limited = peak > 1.0
    clipped = 0
    if limited and clip == "scale":
        gain /= peak
        y = x * gain
    elif limited:
        clipped = int((y.abs() > 1.0).sum())
        y = y.clamp(-1.0, 1.0)
    audio.write_wav(dst, y.to(torch.float32), rate)
    return NormalizeRecord(
        input=str(src),
        output=str(dst),
        status="written",
        sample_rate=rate,
        channels=int(y.shape[0]),
        level_before=level,
        gain_db=20 * math.log10(gain) if gain > 0 else -math.inf,
        peak_after=peak,
        limited=limited,
        clipped_samples=clipped,
    )


def normalize_paths(
    inputs: Iterable[str | os.PathLike[str]],
    outdir: Path,
    *,
    recursive: bool = False,
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
    target_rms: float = 0.1,
    window_ms: float = 250.0,
    sample_rate: int | None = 24_000,
    keep_channels: bool = False,
    clip: ClipPolicy = "scale",
    shard: tuple[int, int] = (0, 1),
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> BatchSummary:
    """Normalise every audio file named by ``inputs`` into ``outdir`` (tree mirrored, ``.wav``).

    ``on_record`` gets a :class:`NormalizeRecord` per file, or a failed
    record; the batch goes on.

    Raises
    ------
    UsageError
        If ``target_rms`` is not in (0, 1], two inputs map to one output
        (``a.wav`` and ``a.flac``), or the shard does not exist; before any file is written.
    """
    _check_target(target_rms)
    batch = runner.plan(
        inputs, suffixes=suffixes, outdir=outdir, out_suffix=".wav", recursive=recursive, shard=shard
    )

    def work(item: runner.PlanItem, _: ProgressFn | None) -> NormalizeRecord:
        return normalize_file(
            item.path,
            item.dst,
            target_rms=target_rms,
            window_ms=window_ms,
            sample_rate=sample_rate,
            keep_channels=keep_channels,
            clip=clip,
        )

    return runner.run(batch, work, on_record=on_record, on_progress=on_progress)
