"""Streaming audio sources: read sample ranges of a long file with bounded memory.

A source exposes ``channels``, ``sample_rate``, ``length`` (samples per
channel) and ``read(start, stop) -> ndarray[C, n]``. Requests must not move
backwards (``start`` never decreases), so a source keeps only the samples from
the last ``start`` on and decodes the file once, front to back.

:class:`ResampledSource` resamples block by block with enough input context
that its output equals :func:`audiotok.audio.resample` of the whole file (the
same sinc kernel, applied to aligned blocks).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from audiotok._fsio import atomic_write
from audiotok.audio import (
    Audio,
    AudioInfo,
    ChannelMode,
    apply_channel_mode,
    check_finite,
    probe,
    resample_array,
)
from audiotok.errors import InputError

__all__ = ["ChunkSource", "FileSource", "ResampledSource", "SampleSource", "wav_writer"]

_READ_BLOCK = 1 << 16


class SampleSource(Protocol):
    """Samples ``[C, n]`` float32, read front to back."""

    channels: int
    sample_rate: int
    length: int

    def read(self, start: int, stop: int) -> Audio:
        """Samples ``[start, min(stop, length))`` of every channel."""
        ...


class FileSource:
    """Decode a file front to back through soundfile, mapping its channels on the fly.

    Parameters
    ----------
    path : str or os.PathLike
        wav, flac, ogg or mp3.
    mode : {"mono", "mid-side", "stereo", "keep"}
        Channel mapping (see :func:`audiotok.audio.apply_channel_mode`).
    info : AudioInfo, optional
        The file's :func:`~audiotok.audio.probe` result, if already known.

    Raises
    ------
    InputError
        If the file cannot be decoded, is empty, holds non-finite samples, is
        shorter than its header says, or has channels that do not fit ``mode``.
    """

    def __init__(
        self, path: str | os.PathLike[str], mode: ChannelMode = "keep", info: AudioInfo | None = None
    ) -> None:
        self.path = Path(path)
        self.info = info or probe(self.path)
        self.mode: ChannelMode = mode
        self.sample_rate = self.info.sample_rate
        self.length = self.info.frames
        if mode == "mono":
            self.channels = 1
        elif mode == "mid-side":
            if self.info.channels != 2:
                raise InputError(f"Mid/Side needs 2 channels, file has {self.info.channels}", self.path)
            self.channels = 2
        elif mode == "stereo":
            if self.info.channels > 2:
                raise InputError(f"stereo takes 1 or 2 channels, file has {self.info.channels}", self.path)
            self.channels = 2
        else:
            self.channels = self.info.channels
        self._file: sf.SoundFile | None = None
        self._buf: Audio = np.zeros((self.channels, 0), dtype=np.float32)
        self._buf_start = 0
        self._decoded = 0

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (reading again reopens nothing: the source is spent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> sf.SoundFile:
        if self._file is None:
            try:
                self._file = sf.SoundFile(self.path)
            except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                raise InputError(f"cannot decode audio ({exc})", self.path) from None
        return self._file

    def _decode_until(self, stop: int) -> None:
        f = self._open()
        parts = [self._buf]
        while self._decoded < stop:
            want = min(max(stop - self._decoded, _READ_BLOCK), self.length - self._decoded)
            try:
                data = f.read(want, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise InputError(f"decoding failed at sample {self._decoded} ({exc})", self.path) from None
            if data.shape[0] == 0:
                raise InputError(
                    f"truncated: header says {self.length} samples, decoded {self._decoded}", self.path
                )
            block: Audio = np.ascontiguousarray(data.T)
            check_finite(block, self.path)
            parts.append(apply_channel_mode(block, self.mode, self.path))
            self._decoded += data.shape[0]
        self._buf = np.concatenate(parts, axis=1) if len(parts) > 1 else self._buf

    def read(self, start: int, stop: int) -> Audio:
        """Samples ``[start, min(stop, length))``, ``[C, n]`` float32.

        Raises
        ------
        ValueError
            If ``start`` is before an earlier request's ``start``.
        InputError
            On a decoding failure part-way through the file.
        """
        if start < self._buf_start:
            raise ValueError(f"reads must move forwards: {start} < {self._buf_start}")
        stop = min(stop, self.length)
        if stop <= start:
            return np.zeros((self.channels, 0), dtype=np.float32)
        self._decode_until(stop)
        drop = start - self._buf_start
        if drop:
            self._buf = self._buf[:, drop:]
            self._buf_start = start
        out: Audio = self._buf[:, : stop - start].copy()
        return out


class ResampledSource:
    """A :class:`SampleSource` resampled to ``sample_rate`` (:func:`~audiotok.audio.resample_array`).

    ``length = ceil(source.length * sample_rate / source.sample_rate)``, as
    :func:`audiotok.audio.resample` gives for the whole signal. Each request is
    resampled from aligned input blocks (multiples of ``orig / gcd``) with a
    margin wider than the kernel, so the values match the whole-signal result.
    """

    def __init__(self, source: SampleSource, sample_rate: int) -> None:
        self.source = source
        self.channels = source.channels
        self.sample_rate = sample_rate
        g = math.gcd(source.sample_rate, sample_rate)
        self._o = source.sample_rate // g
        self._n = sample_rate // g
        self.length = -(-source.length * self._n // self._o)
        # torchaudio: width = ceil(lowpass_filter_width * orig / (min(orig, new) * rolloff))
        width = math.ceil(6 * self._o / (min(self._o, self._n) * 0.99))
        self._margin_units = -(-width // self._o) + 1

    def read(self, start: int, stop: int) -> Audio:
        """Samples ``[start, min(stop, length))`` at :attr:`sample_rate`, ``[C, n]`` float32."""
        stop = min(stop, self.length)
        if stop <= start:
            return np.zeros((self.channels, 0), dtype=np.float32)
        if self._o == self._n:
            return self.source.read(start, stop)
        u0 = max(0, start // self._n - self._margin_units)
        u1 = -(-stop // self._n) + self._margin_units
        block = self.source.read(u0 * self._o, u1 * self._o)
        y = resample_array(block, self._o, self._n)
        lo = start - u0 * self._n
        out: Audio = np.ascontiguousarray(y[:, lo : lo + stop - start])
        return out


class ChunkSource:
    """A :class:`SampleSource` over consecutive ``[C, n]`` pieces from an iterator (e.g. a decoder)."""

    def __init__(self, pieces: Iterator[Audio], channels: int, sample_rate: int, length: int) -> None:
        self._pieces = pieces
        self.channels = channels
        self.sample_rate = sample_rate
        self.length = length
        self._buf: Audio = np.zeros((channels, 0), dtype=np.float32)
        self._buf_start = 0

    def read(self, start: int, stop: int) -> Audio:
        """Samples ``[start, min(stop, length))``; ``start`` must not move backwards."""
        if start < self._buf_start:
            raise ValueError(f"reads must move forwards: {start} < {self._buf_start}")
        stop = min(stop, self.length)
        parts = [self._buf[:, start - self._buf_start :]]
        have = self._buf_start + self._buf.shape[1]
        while have < stop:
            piece = next(self._pieces, None)
            if piece is None:
                break
            parts.append(piece)
            have += piece.shape[1]
        self._buf = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        self._buf_start = max(start, self._buf_start)
        out: Audio = self._buf[:, : max(0, stop - start)].copy()
        return out


@contextlib.contextmanager
def wav_writer(path: str | os.PathLike[str], sample_rate: int, channels: int) -> Iterator[sf.SoundFile]:
    """Open a PCM16 WAV for writing in pieces (``.write(ndarray[n, C])``), atomically.

    The file appears at ``path`` only when the ``with`` body finishes.
    """
    with atomic_write(path) as fh:
        out = sf.SoundFile(fh, "w", samplerate=sample_rate, channels=channels, subtype="PCM_16", format="WAV")
        try:
            yield out
        finally:
            out.close()
