"""Header-only reading of ``.ecdc`` codes files (``torch.save`` zips), for audits of many files.

The files are ESF codes files (``docs/specs/esf-format.md``), written by
:func:`audiotok.formats.ecdc.write`.

:func:`peek` reads the zip's central directory and ``data.pkl`` only, with an
unpickler that turns tensor records into stubs and refuses every other class:
it never imports or calls anything a file names, and never reads the codes
payload. :func:`read_codes` parses the same way from the whole file, read in
one call (up to 64 MiB; larger files are read record by record). Anything
unusual returns ``None`` and the caller uses the full reader.

Why not :mod:`zipfile` (issue 9 measured it, with this module's restricted
unpickler): ``esf audit`` of 10,000 triplets (``benchmarks/bench_esf.py --n
10000``, best of 3, torch-free process) took 0.76 s with this reader and
1.31 s with ``zipfile`` at ``--jobs 1`` (1.7x), 0.62 s and 1.05 s at ``--jobs
2``; a whole :func:`read_codes` was 2.1x slower. ``zipfile`` builds a
``ZipInfo`` for every central-directory entry and a checked stream per read;
this reader parses the archive's last 4 KiB and the entries it needs, and
leaves any archive it does not expect to ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = ["peek", "read_codes"]


class _StorageRef(NamedTuple):
    type_name: str
    key: str
    numel: int


class _TensorStub(NamedTuple):
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_stub(storage: Any, offset: Any, size: Any, stride: Any = (), *_: Any) -> _TensorStub:
    if (
        type(storage) is not _StorageRef
        or type(offset) is not int
        or type(size) is not tuple
        or type(stride) is not tuple
        or not all(type(v) is int for v in size + stride)
    ):
        raise pickle.UnpicklingError("unexpected tensor record")
    return _TensorStub(storage, offset, size, stride)


class _StorageType(str):
    """Stands in for ``torch.LongStorage`` etc.: only its name is kept."""


_INT_STORAGES = {"LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "ByteStorage": 1, "CharStorage": 1}
_DTYPES = {
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "ByteStorage": "u1",
    "CharStorage": "i1",
}


class _ShapeUnpickler(pickle.Unpickler):
    """Reads a torch checkpoint's ``data.pkl`` into stubs: never imports or calls what a file names."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_stub
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _INT_STORAGES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"not on the fast path: {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and isinstance(pid[4], int)
        ):
            return _StorageRef(str(pid[1]), pid[2], pid[4])
        raise pickle.UnpicklingError("unexpected persistent id")


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record, 22 bytes
_CDIR = struct.Struct("<4s6H3L5H2L")  # central directory file header, 46 bytes
_LOCAL = struct.Struct("<4s5H3L2H")  # local file header, 30 bytes


ReadAt = Callable[[int, int], "bytes | memoryview"]
"""``read_at(offset, length)``: bytes of the file (fewer at its end)."""

_SLURP_MAX = 64 << 20
"""Files up to this size are read whole, in one call, when their codes are wanted."""


def _stored_entries(read_at: ReadAt, size: int) -> dict[str, tuple[int, int]] | None:
    """``name -> (local header offset, size)`` of an uncompressed zip, from its last 4 KiB; else ``None``."""
    tail_len = min(size, 4096)
    base = size - tail_len
    tail = read_at(base, tail_len)
    if len(tail) < _EOCD.size:
        return None
    sig, _, _, _, count, cd_size, cd_offset, comment = _EOCD.unpack_from(tail, len(tail) - _EOCD.size)
    if sig != b"PK\x05\x06" or comment or cd_offset < base or cd_offset + cd_size > size:
        return None
    entries: dict[str, tuple[int, int]] = {}
    pos = cd_offset - base
    for _ in range(count):
        if pos + _CDIR.size > len(tail):
            return None
        f = _CDIR.unpack_from(tail, pos)
        if f[0] != b"PK\x01\x02" or f[4] != 0 or f[8] != f[9]:  # signature, stored, sizes agree
            return None
        name_len, extra_len, comment_len = f[10], f[11], f[12]
        name = bytes(tail[pos + _CDIR.size : pos + _CDIR.size + name_len]).decode("utf-8", "replace")
        entries[name] = (f[16], f[9])
        pos += _CDIR.size + name_len + extra_len + comment_len
    return entries


_SLACK = 512  # read this much past a local header: its name and extra field usually fit (one read)


