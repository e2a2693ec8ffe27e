"""Descript Audio Codec CLI ``.dac`` files, read without executing pickle.

``python -m dac encode`` writes ``np.save(f, {"codes": uint16[C, K, T],
"metadata": {...}})``: an ``.npy`` file holding a 0-d object array, whose
payload is a pickle. ``np.load(..., allow_pickle=True)`` (what DAC itself
does) would run any code such a file names. This module instead parses the
``.npy`` header with numpy's own header reader and unpickles the payload with
a restricted unpickler that admits only numpy arrays, numpy dtypes and scalars,
and plain containers (dict, list, tuple, str, bytes, int, float, bool, None).
Anything else is a :class:`~audiotok.errors.FormatError`.

The layout read here is that of ``DACFile`` in descript-audio-codec 1.0.0,
whose files say ``metadata["dac_version"] == "1.0.0"`` (DAC's own
``SUPPORTED_VERSIONS``, ``dac/model/base.py``). A file of another version is
read all the same when its fields are there, with a :class:`DacVersionWarning`;
one whose fields are not is a :class:`~audiotok.errors.FormatError`.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from audiotok.errors import AudiotokWarning, FormatError
from audiotok.formats._base import FrozenModel
from audiotok.formats._io import read_small

__all__ = ["KNOWN_VERSIONS", "DacFileMeta", "DacVersionWarning", "read"]

KNOWN_VERSIONS = ("1.0.0",)
"""``dac_version`` values whose layout this module reads (descript-audio-codec's ``SUPPORTED_VERSIONS``)."""


class DacVersionWarning(AudiotokWarning):
    """A ``.dac`` file of a ``dac_version`` audiotok does not know was read with the known layout."""


try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[attr-defined,no-redef]

# (module, name) pairs the payload may reference. numpy >= 2 writes ``numpy._core``,
# numpy 1.x ``numpy.core``; both resolve to the same safe constructors.
_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _reconstruct
    _ALLOWED[(_mod, "scalar")] = scalar
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = np.dtype
_MAX_BYTES = 1 << 31  # a .dac file is tokens; 2 GiB is far beyond any real one


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


class DacFileMeta(FrozenModel):
    """Metadata of a DAC CLI ``.dac`` file (``DACFile`` in descript-audio-codec 1.0.0)."""

    channels: int = Field(ge=1, description="Audio channels, each encoded separately (not Mid/Side).")
    n_codebooks: int = Field(ge=1, description="K, codebooks per channel.")
    n_frames: int = Field(ge=0, description="T, frames per channel.")
    chunk_length: int = Field(ge=0, description="Frames per encoded chunk.")
    original_length: int = Field(ge=0, description="Samples of the source audio, at its own rate.")
    sample_rate: int = Field(gt=0, description="Sample rate of the source audio in Hz (not the model's).")
    padding: bool = Field(description="Whether chunks were encoded with padding.")
    dac_version: str = Field(description="descript-audio-codec file version.")


def _payload(path: Path) -> Any:
    fh = io.BytesIO(read_small(path, _MAX_BYTES, "a .dac file"))
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ValueError as exc:
        raise FormatError(f"not a .dac file (bad .npy header: {exc})", path) from None
    if dtype != np.dtype(object) or shape != ():
        raise FormatError(f"not a .dac file (holds a {dtype} array of shape {shape}, not a dict)", path)
    try:
        obj = _RestrictedUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise FormatError(f"unsafe or corrupt .dac payload ({exc})", path) from None
    if not isinstance(obj, np.ndarray) or obj.shape != () or obj.dtype != object:
        raise FormatError("not a .dac file (payload is not a 0-d object array)", path)
    return obj[()]


def read(path: str | os.PathLike[str]) -> tuple[np.ndarray[Any, np.dtype[np.uint16]], DacFileMeta]:
    """Read a DAC CLI ``.dac`` file without executing pickle.

    Returns
    -------
    codes : ndarray[C, K, T] uint16
        Codes per channel (C channels, K codebooks, T frames), as DAC stores them.
    meta : DacFileMeta

    Raises
    ------
    FormatError
        If the file is not a ``.dac`` file, references anything but numpy arrays
        and plain containers, or its fields are missing or inconsistent.

    Warns
    -----
    DacVersionWarning
        If its ``dac_version`` is none of :data:`KNOWN_VERSIONS` (or missing)
        but the fields could be read.
    """
    p = Path(path)
    obj = _payload(p)
    if not isinstance(obj, dict) or "codes" not in obj or not isinstance(obj.get("metadata"), dict):
        raise FormatError("not a .dac file (expected a dict with 'codes' and 'metadata')", p)
    codes, meta = obj["codes"], obj["metadata"]
    if not isinstance(codes, np.ndarray) or codes.ndim != 3 or not np.issubdtype(codes.dtype, np.integer):
        raise FormatError("'codes' must be an integer array [C, K, T]", p)
    try:
        info = DacFileMeta(
            channels=int(meta["channels"]),
            n_codebooks=codes.shape[1],
            n_frames=codes.shape[2],
            chunk_length=int(meta["chunk_length"]),
            original_length=int(meta["original_length"]),
            sample_rate=int(meta["sample_rate"]),
            padding=bool(meta["padding"]),
            dac_version=str(meta.get("dac_version", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"bad .dac metadata ({exc})", p) from None
    if codes.shape[0] != info.channels:
        raise FormatError(f"codes hold {codes.shape[0]} channels, metadata says {info.channels}", p)
    if info.dac_version not in KNOWN_VERSIONS:
        version = f"dac_version {info.dac_version!r}" if info.dac_version else "no dac_version"
        warnings.warn(
            DacVersionWarning(
                f"{version} is not one audiotok knows ({', '.join(KNOWN_VERSIONS)}); "
                f"read with the {KNOWN_VERSIONS[-1]} layout, whose fields it has",
                p,
            ),
            stacklevel=2,
        )
    return codes.astype(np.uint16, copy=False), info
