"""NPQ token files: reading DAC RVQ tokens ``[T, K]`` behind a small binary header.

Follows ``docs/specs/npq-format.md`` (NPQ1, legacy v0) and
``docs/specs/npq-tools.md`` (NPQ2 Mid/Side) byte for byte. The header
layouts, NPQ1, NPQ2 and legacy v0a / v0b, are one table
(:data:`audiotok.formats.npq.table.LAYOUTS`) that a single parser walks:
fixed fields, ``vocab_sizes[K]``, fixed fields.

The payload follows the header: tokens ``[T, K]``, row-major (time-major),
unsigned integers of width 1, 2 or 4 bytes (``dtype_code`` 0, 1, 2; legacy
files: always 2). NPQ2 columns are ``[M_0 .. M_{k_mid-1}, S_0 .. S_{k_side-1}]``.

This module is the only place that parses NPQ headers. Every failure is raised
as :class:`~audiotok.errors.FormatError` naming the file and the reason, and
sizes are checked against the file size before anything is allocated. The
writer is :mod:`audiotok.formats.npq.writer`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from audiotok.errors import FormatError
from audiotok.formats._io import open_binary
from audiotok.formats.npq.header import (
    DTYPE_CODES,
    U16_MAX,
    Npq1Header,
    Npq2Header,
    NpqHeader,
    NpqLegacyHeader,
    _HeaderBase,
)
from audiotok.formats.npq.table import LEGACY, VERSIONED, Layout

__all__ = ["read", "read_header"]

# The largest header any valid file can have: NPQ2 with K = 2 * 65535.
_MAX_HEADER = 24 + 4 * 2 * U16_MAX
_FIRST_READ = 4096
_MODELS: dict[str, type[Npq1Header] | type[Npq2Header]] = {"NPQ1": Npq1Header, "NPQ2": Npq2Header}
_CHECKED = frozenset({"magic", "version", "channel_mode", "K"})
"""Fields the parser checks itself; the others are the header model's."""
_LEGACY_ITEMSIZE = DTYPE_CODES[1].itemsize  # legacy payloads are uint16


