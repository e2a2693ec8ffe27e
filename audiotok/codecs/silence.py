"""Codes of all-zero windows, encoded once and kept (in memory, and on disk per weights and backend).

An all-zero item (the Side of a dual-mono window, digital silence) has the
codes of the zero window of the same length: a window's codes depend only on
its samples. :class:`SilenceCache` keeps them per window length (samples),
the least recently used dropped after :data:`SILENCE_CACHE` lengths. With a
folder (:meth:`SilenceCache.for_codec`: :func:`~audiotok.codecs.weights.cache_root`
``/silence/KEY/``, ``KEY`` the weights' sha256, the encoder's backend and its
library version), they also outlive the run, so a later run's dual-mono
files encode only their Mid. Files are ``.npy`` (``int64 [K, frames]``), read
with ``allow_pickle=False`` and checked before use; an unreadable or wrong
file is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import OutputError

if TYPE_CHECKING:
    from audiotok.codecs.plugin import Codec

__all__ = ["SILENCE_CACHE", "SilenceCache"]

Codes = np.ndarray[Any, np.dtype[np.int64]]

SILENCE_CACHE = 32
"""Window lengths whose zero-window codes are kept in memory (least recently used dropped)."""


class SilenceCache:
    """Zero-window codes by window length.

    Parameters
    ----------
    hop_length : int
        The codec's samples per frame (a window of ``S`` samples has ``ceil(S / hop)`` frames).
    folder : Path, optional
        Where the codes are also kept across runs; ``None``: this run only.
    """

    def __init__(self, hop_length: int, folder: Path | None = None) -> None:
        self.hop_length = hop_length
        self.folder = folder
        self._memory: OrderedDict[int, Codes] = OrderedDict()

    @classmethod
    def for_codec(cls, codec: Codec) -> SilenceCache:
        """A cache for ``codec``'s encoder, on disk when its weights' sha256 is known."""
        hop = codec.hop_length
        sha = codec.weights_sha256
        if not sha:
            return cls(hop)
        from audiotok.codecs.backends import entry_tag
        from audiotok.codecs.weights import cache_root

        return cls(hop, cache_root() / "silence" / f"{sha[:24]}-{entry_tag(codec, 'encoder')}")

    def get(self, samples: int, k: int) -> Codes | None:
        """The first ``k`` codebooks' codes of the zero window of ``samples`` samples, if known."""
        codes = self._memory.get(samples)
        if codes is None and self.folder is not None:
            codes = self._read(self.folder, samples)
            if codes is not None:
                self._remember(samples, codes)
        if codes is None or codes.shape[0] < k:
            return None
        self._memory.move_to_end(samples)
        return codes[:k]

    def put(self, samples: int, codes: Codes) -> None:
        """Keep ``codes : int64[K, frames]`` of the zero window of ``samples`` samples."""
        known = self._memory.get(samples)
        if known is not None and known.shape[0] >= codes.shape[0]:
            return
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        self._remember(samples, codes)
        if self.folder is not None:
            buf = io.BytesIO()
            np.save(buf, codes, allow_pickle=False)
            with contextlib.suppress(OSError, OutputError):  # a cache that cannot be written is no cache
                self.folder.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(self.folder / f"{samples}.npy", buf.getvalue())

    def _remember(self, samples: int, codes: Codes) -> None:
        self._memory[samples] = codes
        self._memory.move_to_end(samples)
        while len(self._memory) > SILENCE_CACHE:
            self._memory.popitem(last=False)

    def _read(self, folder: Path, samples: int) -> Codes | None:
        try:
            codes = np.load(folder / f"{samples}.npy", allow_pickle=False)
        except (OSError, ValueError):
            return None
        frames = -(-samples // self.hop_length)
        if codes.dtype != np.int64 or codes.ndim != 2 or codes.shape[1] != frames or codes.shape[0] < 1:
            return None
        return np.asarray(codes, dtype=np.int64)
