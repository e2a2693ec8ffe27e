"""ESF ``NAME.cond.npy`` files: the header alone, or the matrix, never unpickled.

Follows ``docs/specs/esf-format.md`` (``NAME.cond.npy``, ``[T, D]``).

:func:`read_npy_header` gives shape and dtype from the header (and checks the
file is as long as the header says), for audits of many files;
:func:`read_cond_array` loads the matrix with ``allow_pickle=False``. Both are
re-exported by :mod:`audiotok.formats.esf`.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import numpy as np

from audiotok.errors import FormatError
from audiotok.formats._io import open_fd

__all__ = ["read_cond_array", "read_npy_header"]

_NPY_HEADER = re.compile(
    r"\{'descr': '([<>|=][a-zA-Z]\d{1,2})', 'fortran_order': (True|False), 'shape': \(((?:\d+, ?)*\d*)\), \}"
)
_NPY_DTYPES: dict[str, np.dtype[Any]] = {}


def _npy_header_fallback(fd: int) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """numpy's own header parser, for headers the regular expression does not match."""
    with os.fdopen(os.dup(fd), "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        return tuple(shape), dtype, fh.tell()


def read_npy_header(npy_path: str | os.PathLike[str]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of an ``.npy`` file from its header alone (no data read).

    The usual header (as numpy writes it) is matched by a regular expression;
    anything else goes through numpy's own header parser. The file size is
    checked against the header, so a truncated matrix is found here as
    ``np.load`` would find it.

    Raises
    ------
    FormatError
        If the file is missing, not an ``.npy`` file, shorter than its header
        says, or holds Python objects (reading those would unpickle them).
    """
    fd = open_fd(npy_path, "an .npy file")
    try:
        head = os.pread(fd, 256, 0)
        m = None
        if head[:8] == b"\x93NUMPY\x01\x00" and len(head) >= 10:
            hlen = int.from_bytes(head[8:10], "little")
            m = _NPY_HEADER.match(head[10 : 10 + hlen].decode("latin1"))
        if m is not None:
            shape = tuple(int(v) for v in m.group(3).replace(" ", "").split(",") if v)
            dtype = _NPY_DTYPES.get(m.group(1))
            if dtype is None:
                dtype = _NPY_DTYPES.setdefault(m.group(1), np.dtype(m.group(1)))
            start = 10 + hlen
        else:
            shape, dtype, start = _npy_header_fallback(fd)
        size = os.fstat(fd).st_size
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise FormatError(f"not an .npy file ({exc})", npy_path) from None
    finally:
        os.close(fd)
    if dtype.hasobject:
        raise FormatError(
            f"holds Python objects (dtype {dtype}): reading it would unpickle them, so it is not read",
            npy_path,
        )
    need = math.prod(shape) * dtype.itemsize
    if size < start + need:
        raise FormatError(f"truncated: {size - start} data bytes, the header says {need}", npy_path)
    return shape, dtype


_READ_WHOLE = 64 << 20
"""``.npy`` files up to this size are read in one call and viewed in place."""


def _from_buffer(buf: bytearray) -> np.ndarray[Any, Any] | None:
    """The array of a whole ``.npy`` file in ``buf``, viewed in place; ``None`` unless the usual header.

    The usual header (version 1.0, C order, a plain dtype: as numpy writes it)
    is matched by :data:`_NPY_HEADER`; anything else is left to ``np.load``.
    """
    if buf[:8] != b"\x93NUMPY\x01\x00" or len(buf) < 10:
        return None
    end = 10 + int.from_bytes(buf[8:10], "little")
    m = _NPY_HEADER.match(buf[10:end].decode("latin1"))
    if m is None or m.group(2) != "False":
        return None
    dtype = np.dtype(m.group(1))
    shape = tuple(int(v) for v in m.group(3).replace(" ", "").split(",") if v)
    if dtype.hasobject or len(buf) - end != math.prod(shape) * dtype.itemsize:
        return None  # np.load says why
    return np.frombuffer(buf, dtype=dtype, count=math.prod(shape), offset=end).reshape(shape)


def read_cond_array(npy_path: str | os.PathLike[str]) -> np.ndarray[Any, Any]:
    """Load ``NAME.cond.npy`` (pickle refused), unchecked against its JSON.

    Small files with the usual header are read in one call and parsed here;
    anything else goes through ``np.load(..., allow_pickle=False)``.

    Returns
    -------
    ndarray
        The stored array, expected ``[T, D]`` float16 or float32.

    Raises
    ------
    FormatError
        If the file is missing, not a single ``.npy`` array, or holds objects.
    """
    fd = open_fd(npy_path, "an .npy file")
    try:
        try:
            size = os.fstat(fd).st_size
            buf = bytearray(size) if size <= _READ_WHOLE else None
            got = os.readv(fd, [buf]) if buf is not None and size else 0
        finally:
            os.close(fd)
        if buf is not None and got == size:
            arr = _from_buffer(buf)
            if arr is not None:
                return arr
        cond = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise FormatError(f"not a readable .npy array ({str(exc).splitlines()[0][:200]})", npy_path) from None
    if not isinstance(cond, np.ndarray):
        raise FormatError("not a single .npy array", npy_path)
    return cond