# -- parsing --------------------------------------------------------------------------
def _model_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The parsed fields the header model validates (the others are checked by the parser)."""
    return {k: v for k, v in fields.items() if k not in _CHECKED}


def _validate(cls: type[_HeaderBase], path: Path, fields: dict[str, Any]) -> Any:
    try:
        return cls(**_model_fields(fields))
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


def _with_seq_len(header: Npq1Header | Npq2Header, seq_len: int) -> Npq1Header | Npq2Header:
    """``header`` with another T.

    No validator of the header models looks at T, and a u32 read from the file
    is always a valid ``seq_len``, so copying is equivalent to validating anew
    (and about three times cheaper).
    """
    return header if header.seq_len == seq_len else header.model_copy(update={"seq_len": seq_len})


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


def _check_head(layout: Layout, head: dict[str, Any], path: Path) -> None:
    """The fields a versioned header must have before K can be trusted."""
    if head["version"] != 1:
        raise FormatError(f"unsupported {layout.name} version {head['version']} (this reader knows 1)", path)
    if head.get("channel_mode", 1) != 1:
        raise FormatError(f"unknown NPQ2 channel_mode {head['channel_mode']} (expected 1 = Mid/Side)", path)
    first = "K" if "K" in head else "k_mid"  # NPQ2's K = k_mid + k_side; Mid needs a codebook
    if head[first] < 1:
        raise FormatError(f"{layout.name} header has {first} = 0 codebooks", path)


def _cached(layout: Layout, buf: bytes, size: int, path: Path) -> Npq1Header | Npq2Header | None:
    """The cached header ``buf`` starts with, size-checked; ``None`` on a miss.

    Only valid headers are cached, and the key is every header byte but T, so a
    hit has passed every check below; K is read without them, as a guess.
    """
    if layout.seq_len_index is None:  # T after vocab_sizes: a legacy layout, never cached
        return None
    values = layout.head.unpack_from(buf)
    end = layout.header_size(sum(map(values.__getitem__, layout.k_index)))
    if len(buf) < end:
        return None
    cached = _HEADER_CACHE.get(layout.without_seq_len(buf, end))
    if cached is None:
        return None
    hit = _with_seq_len(cached, values[layout.seq_len_index])
    _check_size(hit, size, path)
    return hit


def _parse_versioned(layout: Layout, buf: bytes, size: int, path: Path) -> Npq1Header | Npq2Header:
    _need(buf, layout.head.size, path, layout.name)
    hit = _cached(layout, buf, size, path)
    if hit is not None:
        return hit
    head = layout.unpack_head(buf)
    _check_head(layout, head, path)
    k = layout.n_codebooks(head)
    end = layout.header_size(k)
    _need(buf, end, path, f"{layout.name} with K={k}")
    fields = layout.unpack_rest(buf, k, head)
    if fields["dtype_code"] not in DTYPE_CODES:
        raise FormatError(f"unknown dtype_code {fields['dtype_code']} (expected 0, 1 or 2)", path)
    header: Npq1Header | Npq2Header = _validate(_MODELS[layout.name], path, fields)
    _remember(layout.without_seq_len(buf, end), header)
    _check_size(header, size, path)
    return header


def _legacy_candidates(buf: bytes, size: int) -> list[NpqLegacyHeader]:
    """Every valid legacy header whose sizes add up exactly to ``size``."""
    found: list[NpqLegacyHeader] = []
    for layout in LEGACY:
        if len(buf) < layout.head.size:
            continue
        head = layout.unpack_head(buf)
        k = layout.n_codebooks(head)
        if k < 1 or len(buf) < layout.header_size(k):
            continue
        fields = layout.unpack_rest(buf, k, head)
        t = fields["seq_len"]
        if t < 0 or layout.header_size(k) + _LEGACY_ITEMSIZE * t * k != size:
            continue
        try:
            found.append(NpqLegacyHeader(layout=layout.name, **_model_fields(fields)))
        except ValidationError:
            continue
    return found


def _parse(buf: bytes, size: int, path: Path) -> NpqHeader:
    _need(buf, 4, path, "magic")
    layout = VERSIONED.get(bytes(buf[:4]))
    if layout is None:
        shown = bytes(buf[:4]).decode("ascii", "backslashreplace")
        raise FormatError(f"not an NPQ file (magic {shown!r}, expected 'NPQ1' or 'NPQ2')", path)
    try:
        return _parse_versioned(layout, buf, size, path)
    except FormatError as exc:
        if layout.magic != LEGACY[0].magic:
            raise
        # A v1 header always has version == 1 and K >= 1 in bytes 4..8; a legacy
        # header has K as i32 there. Only if v1 fails do we look for a legacy
        # layout, and only one whose sizes add up exactly is accepted.
        valid = _legacy_candidates(buf, size)
        if len(valid) == 1:
            return valid[0]
        if len(valid) > 1:
            why = "ambiguous legacy NPQ v0 header: both v0 layouts fit; not guessing"
            raise FormatError(why, path) from None
        raise exc


def _read_head(fh: Any, size: int, path: Path) -> NpqHeader:
    buf = fh.read(min(size, _FIRST_READ))
    try:
        return _parse(buf, size, path)
    except _TruncatedHeader:
        if len(buf) >= min(size, _MAX_HEADER):
            raise
    # K is large: read up to the largest possible header and parse again.
    buf += fh.read(min(size, _MAX_HEADER) - len(buf))
    return _parse(buf, size, path)


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
    with open_binary(p, "an .npq file") as fh:
        header = _read_head(fh, os.fstat(fh.fileno()).st_size, p)
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
    with open_binary(p, "an .npq file") as fh:
        header = _read_head(fh, os.fstat(fh.fileno()).st_size, p)
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
