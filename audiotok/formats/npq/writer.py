"""Writing NPQ1 / NPQ2 token files, atomically (``docs/specs/npq-format.md``, ``docs/specs/npq-tools.md``).

:func:`write` checks the tokens against the header (shape, integer type,
each codebook's vocabulary) and writes the header bytes of the layout table
(:mod:`audiotok.formats.npq.table`) followed by the payload ``[T, K]``,
row-major, in the header's dtype. Legacy v0 files are read only.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import numpy as np

from audiotok._fsio import atomic_write
from audiotok.errors import FormatError
from audiotok.formats.npq.header import Npq1Header, Npq2Header

__all__ = ["check_tokens", "write"]

_WritableHeader = TypeVar("_WritableHeader", Npq1Header, Npq2Header)


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