def _entry_bytes(read_at: ReadAt, local: int, length: int, size: int) -> bytes | memoryview | None:
    block = read_at(local, _LOCAL.size + _SLACK + length)
    if len(block) < _LOCAL.size:
        return None
    lf = _LOCAL.unpack_from(block)
    skip = _LOCAL.size + lf[9] + lf[10]
    if lf[0] != b"PK\x03\x04" or local + skip + length > size:
        return None
    if skip + length <= len(block):
        return block[skip : skip + length]
    data = read_at(local + skip, length)
    return data if len(data) == length else None


def _read_whole(fd: int, size: int) -> bytes | None:
    """The file's ``size`` bytes (``None`` if fewer come: the file changed)."""
    data = os.read(fd, size)
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            return None
        data += more
    return data


def _contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected, step = [], 1
    for dim in reversed(shape):
        expected.append(step)
        step *= dim
    return stride == tuple(reversed(expected))


def _parse(
    path: str | os.PathLike[str], *, with_codes: bool
) -> tuple[dict[str, Any], _TensorStub, bytes | memoryview | None] | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        read_at: ReadAt
        if with_codes and size <= _SLURP_MAX:  # the codes are most of the file: one read
            whole = _read_whole(fd, size)
            if whole is None:
                return None
            view = memoryview(whole)

            def read_at(offset: int, length: int) -> memoryview:
                return view[offset : offset + length]
        else:

            def read_at(offset: int, length: int) -> bytes:
                return os.pread(fd, length, offset)

        return _parse_entries(read_at, size, with_codes=with_codes)
    finally:
        os.close(fd)


def _parse_entries(
    read_at: ReadAt, size: int, *, with_codes: bool
) -> tuple[dict[str, Any], _TensorStub, bytes | memoryview | None] | None:
    entries = _stored_entries(read_at, size)
    pkl = None if entries is None else next((n for n in entries if n.endswith("/data.pkl")), None)
    if entries is None or pkl is None or entries[pkl][1] > 1 << 20:
        return None
    raw = _entry_bytes(read_at, *entries[pkl], size)
    if raw is None:
        return None
    # a buffered reader lets the C unpickler take the bytes in one go, not one read() per opcode
    obj = _ShapeUnpickler(io.BufferedReader(io.BytesIO(raw))).load()
    if not isinstance(obj, dict) or type(obj.get("audio_codes")) is not _TensorStub:
        return None
    for key, value in obj.items():
        if type(value) is _TensorStub and key != "audio_codes":
            return None
    stub: _TensorStub = obj["audio_codes"]
    prefix = pkl[: -len("data.pkl")]
    width = _INT_STORAGES[stub.storage.type_name]
    record = entries.get(f"{prefix}data/{stub.storage.key}")
    if record is None or record[1] != stub.storage.numel * width:
        return None
    if record[1] < (stub.offset + math.prod(stub.shape)) * width:
        return None
    if not with_codes:
        return obj, stub, None
    order = entries.get(f"{prefix}byteorder")
    if order is None or _entry_bytes(read_at, *order, size) != b"little":
        return None
    if not _contiguous(stub.shape, stub.stride):
        return None
    data = _entry_bytes(read_at, *record, size)
    return (obj, stub, data) if data is not None else None


_ERRORS = (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error, IndexError)


def peek(path: str | os.PathLike[str]) -> tuple[dict[str, Any], tuple[int, ...]] | None:
    """The checkpoint dict (codes replaced by a stub) and the codes' shape, from ``data.pkl`` alone.

    ``None`` when the file needs the full reader (not an uncompressed torch
    zip, other tensors, other classes): callers then fall back to
    ``torch.load(..., weights_only=True)``.

    Parses the (uncompressed) zip's central directory directly and reads only
    ``data.pkl``; the codes record is checked for its size, not read.
    """
    try:
        parsed = _parse(path, with_codes=False)
    except _ERRORS:
        return None
    return None if parsed is None else (parsed[0], parsed[1].shape)


def read_codes(path: str | os.PathLike[str]) -> tuple[dict[str, Any], np.ndarray[Any, np.dtype[Any]]] | None:
    """As :func:`peek`, plus the codes array (stored dtype and shape) read straight from the zip.

    Only for little-endian, C-contiguous integer tensors; ``None`` otherwise.
    """
    try:
        parsed = _parse(path, with_codes=True)
    except _ERRORS:
        return None
    if parsed is None:
        return None
    obj, stub, data = parsed
    if data is None:
        return None
    dtype = np.dtype(_DTYPES[stub.storage.type_name])
    count = math.prod(stub.shape)
    codes = np.frombuffer(data, dtype=dtype, count=count, offset=stub.offset * dtype.itemsize)
    return obj, codes.reshape(stub.shape)
