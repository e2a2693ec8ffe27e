"""Write an ESF ``.ecdc`` dict the way ``torch.save`` does, byte for byte, without PyTorch.

``docs/specs/esf-format.md`` says ``.ecdc`` files are ``torch.save``
checkpoints. :func:`save_bytes` gives the bytes ``torch.save(payload, f)``
writes (torch >= 2.10, ``pickle_protocol=2``, the zip layout of its
``PyTorchStreamWriter``) for the one payload audiotok writes: a dict whose
``audio_codes`` is a C-contiguous int64 tensor ``[1, Cb, T]`` and whose other
values are plain ``None``/``int``/``float``/``str`` and lists of them. Why:
importing torch costs about 2.7 s, more than encoding a 20 s file with
EnCodec on OpenVINO (``esf encode`` runs without torch on a warm backend
cache). ``tests/formats/ecdc/test_save.py`` compares the bytes with the
installed ``torch.save`` over random payloads.

The archive (``torch.save`` on a file object, so every record is under
``archive/``), in this order, each record stored uncompressed, its data
aligned to 64 bytes by a ``FB`` extra field of ``Z`` bytes, followed by a
data descriptor:

    data.pkl                 the dict, pickle protocol 2; the codes tensor is
                             ``torch._utils._rebuild_tensor_v2`` of the
                             persistent storage ``('storage', torch.LongStorage, '0', 'cpu', numel)``
    .format_version          ``1``
    .storage_alignment       ``64``
    byteorder                ``little``
    data/0                   the codes, little-endian int64
    version                  ``3\\n``
    .data/serialization_id   40 digits: a combination of the record names' hashes and of their crc32s

then the central directory, a zip64 end-of-central-directory record, its
locator and the end-of-central-directory record.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zlib
from typing import Any, ClassVar

import numpy as np

__all__ = ["ALIGNMENT", "save_bytes"]

ALIGNMENT = 64
"""Bytes to which ``torch.save`` aligns every record's data (``.storage_alignment``)."""
_LIMIT = 0xFFFF_0000  # the archive stays under 4 GiB: no zip64 fields in any record
_M64 = (1 << 64) - 1
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_DESCRIPTOR = struct.Struct("<IIII")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_UTF8_AND_DESCRIPTOR = 0x0808  # general-purpose flags of every record (miniz, as torch builds it)


# -- the serialization id: libstdc++'s std::hash<std::string> and c10::hash_combine ----------


def _hash_bytes(data: bytes, seed: int = 0xC70F6907) -> int:
    """libstdc++'s 64-bit ``std::_Hash_bytes`` (what ``std::hash<std::string>`` gives on Linux)."""
    mul = (0xC6A4A793 << 32) + 0x5BD1E995
    n = len(data)
    aligned = n & ~7
    h = (seed ^ (n * mul)) & _M64
    for i in range(0, aligned, 8):
        word = (int.from_bytes(data[i : i + 8], "little") * mul) & _M64
        h = ((h ^ ((word ^ (word >> 47)) * mul & _M64)) * mul) & _M64
    if n & 7:
        h = ((h ^ int.from_bytes(data[aligned:], "little")) * mul) & _M64
    h = ((h ^ (h >> 47)) * mul) & _M64
    return h ^ (h >> 47)


def _hash_combine(seed: int, value: int) -> int:
    """``c10::hash_combine`` on 64-bit ``size_t``."""
    return (seed ^ ((value + 0x9E3779B9 + ((seed << 6) & _M64) + (seed >> 2)) & _M64)) & _M64


# torch combines the name hashes in the iteration order of its ``files_written_``
# (a ``std::unordered_set``): for these six names, the reverse of the writing order.
_NAMES_HASH = 0
for _name in ("version", "data/0", "byteorder", ".storage_alignment", ".format_version", "data.pkl"):
    _NAMES_HASH = _hash_combine(_NAMES_HASH, _hash_bytes(_name.encode()))


# -- data.pkl --------------------------------------------------------------------------------


class _Global:
    """A ``module.name`` global written as pickle's ``GLOBAL`` opcode without importing it."""

    def __init__(self, module: str, name: str) -> None:
        self.text = f"{module}\n{name}\n".encode()

    def __call__(self, *args: Any) -> Any:  # pickle asks that a reduce's function be callable
        raise TypeError("a stand-in for a torch global; never called")


