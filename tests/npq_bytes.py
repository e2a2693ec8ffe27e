"""NPQ files packed by hand with :mod:`struct`, straight from the spec tables.

``docs/specs/npq-format.md`` (NPQ1, legacy v0) and ``docs/specs/npq-tools.md`` (NPQ2).
Nothing here uses :mod:`audiotok.formats.npq`, so golden bytes built with
these helpers are an independent check of the reader and the writer.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

#: dtype_code -> struct code of one payload element (little-endian).
ELEM = {0: "B", 1: "H", 2: "I"}


def pack_payload(rows: Sequence[Sequence[int]], code: str) -> bytes:
    """Row-major ``[T, K]`` tokens, one ``struct`` code per element."""
    flat = [v for row in rows for v in row]
    return struct.pack(f"<{len(flat)}{code}", *flat)


def npq1(
    rows: Sequence[Sequence[int]],
    vocab: Sequence[int],
    *,
    dtype_code: int = 1,
    token_rate: float = 86.1328125,
    bitrate: float = 0.0,
    version: int = 1,
    k: int | None = None,
    seq_len: int | None = None,
    payload: bytes | None = None,
) -> bytes:
    """NPQ1: magic 4s | version H | K H | token_rate f | orig_bitrate f | T I | vocab I[K] | dtype_code B."""
    k = len(vocab) if k is None else k
    t = len(rows) if seq_len is None else seq_len
    head = struct.pack("<4sHHffI", b"NPQ1", version, k, token_rate, bitrate, t)
    head += struct.pack(f"<{len(vocab)}I", *vocab) + struct.pack("<B", dtype_code)
    if payload is None:
        payload = pack_payload(rows, ELEM.get(dtype_code, "H"))
    return head + payload


def npq2(
    rows: Sequence[Sequence[int]],
    vocab: Sequence[int],
    k_mid: int,
    *,
    dtype_code: int = 1,
    token_rate: float = 86.1328125,
    bitrate: float = 0.0,
    version: int = 1,
    channel_mode: int = 1,
    k_side: int | None = None,
    seq_len: int | None = None,
    payload: bytes | None = None,
) -> bytes:
    """NPQ2: magic | version H | channel_mode B | k_mid H | k_side H | fps f | kbps f | T I | vocab | B."""
    k_side = len(vocab) - k_mid if k_side is None else k_side
    t = len(rows) if seq_len is None else seq_len
    head = struct.pack("<4sHBHHffI", b"NPQ2", version, channel_mode, k_mid, k_side, token_rate, bitrate, t)
    head += struct.pack(f"<{len(vocab)}I", *vocab) + struct.pack("<B", dtype_code)
    if payload is None:
        payload = pack_payload(rows, ELEM.get(dtype_code, "H"))
    return head + payload


def v0a(rows: Sequence[Sequence[int]], vocab: Sequence[int], *, fps: float, bitrate: float) -> bytes:
    """Legacy v0a: magic 'NPQ1' | K i | fps f | br f | T i | vocab i[K]; payload uint16."""
    head = struct.pack("<4siffi", b"NPQ1", len(vocab), fps, bitrate, len(rows))
    return head + struct.pack(f"<{len(vocab)}i", *vocab) + pack_payload(rows, "H")


def v0b(rows: Sequence[Sequence[int]], vocab: Sequence[int], *, fps: float) -> bytes:
    """Legacy v0b: magic 'NPQ1' | K i | fps f | vocab i[K] | T i; payload uint16."""
    head = struct.pack("<4sif", b"NPQ1", len(vocab), fps)
    head += struct.pack(f"<{len(vocab)}i", *vocab) + struct.pack("<i", len(rows))
    return head + pack_payload(rows, "H")
