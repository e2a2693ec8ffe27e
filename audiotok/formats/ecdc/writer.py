"""Writing ``.ecdc`` files: :func:`write`, torch-free for any codes with frames (:mod:`._save`).

See :mod:`audiotok.formats.ecdc` for the file layout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from audiotok import __version__
from audiotok._fsio import atomic_write
from audiotok.errors import FormatError
from audiotok.formats.ecdc._save import save_bytes
from audiotok.formats.ecdc.models import EcdcMeta

__all__ = ["write"]


def write(
    path: str | os.PathLike[str],
    codes: np.ndarray[Any, Any],
    meta: EcdcMeta,
    *,
    scales: list[Any] | None = None,
) -> EcdcMeta:
    """Write codes to an ``.ecdc`` file atomically (ESF v1 torch checkpoint).

    The bytes are those ``torch.save`` writes for the dict (the package
    docstring, :mod:`audiotok.formats.ecdc`), made without importing torch
    (:mod:`audiotok.formats.ecdc._save`); codes without frames go through
    ``torch.save`` itself.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder is created.
    codes : ndarray[T, Cb] of integers
        Time-major RVQ codes; stored as int64 ``audio_codes [1, Cb, T]``.
    meta : EcdcMeta
        Rates and model; ``n_codebooks`` / ``n_frames`` are taken from ``codes``
        and ``audiotok_version`` is filled in when ``None``.
    scales : list, optional
        ``audio_scales`` (one entry per encoded segment; ``None`` entries for
        models without input normalisation). Default ``[None]``.

    Returns
    -------
    EcdcMeta
        The metadata as written.

    Raises
    ------
    FormatError
        If ``codes`` is not a 2-D array of non-negative integers.
    """
    p = Path(path)
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.shape[1] < 1 or not np.issubdtype(arr.dtype, np.integer):
        raise FormatError(f"codes must be an integer array [T, Cb]; got {arr.dtype} {list(arr.shape)}", p)
    if arr.size and int(arr.min()) < 0:
        raise FormatError("codes must be non-negative", p)
    out = meta.model_copy(
        update={
            "n_frames": int(arr.shape[0]),
            "n_codebooks": int(arr.shape[1]),
            "audiotok_version": meta.audiotok_version or __version__,
        }
    )
    stored = np.ascontiguousarray(arr.T, dtype=np.int64)  # [Cb, T]
    payload: dict[str, Any] = {
        "audio_codes": None,  # torch.from_numpy(stored)[None]
        "audio_scales": [None] if scales is None else list(scales),
        "audio_length": out.audio_length,
        "sample_rate": out.sample_rate,
        "fps": out.fps,
        "bandwidth": out.bandwidth,
        "model": out.model,
        "audiotok_version": out.audiotok_version,
    }
    data = save_bytes(payload, "audio_codes", stored)  # torch.save's bytes, without importing torch
    with atomic_write(p) as fh:
        if data is not None:
            fh.write(data)
        else:  # no frames: torch.save itself
            import torch

            torch.save({**payload, "audio_codes": torch.from_numpy(stored)[None]}, fh)
    return out
