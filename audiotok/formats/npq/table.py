"""The NPQ header layouts as one table: NPQ1, NPQ2 and the two legacy v0 orders.

Follows ``docs/specs/npq-format.md`` (NPQ1, legacy v0) and
``docs/specs/npq-tools.md`` (NPQ2) byte for byte; every field is
little-endian. Each layout is its fields in file order around the one
variable-length field, ``vocab_sizes[K]``::

    NPQ1  magic 4s | version H | K H | token_rate f | orig_bitrate_kbps f | seq_len I
          | vocab_sizes I[K] | dtype_code B                                  21 + 4K bytes
    NPQ2  magic 4s | version H | channel_mode B | k_mid H | k_side H | token_rate f
          | orig_bitrate_kbps f | seq_len I | vocab_sizes I[k_mid + k_side]
          | dtype_code B                                                     24 + 4K bytes
    v0a   magic 4s | K i | token_rate f | orig_bitrate_kbps f | seq_len i
          | vocab_sizes i[K]                                                 20 + 4K bytes
    v0b   magic 4s | K i | token_rate f | vocab_sizes i[K] | seq_len i         16 + 4K bytes

Legacy files (magic ``'NPQ1'``, no version) are read only; their payload is
always uint16. The parser (:mod:`audiotok.formats.npq.layout`) and the
writer (:meth:`~audiotok.formats.npq.header.Npq1Header.to_bytes`) both walk
this table, so a field is named, typed and placed in one line.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = ["LAYOUTS", "LEGACY", "VERSIONED", "Layout"]


class Layout(NamedTuple):
    """One header layout: the fields before ``vocab_sizes[K]``, its element type, the fields after."""

    name: str
    """``"NPQ1"``, ``"NPQ2"``, ``"v0a"`` or ``"v0b"``."""
    magic: bytes
    head: struct.Struct
    """The fixed fields before ``vocab_sizes``, magic first."""
    head_fields: tuple[str, ...]
    vocab: str
    """``struct`` code of one ``vocab_sizes`` entry (4 bytes)."""
    tail: struct.Struct
    """The fixed fields after ``vocab_sizes``."""
    tail_fields: tuple[str, ...]
    seq_len_at: int
    """Offset of ``seq_len`` (T) from the end of the header when it is in ``tail``, else from its start."""
    k_index: tuple[int, ...]
    """Positions in ``head`` of the fields whose sum is K (``K``, or ``k_mid`` and ``k_side``)."""
    seq_len_index: int | None
    """Position of ``seq_len`` in ``head``; ``None`` when it follows ``vocab_sizes``."""
    fixed_size: int
    """Bytes of ``head`` and ``tail``: the header is ``fixed_size + 4K`` bytes."""

    def n_codebooks(self, fields: Mapping[str, Any]) -> int:
        """K from the ``head`` fields: ``K``, or ``k_mid + k_side`` (NPQ2)."""
        return sum(int(fields[self.head_fields[i]]) for i in self.k_index)

    def header_size(self, k: int) -> int:
        """Header length in bytes for K codebooks."""
        return self.fixed_size + 4 * k

    def unpack_head(self, buf: bytes | memoryview) -> dict[str, Any]:
        """The ``head`` fields of ``buf`` (which must hold ``head.size`` bytes)."""
        return dict(zip(self.head_fields, self.head.unpack_from(buf), strict=True))

    def unpack_rest(self, buf: bytes | memoryview, k: int, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` plus ``vocab_sizes`` and the ``tail`` fields (``buf`` holds the whole header)."""
        fields["vocab_sizes"] = struct.unpack_from(f"<{k}{self.vocab}", buf, self.head.size)
        end = self.head.size + 4 * k
        fields.update(zip(self.tail_fields, self.tail.unpack_from(buf, end), strict=True))
        return fields

    def without_seq_len(self, buf: bytes | memoryview, end: int) -> bytes:
        """Header bytes ``buf[:end]`` without ``seq_len``: equal for headers that differ only in T."""
        at = self.seq_len_at if self.seq_len_index is not None else end - self.seq_len_at
        return bytes(buf[:at]) + bytes(buf[at + 4 : end])

    def pack(self, fields: Mapping[str, Any], vocab_sizes: Sequence[int]) -> bytes:
        """The header bytes of ``fields`` (every field of the layout but ``vocab_sizes``)."""
        return (
            self.head.pack(*(fields[n] for n in self.head_fields))
            + struct.pack(f"<{len(vocab_sizes)}{self.vocab}", *vocab_sizes)
            + self.tail.pack(*(fields[n] for n in self.tail_fields))
        )


def _layout(
    name: str, magic: bytes, head: Sequence[tuple[str, str]], vocab: str, tail: Sequence[tuple[str, str]]
) -> Layout:
    """A :class:`Layout` from ``(field, struct code)`` pairs in file order."""
    head_fmt = "<" + "".join(code for _, code in head)
    tail_fmt = "<" + "".join(code for _, code in tail)
    names = [n for n, _ in head]
    tail_names = [n for n, _ in tail]
    if "seq_len" in names:
        seq_len_at = struct.calcsize("<" + "".join(code for _, code in head[: names.index("seq_len")]))
    else:
        seq_len_at = struct.calcsize("<" + "".join(code for _, code in tail[tail_names.index("seq_len") :]))
    k_index = tuple(i for i, n in enumerate(names) if n in ("K", "k_mid", "k_side"))
    return Layout(
        name, magic, struct.Struct(head_fmt), tuple(names), vocab, struct.Struct(tail_fmt), tuple(tail_names),
        seq_len_at, k_index, names.index("seq_len") if "seq_len" in names else None,
        struct.calcsize(head_fmt) + struct.calcsize(tail_fmt),
    )  # fmt: skip


_RATES = (("token_rate", "f"), ("orig_bitrate_kbps", "f"))
LAYOUTS: dict[str, Layout] = {
    "NPQ1": _layout(
        "NPQ1", b"NPQ1",
        (("magic", "4s"), ("version", "H"), ("K", "H"), *_RATES, ("seq_len", "I")),
        "I", (("dtype_code", "B"),),
    ),
    "NPQ2": _layout(
        "NPQ2", b"NPQ2",
        (("magic", "4s"), ("version", "H"), ("channel_mode", "B"), ("k_mid", "H"), ("k_side", "H"),
         *_RATES, ("seq_len", "I")),
        "I", (("dtype_code", "B"),),
    ),
    "v0a": _layout("v0a", b"NPQ1", (("magic", "4s"), ("K", "i"), *_RATES, ("seq_len", "i")), "i", ()),
    "v0b": _layout(
        "v0b", b"NPQ1", (("magic", "4s"), ("K", "i"), ("token_rate", "f")), "i", (("seq_len", "i"),)
    ),
}  # fmt: skip
"""Every layout by name (``NpqLegacyHeader.layout`` names the legacy ones)."""
VERSIONED: dict[bytes, Layout] = {LAYOUTS[n].magic: LAYOUTS[n] for n in ("NPQ1", "NPQ2")}
"""The versioned layouts by magic."""
LEGACY: tuple[Layout, ...] = (LAYOUTS["v0a"], LAYOUTS["v0b"])
"""The legacy layouts, tried when an ``'NPQ1'`` file is not a valid NPQ1 file."""
