"""Reading, resampling, channel handling and writing of audio.

Audio arrays are ``float32`` with shape ``[C, N]`` (channels, samples) and
values nominally in ``[-1, 1]``. Files are decoded by soundfile (libsndfile:
wav, flac, ogg, mp3), in blocks where a caller asks for a range, so a long
file is never held whole when it is processed in chunks. Sources that read
a long file range by range, resampled or not, are :mod:`audiotok.audio.stream`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import soundfile as sf
from pydantic import Field

from audiotok._fsio import atomic_write
from audiotok._types import Hz, Seconds
from audiotok.errors import InputError
from audiotok.formats._base import FrozenModel

if TYPE_CHECKING:
    import torch

__all__ = [
    "AudioInfo",
    "ChannelMode",
    "apply_channel_mode",
    "from_mid_side",
    "iter_blocks",
    "load",
    "probe",
    "read",
    "resample",
    "resample_array",
    "to_mid_side",
    "to_mono",
    "write_wav",
]

ChannelMode = Literal["mono", "mid-side", "stereo", "keep"]
"""How channels are mapped: mean to mono, stereo to Mid/Side, mono or stereo to two
channels (mono duplicated), or kept as they are."""

Audio = np.ndarray[Any, np.dtype[np.float32]]


class AudioInfo(FrozenModel):
    """What an audio file holds, read from its header."""

    path: str
    sample_rate: Hz = Field(gt=0, description="Sample rate in Hz.")
    channels: int = Field(ge=1)
    frames: int = Field(ge=0, description="Samples per channel.")
    format: str = Field(description="Container, e.g. WAV, FLAC, OGG, MP3.")
    subtype: str = Field(description="Encoding, e.g. PCM_16, VORBIS.")
    bytes: int = Field(ge=0, description="File size in bytes.")

    @property
    def duration_s(self) -> Seconds:
        """Duration in seconds."""
        return self.frames / self.sample_rate

    @property
    def bitrate_kbps(self) -> float:
        """File bits over duration, in kbps (0 for an empty file)."""
        return self.bytes * 8 / self.duration_s / 1000 if self.frames else 0.0


def _open(path: Path) -> sf.SoundFile:
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a directory, not an audio file", path)
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        reason = str(exc).split(":")[-1].strip() or "unknown decoder error"
        raise InputError(f"cannot decode audio ({reason})", path) from None


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Read an audio file's header.

    Raises
    ------
    InputError
        If the file is missing, not decodable, or holds no samples.
    """
    p = Path(path)
    with _open(p) as f:
        info = AudioInfo(
            path=str(p),
            sample_rate=f.samplerate,
            channels=f.channels,
            frames=max(f.frames, 0),
            format=f.format,
            subtype=f.subtype or "",
            bytes=p.stat().st_size,
        )
    if info.frames == 0:
        raise InputError("audio has zero length", p)
    return info


