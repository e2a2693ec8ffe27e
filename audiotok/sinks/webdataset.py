"""``--format webdataset``: ``shard-NNNNNN.tar`` files of ``<key>.codes.npy`` + ``<key>.json`` samples.

Each sample's members are adjacent in its shard, in this order:

* ``<key>.codes.npy``: ``(T, K)`` codes (uint16, or uint32 when a vocabulary
  passes 65,536), ``np.save`` without pickle. For a layout with strides
  (SNAC) one member per level instead, ``<key>.codes_<k>.npy`` of ``T_k``
  codes (never flattened);
* ``<key>.tokens.npy``: with ``--flatten``, the LM-ready int32 stream
  (:mod:`audiotok.sinks.flatten`), beside the codes;
* ``<key>.cond.npy``: ESF conditioning ``(T, D)`` float32, when the source has sidecars;
* ``<key>.json``: ``id`` (the real id), ``source``, ``n_frames``,
  ``n_codebooks``, ``groups``, ``duration_s``, ``fps``, ``cond_names``
  and ``codec`` (the codec identity, :class:`~audiotok.sinks.shards.ShardIdentity`).

WebDataset takes everything before the first dot of a member's name as the
sample key (``LJ001-0001.v2.codes.npy`` would become key ``LJ001-0001``), so
keys are made safe: every character other than letters, digits, ``-`` and
``_`` becomes ``_`` (``d0/LJ001-0001.v2`` -> ``d0_LJ001-0001_v2``), and a key
already taken gets ``_2``, ``_3``, ... (:func:`safe_keys`); the real id stays in
``json``. ``OUT/audiotok.json`` (written last) lists the shards, items and
the codec identity.

Shards are written with the standard library's :mod:`tarfile` into a
temporary file the shard core commits (:mod:`audiotok.sinks.shards`):
``webdataset.ShardWriter`` opens and names its files itself, so it cannot
write to a temporary name, and the ``webdataset`` package is then only needed
to read. Member headers are fixed (mtime 0, mode 0444, no owner), so a
rewritten shard is byte for byte the same.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

from audiotok._fsio import write_bytes_atomic
from audiotok.sinks.shards import ShardItem, ShardLimits, ShardSink, ShardWriter

__all__ = ["INDEX_NAME", "WebDatasetSink", "safe_keys"]

INDEX_NAME = "audiotok.json"
"""The output's visible index, written last."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SHARD = re.compile(r"(?:\w+/)?shard-\d{6}\.tar")


def safe_keys(ids: Iterable[str]) -> list[str]:
    """WebDataset keys for ``ids``, in order: no dot, slash or other punctuation, each unique."""
    taken: set[str] = set()
    out = []
    for item_id in ids:
        base = _UNSAFE.sub("_", item_id) or "_"
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}_{n}"
        taken.add(key)
        out.append(key)
    return out


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


class _Writer(ShardWriter):
    def __init__(self, sink: WebDatasetSink, fh: IO[bytes]) -> None:
        self.sink = sink
        self.tar = tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT)

    def _member(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o444
        self.tar.addfile(info, io.BytesIO(data))

    def add(self, item: ShardItem) -> None:
        ident = self.sink.identity
        dtype = ident.codes_dtype
        data = item.codes.data
        if isinstance(data, tuple):
            for k, level in enumerate(data):
                self._member(f"{item.key}.codes_{k}.npy", _npy(level.astype(dtype)))
        else:
            self._member(f"{item.key}.codes.npy", _npy(data.astype(dtype)))
        tokens = self.sink.tokens(item)
        if tokens is not None:
            self._member(f"{item.key}.tokens.npy", _npy(tokens))
        if item.cond is not None:
            self._member(f"{item.key}.cond.npy", _npy(item.cond.astype(np.float32)))
        meta = {
            "id": item.id,
            "source": item.source,
            "n_frames": item.n_frames,
            "n_codebooks": item.codes.n_codebooks,
            "groups": list(item.codes.groups),
            "duration_s": item.duration_s,
            "fps": ident.frame_rate,
            "cond_names": list(item.cond_names) if item.cond is not None else None,
            "codec": ident.to_json(),
        }
        self._member(f"{item.key}.json", json.dumps(meta).encode())

    def close(self) -> None:
        self.tar.close()  # the end-of-archive blocks; the file handle stays the core's


class WebDatasetSink(ShardSink):
    """WebDataset tar shards (see the module docstring)."""

    name = "webdataset"
    default_limits = ShardLimits(max_bytes=1_000_000_000, max_items=100_000)

    @classmethod
    def keys(cls, ids: list[str]) -> list[str]:
        """Safe, unique sample keys (:func:`safe_keys`)."""
        return safe_keys(ids)

    def shard_name(self, split: str, index: int, count: int) -> str:
        """``shard-NNNNNN.tar`` (``<split>/shard-NNNNNN.tar`` for splits other than ``train``)."""
        name = f"shard-{index:06d}.tar"
        return name if split == "train" else f"{split}/{name}"

    @staticmethod
    def is_shard(relative: str) -> bool:
        """Whether a path below the output is one of this format's shards."""
        return _SHARD.fullmatch(relative) is not None

    def open(self, fh: IO[bytes]) -> ShardWriter:
        """A tar writer over ``fh``."""
        return _Writer(self, fh)

    def finish(self, index: dict[str, Any]) -> None:
        """``audiotok.json``: the index, written last."""
        write_bytes_atomic(self.out / INDEX_NAME, (json.dumps(index, indent=2) + "\n").encode())
