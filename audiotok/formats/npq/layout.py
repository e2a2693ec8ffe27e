"""NPQ token files: DAC RVQ tokens ``[T, K]`` behind a small binary header.

Follows ``specs/npq-format.md`` (NPQ1, legacy v0) and ``specs/npq-tools.md``
(NPQ2 Mid/Side) byte for byte. All fields are little-endian.

NPQ1 (mono), header ``21 + 4K`` bytes::

    magic 4s 'NPQ1' | version u16 = 1 | K u16 | token_rate f32 (fps)
    | orig_bitrate f32 (kbps) | T u32 | vocab_sizes u32[K] | dtype_code u8

NPQ2 (stereo Mid/Side), header ``24 + 4K`` bytes, ``K = k_mid + k_side``::

    magic 4s 'NPQ2' | version u16 = 1 | channel_mode u8 = 1 | k_mid u16
    | k_side u16 | token_rate f32 | orig_bitrate f32 | T u32
    | vocab_sizes u32[K] | dtype_code u8

Legacy v0 (read only; magic ``'NPQ1'``, no version, payload uint16)::

    v0a: magic | K i32 | fps f32 | bitrate f32 | T i32 | vocab i32[K]
    v0b: magic | K i32 | fps f32 | vocab i32[K] | T i32

The payload follows the header: tokens ``[T, K]``, row-major (time-major),
unsigned integers of width 1, 2 or 4 bytes (``dtype_code`` 0, 1, 2). NPQ2
columns are ``[M_0 .. M_{k_mid-1}, S_0 .. S_{k_side-1}]``.

This module is the only place that parses NPQ headers. Every failure is raised
as :class:`~audiotok.errors.FormatError` naming the file and the reason, and
sizes are checked against the file size before anything is allocated.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from audiotok._fsio import atomic_write
from audiotok.errors import FormatError
from audiotok.formats.npq.header import (
    DTYPE_CODES,
    NPQ1_FIXED,
    NPQ2_FIXED,
    U16_MAX,
    Npq1Header,
    Npq2Header,
    NpqHeader,
    NpqLegacyHeader,
    _HeaderBase,
    smallest_dtype_code,
)

__all__ = [
    "DTYPE_CODES",
    "Npq1Header",
    "Npq2Header",
    "NpqHeader",
    "NpqLegacyHeader",
    "check_tokens",
    "read",
    "read_header",
    "smallest_dtype_code",
    "write",
]

# The largest header any valid file can have: NPQ2 with K = 2 * 65535.
_MAX_HEADER = 24 + 4 * 2 * U16_MAX
_FIRST_READ = 4096
_V0_K = struct.Struct("<4si")
_WritableHeader = TypeVar("_WritableHeader", Npq1Header, Npq2Header)


# -- parsing --------------------------------------------------------------------------
def _validate(cls: type[_HeaderBase], path: Path, **fields: Any) -> Any:
    try:
        return cls(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise FormatError(
            f"invalid {cls.__name__[:4]} header: {where + ': ' if where else ''}{msg}", path
        ) from None


#: Validated NPQ1/NPQ2 headers by their header bytes minus T. A corpus encoded
#: with one codec setting repeats a handful of headers, differing only in T,
#: over thousands of files; a hit skips validation. Only valid headers are
#: stored; the file size is still checked for every file.
_HEADER_CACHE: dict[bytes, Npq1Header | Npq2Header] = {}
_HEADER_CACHE_MAX = 1024


def _cache_key(buf: bytes, fixed_size: int, end: int) -> bytes:
    """Header bytes ``buf[:end]`` without T, the u32 that ends the fixed fields."""
    return bytes(buf[: fixed_size - 4]) + bytes(buf[fixed_size:end])


def _with_seq_len(header: Npq1Header | Npq2Header, seq_len: int) -> Npq1Header | Npq2Header:
    """``header`` with another T.

    No validator of the header models looks at T, and a u32 read from the file
    is always a valid ``seq_len``, so copying is equivalent to validating anew
    (and about three times cheaper).
    """
    return header if header.seq_len == seq_len else header.model_copy(update={"seq_len": seq_len})


def _cached(key: bytes, seq_len: int, size: int, path: Path) -> Npq1Header | Npq2Header | None:
    """The cached header for ``key`` with T = ``seq_len``, size-checked; None on a miss."""
    cached = _HEADER_CACHE.get(key)
    if cached is None:
        return None
    hit = _with_seq_len(cached, seq_len)
    _check_size(hit, size, path)
    return hit


def _remember(key: bytes, header: Npq1Header | Npq2Header) -> None:
    if len(_HEADER_CACHE) >= _HEADER_CACHE_MAX:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[key] = header


class _TruncatedHeader(FormatError):
    """The bytes read so far end inside the header."""


def _need(buf: bytes, n: int, path: Path, what: str) -> None:
    if len(buf) < n:
        raise _TruncatedHeader(f"truncated header: {what} needs {n} bytes, file has {len(buf)}", path)


def _check_size(header: _HeaderBase, size: int, path: Path) -> None:
    if size != header.file_size:
        hs, ps = header.header_size, header.payload_size
        if size < header.file_size:
            raise FormatError(
                f"short payload: header says T={header.seq_len} K={header.n_codebooks} "
                f"{header.dtype.name} = {ps} bytes, file has {size - hs}",
                path,
            )
        raise FormatError(f"{size - header.file_size} trailing bytes after the {ps}-byte payload", path)


def _parse_v1(buf: bytes, size: int, path: Path) -> Npq1Header:
    _need(buf, NPQ1_FIXED.size, path, "NPQ1")
    _, version, k, rate, br, t = NPQ1_FIXED.unpack_from(buf)
    if version != 1:
        raise FormatError(f"unsupported NPQ1 version {version} (this reader knows 1)", path)
    if k < 1:
        raise FormatError("NPQ1 header has K = 0 codebooks", path)
    end = NPQ1_FIXED.size + 4 * k + 1
    _need(buf, end, path, f"NPQ1 with K={k}")
    key = _cache_key(buf, NPQ1_FIXED.size, end)
    hit = _cached(key, t, size, path)
    if hit is not None:
        return hit  # type: ignore[return-value]  # the key starts with b"NPQ1"
    vocab = struct.unpack_from(f"<{k}I", buf, NPQ1_FIXED.size)
    dtype_code = buf[end - 1]
    if dtype_code not in DTYPE_CODES:
        raise FormatError(f"unknown dtype_code {dtype_code} (expected 0, 1 or 2)", path)
    header: Npq1Header = _validate(
        Npq1Header,
        path,
        token_rate=rate,
        orig_bitrate_kbps=br,
        seq_len=t,
        vocab_sizes=vocab,
        dtype_code=dtype_code,
    )
    _remember(key, header)
    _check_size(header, size, path)
    return header


def _parse_v2(buf: bytes, size: int, path: Path) -> Npq2Header:
    _need(buf, NPQ2_FIXED.size, path, "NPQ2")
    _, version, mode, k_mid, k_side, rate, br, t = NPQ2_FIXED.unpack_from(buf)
    if version != 1:
        raise FormatError(f"unsupported NPQ2 version {version} (this reader knows 1)", path)
    if mode != 1:
        raise FormatError(f"unknown NPQ2 channel_mode {mode} (expected 1 = Mid/Side)", path)
    k = k_mid + k_side
    if k_mid < 1:
        raise FormatError("NPQ2 header has k_mid = 0 codebooks", path)
    end = NPQ2_FIXED.size + 4 * k + 1
    _need(buf, end, path, f"NPQ2 with K={k}")
    key = _cache_key(buf, NPQ2_FIXED.size, end)
    hit = _cached(key, t, size, path)
    if hit is not None:
        return hit  # type: ignore[return-value]  # the key starts with b"NPQ2"
    vocab = struct.unpack_from(f"<{k}I", buf, NPQ2_FIXED.size)
    dtype_code = buf[end - 1]
    if dtype_code not in DTYPE_CODES:
        raise FormatError(f"unknown dtype_code {dtype_code} (expected 0, 1 or 2)", path)
    header: Npq2Header = _validate(
        Npq2Header,
        path,
        token_rate=rate,
        orig_bitrate_kbps=br,
        seq_len=t,
        vocab_sizes=vocab,
        dtype_code=dtype_code,
        k_mid=k_mid,
        k_side=k_side,
    )
    _remember(key, header)
    _check_size(header, size, path)
    return header


def _legacy_candidates(buf: bytes, size: int) -> list[dict[str, Any]]:
    """Every legacy layout whose sizes add up exactly to ``size``."""
    if len(buf) < _V0_K.size:
        return []
    _, k = _V0_K.unpack_from(buf)
    if k < 1 or 16 + 4 * k > size:
        return []
    found: list[dict[str, Any]] = []
    # v0a: magic, K, fps, bitrate, T, vocab[K]
    if len(buf) >= 20 + 4 * k:
        rate, br, t = struct.unpack_from("<ffi", buf, 8)
        vocab = struct.unpack_from(f"<{k}i", buf, 20)
        if t >= 0 and 20 + 4 * k + 2 * t * k == size:
            found.append(
                dict(
                    layout="v0a",
                    token_rate=rate,
                    orig_bitrate_kbps=br,
                    seq_len=t,
                    vocab_sizes=vocab,
                )
            )
    # v0b: magic, K, fps, vocab[K], T
    if len(buf) >= 16 + 4 * k:
        (rate,) = struct.unpack_from("<f", buf, 8)
        vocab = struct.unpack_from(f"<{k}i", buf, 12)
        (t,) = struct.unpack_from("<i", buf, 12 + 4 * k)
        if t >= 0 and 16 + 4 * k + 2 * t * k == size:
            found.append(dict(layout="v0b", token_rate=rate, seq_len=t, vocab_sizes=vocab))
    return found


def _parse_legacy(buf: bytes, size: int, path: Path, v1_error: FormatError) -> NpqLegacyHeader:
    valid: list[NpqLegacyHeader] = []
    for fields in _legacy_candidates(buf, size):
        try:
            valid.append(NpqLegacyHeader(**fields))
        except ValidationError:
            continue
    if len(valid) == 1:
        return valid[0]
    if len(valid) > 1:
        raise FormatError("ambiguous legacy NPQ v0 header: both v0 layouts fit; not guessing", path)
    raise v1_error


def _parse(buf: bytes, size: int, path: Path) -> NpqHeader:
    _need(buf, 4, path, "magic")
    magic = buf[:4]
    if magic == b"NPQ2":
        return _parse_v2(buf, size, path)
    if magic != b"NPQ1":
        shown = magic.decode("ascii", "backslashreplace")
        raise FormatError(f"not an NPQ file (magic {shown!r}, expected 'NPQ1' or 'NPQ2')", path)
    try:
        return _parse_v1(buf, size, path)
    except FormatError as exc:
        # A v1 header always has version == 1 and K >= 1 in bytes 4..8; a legacy
        # header has K as i32 there. Only if v1 fails do we look for a legacy
        # layout, and only one whose sizes add up exactly is accepted.
        return _parse_legacy(buf, size, path, exc)


def _read_head(fh: Any, size: int, path: Path) -> tuple[NpqHeader, int]:
    buf = fh.read(min(size, _FIRST_READ))
    try:
        return _parse(buf, size, path), size
    except _TruncatedHeader:
        if len(buf) >= min(size, _MAX_HEADER):
            raise
    # K is large: read up to the largest possible header and parse again.
    buf += fh.read(min(size, _MAX_HEADER) - len(buf))
    return _parse(buf, size, path), size


def _open(path: Path) -> Any:
    try:
        fh = open(path, "rb", buffering=0)
    except IsADirectoryError:
        raise FormatError("is a directory, not an .npq file", path) from None
    except FileNotFoundError:
        raise FormatError("no such file", path) from None
    except OSError as exc:
        raise FormatError(f"cannot open: {exc.strerror or exc}", path) from None
    return fh


def read_header(path: str | os.PathLike[str]) -> NpqHeader:
    """Read and validate the header of an ``.npq`` file.

    The whole file is checked for consistency: the header must describe
    exactly the bytes that follow it (no short payload, no trailing bytes).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npq`` file.

    Returns
    -------
    Npq1Header or Npq2Header or NpqLegacyHeader

    Raises
    ------
    FormatError
        If the file is missing, unreadable or not a valid NPQ file.
    """
    p = path if isinstance(path, Path) else Path(path)
    with _open(p) as fh:
        header, _ = _read_head(fh, os.fstat(fh.fileno()).st_size, p)
    return header


def read(
    path: str | os.PathLike[str], *, mmap: bool = False
) -> tuple[np.ndarray[Any, np.dtype[Any]], NpqHeader]:
    """Read an ``.npq`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npq`` file.
    mmap : bool
        Map the payload read-only instead of reading it into memory.

    Returns
    -------
    tokens : ndarray[T, K]
        Token matrix in the file's dtype (uint8, uint16 or uint32), time-major.
        NPQ2 columns are Mid codebooks then Side codebooks.
    header : Npq1Header or Npq2Header or NpqLegacyHeader

    Raises
    ------
    FormatError
        If the file is not a valid NPQ file. Token values are not range-checked
        here; see :func:`check_tokens`.
    """
    p = path if isinstance(path, Path) else Path(path)
    with _open(p) as fh:
        header, _ = _read_head(fh, os.fstat(fh.fileno()).st_size, p)
        shape = (header.seq_len, header.n_codebooks)
        if mmap:
            if header.payload_size == 0:
                return np.zeros(shape, dtype=header.dtype), header
            mapped = np.memmap(fh, dtype=header.dtype, mode="r", offset=header.header_size, shape=shape)
            return mapped, header
        tokens = np.empty(shape, dtype=header.dtype)
        fh.seek(header.header_size)
        got = _read_into(fh, tokens)
    if got != tokens.nbytes:  # the file changed under us
        raise FormatError("payload shorter than the header says (file changed while reading?)", p)
    return tokens, header


def _read_into(fh: Any, out: np.ndarray[Any, np.dtype[Any]]) -> int:
    """Fill the C-contiguous ``out`` from ``fh``; return the number of bytes read.

    Cheaper than ``np.fromfile(fh)`` on a Python file object, which duplicates the
    file descriptor and reopens it as a C stream on every call.
    """
    if out.nbytes == 0:
        return 0  # memoryview cannot cast a shape with a 0 in it
    view = out.data.cast("B")
    filled = 0
    while filled < len(view):
        n = fh.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def check_tokens(
    tokens: np.ndarray[Any, np.dtype[Any]],
    vocab_sizes: tuple[int, ...],
    path: str | os.PathLike[str] | None = None,
) -> None:
    """Check ``0 <= tokens[:, k] < vocab_sizes[k]`` for every codebook ``k``.

    Raises
    ------
    FormatError
        Naming the first codebook with an out-of-range token.
    """
    if tokens.ndim != 2 or tokens.shape[1] != len(vocab_sizes):
        raise FormatError(f"tokens have shape {tuple(tokens.shape)}, expected [T, {len(vocab_sizes)}]", path)
    if tokens.shape[0] == 0:
        return
    low = tokens.min(axis=0)
    high = tokens.max(axis=0)
    for k, (lo, hi, v) in enumerate(zip(low.tolist(), high.tolist(), vocab_sizes, strict=True)):
        if lo < 0 or hi >= v:
            bad = lo if lo < 0 else hi
            raise FormatError(f"codebook {k}: token {bad} outside [0, {v})", path)


def write(
    path: str | os.PathLike[str],
    tokens: np.ndarray[Any, np.dtype[Any]],
    header: _WritableHeader,
) -> _WritableHeader:
    """Write tokens ``[T, K]`` to an ``.npq`` file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. A temp file in the same folder is written, fsynced and
        moved over ``path``, so ``path`` is either the old file or the new one.
    tokens : ndarray[T, K]
        Integer tokens, ``0 <= tokens[:, k] < vocab_sizes[k]``.
    header : Npq1Header or Npq2Header
        ``seq_len`` and ``vocab_sizes`` must match ``tokens``. Build it without
        ``dtype_code`` to get the smallest dtype that holds the vocabulary.

    Returns
    -------
    Npq1Header or Npq2Header
        The header as written.

    Raises
    ------
    FormatError
        If the shape or a token value does not match the header.
    """
    if not isinstance(header, (Npq1Header, Npq2Header)):
        raise FormatError("only NPQ1 and NPQ2 files can be written", path)
    arr = np.asarray(tokens)
    if not np.issubdtype(arr.dtype, np.integer):
        raise FormatError(f"tokens must be integers, got {arr.dtype}", path)
    if arr.ndim != 2 or arr.shape != (header.seq_len, header.n_codebooks):
        raise FormatError(
            f"tokens have shape {tuple(arr.shape)}, header says [T={header.seq_len}, K={header.n_codebooks}]",
            path,
        )
    check_tokens(arr, header.vocab_sizes, path)
    payload = np.ascontiguousarray(arr, dtype=header.dtype)
    with atomic_write(path) as fh:
        fh.write(header.to_bytes())
        fh.write(payload.data)
    return header