class _Codes:
    """The codes tensor's pickle: ``_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())``."""

    def __init__(self, shape: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.shape, self.stride = shape, stride


_REBUILD = _Global("torch._utils", "_rebuild_tensor_v2")
_LONG_STORAGE = _Global("torch", "LongStorage")


#: The Python implementation of the pickler (its dispatch is a dict a subclass extends).
_PythonPickler: Any = getattr(pickle, "_Pickler")  # noqa: B009  # private in typeshed


class _Pickler(_PythonPickler):  # type: ignore[misc]
    """Protocol 2, as ``torch.save``'s pickler writes the payload (the C pickler would import ``torch``)."""

    dispatch: ClassVar[dict[type, Any]] = dict(_PythonPickler.dispatch)

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _StorageId):
            # str(0), like torch's storage key: a new string, so a "0" of the payload is not memo-shared
            return ("storage", _LONG_STORAGE, str(0), "cpu", obj.numel)
        return None

    def _save_global(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + obj.text)
        self.memoize(obj)

    def _save_codes(self, obj: _Codes) -> None:
        numel = int(np.prod(obj.shape, dtype=np.int64))
        hooks: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self.save_reduce(_REBUILD, (_StorageId(numel), 0, obj.shape, obj.stride, False, hooks), obj=obj)

    dispatch[_Global] = _save_global
    dispatch[_Codes] = _save_codes


class _StorageId:
    def __init__(self, numel: int) -> None:
        self.numel = numel


def _pickle(payload: dict[str, Any], codes_key: str, codes: _Codes) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump({k: (codes if k == codes_key else v) for k, v in payload.items()})
    return buf.getvalue()


# -- the zip archive --------------------------------------------------------------------------


def _records(pkl: bytes, codes: bytes) -> list[tuple[str, bytes]]:
    records = [
        ("data.pkl", pkl),
        (".format_version", b"1"),
        (".storage_alignment", str(ALIGNMENT).encode()),
        ("byteorder", b"little"),
        ("data/0", codes),
        ("version", b"3\n"),
    ]
    crcs = 0
    for _, data in records:
        crcs = _hash_combine(crcs, zlib.crc32(data))
    records.append((".data/serialization_id", f"{_NAMES_HASH:020d}{crcs:020d}".encode()))
    return records


def _archive(records: list[tuple[str, bytes]]) -> bytes:
    out = bytearray()
    central = bytearray()
    for short, data in records:
        name = f"archive/{short}".encode()
        offset = len(out)
        start = offset + _LOCAL.size + len(name) + 4
        pad = -start % ALIGNMENT
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        crc = zlib.crc32(data)
        out += _LOCAL.pack(0x04034B50, 0, _UTF8_AND_DESCRIPTOR, 0, 0, 0, 0, 0, 0, len(name), len(extra))
        out += name + extra + data
        out += _DESCRIPTOR.pack(0x08074B50, crc, len(data), len(data))
        central += _CENTRAL.pack(
            0x02014B50, 0, 0, _UTF8_AND_DESCRIPTOR, 0, 0, 0, crc, len(data), len(data),
            len(name), 0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += name
    cd_offset, n = len(out), len(records)
    out += central
    zip64_offset = len(out)
    size = _ZIP64_END.size - 12  # the record's size after its signature and this field
    out += _ZIP64_END.pack(0x06064B50, size, 0x031E, 0x2D, 0, 0, n, n, len(central), cd_offset)
    out += _ZIP64_LOCATOR.pack(0x07064B50, 0, zip64_offset, 1)
    out += _END.pack(0x06054B50, 0, 0, n, n, len(central), cd_offset, 0)
    return bytes(out)


def save_bytes(payload: dict[str, Any], codes_key: str, codes: np.ndarray[Any, Any]) -> bytes | None:
    """What ``torch.save(payload, f)`` writes, ``payload[codes_key]`` being ``torch.from_numpy(codes)[None]``.

    Parameters
    ----------
    payload : dict
        String keys; values ``None``, ``bool``, ``int``, ``float``, ``str``
        or lists of them (``payload[codes_key]`` is replaced by the codes).
    codes_key : str
    codes : ndarray[Cb, T] int64
        C-contiguous; stored as the tensor ``[1, Cb, T]``, whose strides are
        those ``torch.from_numpy`` takes from the array (NumPy may give a
        dimension of size 1 any stride) and ``Cb`` times the first for the new dimension.

    Returns
    -------
    bytes or None
        ``None`` where this layout is not known to be ``torch.save``'s (no
        codes, codes not 2-D int64 C-contiguous, an archive of 4 GiB or
        more): the caller uses ``torch.save``.
    """
    arr = np.asarray(codes)
    if (
        arr.ndim != 2
        or arr.dtype != np.int64
        or arr.size == 0
        or not arr.flags.c_contiguous
        or arr.nbytes >= _LIMIT
    ):
        return None
    data = arr.astype("<i8", copy=False).tobytes()
    cb, t = (int(d) for d in arr.shape)
    stride = tuple(int(s) // arr.itemsize for s in arr.strides)
    tensor = _Codes((1, cb, t), (cb * stride[0], *stride))
    return _archive(_records(_pickle(payload, codes_key, tensor), data))