def check_finite(x: Audio, path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` if ``x`` holds NaN or infinity."""
    if not np.isfinite(x).all():
        raise InputError("audio holds NaN or infinite samples", path)


def read(path: str | os.PathLike[str], start: int = 0, frames: int = -1) -> Audio:
    """Decode ``frames`` samples per channel from sample ``start`` (``-1``: to the end).

    Returns
    -------
    audio : ndarray[C, N] float32
        May be shorter than ``frames`` at the end of the file.

    Raises
    ------
    InputError
        If the file cannot be decoded (also part-way, e.g. truncated) or holds
        non-finite samples.
    """
    p = Path(path)
    with _open(p) as f:
        try:
            if start:
                f.seek(start)
            data = f.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(f"decoding failed at sample {start} ({exc})", p) from None
    out: Audio = np.ascontiguousarray(data.T)
    check_finite(out, p)
    return out


def iter_blocks(path: str | os.PathLike[str], block_frames: int) -> Iterator[Audio]:
    """Decode a file in consecutive blocks of ``block_frames`` samples (the last may be shorter).

    Yields
    ------
    audio : ndarray[C, N] float32

    Raises
    ------
    InputError
        If the file cannot be decoded or holds non-finite samples.
    """
    if block_frames < 1:
        raise ValueError("block_frames must be >= 1")
    p = Path(path)
    with _open(p) as f:
        while True:
            try:
                data = f.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise InputError(f"decoding failed ({exc})", p) from None
            if data.shape[0] == 0:
                return
            block: Audio = np.ascontiguousarray(data.T)
            check_finite(block, p)
            yield block


def to_mono(x: Audio) -> Audio:
    """Mean of the channels: ``[C, N] -> [1, N]``."""
    return np.ascontiguousarray(x.mean(axis=0, keepdims=True, dtype=np.float32))


def to_mid_side(x: Audio) -> Audio:
    """Stereo to Mid/Side: ``M = (L + R) / 2``, ``S = (L - R) / 2``; ``[2, N] -> [2, N]``."""
    if x.shape[0] != 2:
        raise ValueError(f"Mid/Side needs 2 channels, got {x.shape[0]}")
    left, right = x[0], x[1]
    return np.stack([(left + right) * 0.5, (left - right) * 0.5]).astype(np.float32, copy=False)


def from_mid_side(ms: Audio) -> Audio:
    """Mid/Side to stereo: ``L = M + S``, ``R = M - S``; ``[2, N] -> [2, N]``."""
    if ms.shape[0] != 2:
        raise ValueError(f"Mid/Side needs 2 channels, got {ms.shape[0]}")
    mid, side = ms[0], ms[1]
    return np.stack([mid + side, mid - side]).astype(np.float32, copy=False)


def apply_channel_mode(x: Audio, mode: ChannelMode, path: str | os.PathLike[str]) -> Audio:
    """Map channels for ``mode``.

    ``mono`` averages every channel; ``mid-side`` needs exactly 2 channels;
    ``stereo`` duplicates a mono channel and keeps 2 channels; ``keep``
    returns ``x`` unchanged.

    Raises
    ------
    InputError
        For ``mid-side`` on audio that does not have 2 channels (callers decide
        beforehand what to do with mono input), or ``stereo`` on more than 2.
    """
    if mode == "mono":
        return x if x.shape[0] == 1 else to_mono(x)
    if mode == "mid-side":
        if x.shape[0] != 2:
            raise InputError(f"Mid/Side needs 2 channels, file has {x.shape[0]}", path)
        return to_mid_side(x)
    if mode == "stereo":
        if x.shape[0] > 2:
            raise InputError(f"stereo takes 1 or 2 channels, file has {x.shape[0]}", path)
        return np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x
    return x


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    """torchaudio's ``sinc_interp_hann`` kernel for ``orig -> new`` (both divided by their gcd).

    The same formula as :func:`torchaudio.functional.resample` with its
    defaults (``lowpass_filter_width = 6``, ``rolloff = 0.99``), in float32:
    ``kernel : ndarray[new, 2 width + orig]``, and ``width`` in input samples.
    """
    base = min(orig, new) * 0.99
    width = math.ceil(6 * orig / base)
    f32 = np.float32
    idx = np.arange(-width, width + orig, dtype=f32)[None, :] / f32(orig)
    t = np.arange(0, -new, -1, dtype=f32)[:, None] / f32(new) + idx
    t *= f32(base)
    np.clip(t, -6, 6, out=t)
    window = np.cos(t * f32(math.pi) / f32(6) / f32(2)) ** 2
    t *= f32(math.pi)
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, f32(1), np.sin(t) / t)
    kernel *= window * f32(base / orig)
    return np.ascontiguousarray(kernel, dtype=f32), width


def resample_array(x: Audio, orig_sr: Hz, target_sr: Hz) -> Audio:
    """Resample ``x : ndarray[C, N]`` float32 from ``orig_sr`` to ``target_sr`` Hz (band-limited sinc).

    The values of :func:`torchaudio.functional.resample` with its defaults
    (Hann-windowed sinc, 6 zero crossings, rolloff 0.99) to float32 rounding
    (within 1e-6 of full scale), computed with NumPy: no PyTorch import on
    the paths that only need this.

    Returns
    -------
    ndarray[C, M] float32
        ``M = ceil(N * target_sr / orig_sr)``; ``x`` itself when the rates match.
    """
    x = np.asarray(x, dtype=np.float32)
    if orig_sr == target_sr:
        return x
    g = math.gcd(int(orig_sr), int(target_sr))
    orig, new = int(orig_sr) // g, int(target_sr) // g
    kernel, width = _sinc_kernel(orig, new)
    channels, n = x.shape
    padded = np.zeros((channels, n + 2 * width + orig), dtype=np.float32)
    padded[:, width : width + n] = x
    taps = kernel.shape[1]
    blocks = (padded.shape[1] - taps) // orig + 1
    frames = np.lib.stride_tricks.as_strided(
        padded, (channels, blocks, taps), (padded.strides[0], orig * padded.strides[1], padded.strides[1])
    )
    out = (frames @ kernel.T).reshape(channels, blocks * new)  # [C, blocks, new]: output k of block b
    result: Audio = np.ascontiguousarray(out[:, : -(-new * n // orig)])
    return result


def resample(x: Audio | torch.Tensor, orig_sr: Hz, target_sr: Hz) -> torch.Tensor:
    """Resample ``[C, N]`` audio as :func:`resample_array`, as a tensor.

    Returns
    -------
    torch.Tensor[C, M] float32
        ``M = ceil(N * target_sr / orig_sr)``; ``x`` itself (as a tensor) when the rates match.
    """
    import torch

    if orig_sr == target_sr:
        return torch.as_tensor(x, dtype=torch.float32)
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    return torch.from_numpy(resample_array(np.asarray(arr, dtype=np.float32), orig_sr, target_sr))


def load(
    path: str | os.PathLike[str], *, sample_rate: Hz | None = None, mode: ChannelMode = "keep"
) -> torch.Tensor:
    """Decode a whole file, map its channels and resample it.

    Returns
    -------
    torch.Tensor[C, N] float32
        At ``sample_rate`` (or the file's own rate when ``None``).

    Raises
    ------
    InputError
        If the file is missing, not decodable, empty, non-finite, or its
        channels do not fit ``mode``.
    """
    info = probe(path)
    x = apply_channel_mode(read(path), mode, path)
    return resample(x, info.sample_rate, sample_rate or info.sample_rate)


def write_wav(
    path: str | os.PathLike[str],
    audio: Audio | torch.Tensor,
    sample_rate: Hz,
    *,
    subtype: str = "PCM_16",
) -> None:
    """Write ``[C, N]`` audio as a WAV file, atomically.

    Samples outside ``[-1, 1]`` are clipped by the PCM conversion.
    """
    arr = audio.detach().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    if arr.ndim == 1:
        arr = arr[None, :]
    with atomic_write(path) as fh:
        sf.write(fh, np.ascontiguousarray(arr.T), sample_rate, subtype=subtype, format="WAV")
