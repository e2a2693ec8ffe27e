"""Streaming rows straight into the folder layout ``datasets.load_from_disk`` reads.

``DatasetDict.save_to_disk`` needs a ``Dataset`` first, which means writing the
rows once to a cache file and then copying them while memory-mapping that file
(its pages count against the process's RSS). Instead each split is written
once, batch by batch, into its final shards, in the layout ``save_to_disk``
produces (datasets 2.x-5.x)::

    OUT/dataset_dict.json              {"splits": [...]}
    OUT/<split>/data-00000-of-0000N.arrow   Arrow IPC streams, schema = features.arrow_schema
    OUT/<split>/dataset_info.json      DatasetInfo.write_to_directory
    OUT/<split>/state.json             data files, fingerprint, format

The build then opens the result with ``load_from_disk`` as a check, so a
change of layout in a future ``datasets`` fails loudly instead of silently.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from datasets import DatasetInfo, Features

from audiotok.services.dataset._rows import Row, row_values, rows_to_batch

__all__ = ["SplitWriter", "write_dataset_dict_json"]

MAX_SHARD_BYTES = 500 * 2**20
"""Start a new shard after this many bytes (``save_to_disk``'s default)."""
MAX_BATCH_VALUES = 2**24
"""Write a batch early once its rows hold this many codes + cond values (memory bound: ~64 MiB)."""


class SplitWriter:
    """Write one split's rows to ``split_dir`` in record batches of ``batch_rows``.

    Memory is bounded by one batch; rows go to disk as soon as a batch holds
    ``batch_rows`` rows or :data:`MAX_BATCH_VALUES` values.
    """

    def __init__(
        self,
        split_dir: str,
        features: Features,
        *,
        batch_rows: int = 256,
        max_shard_bytes: int = MAX_SHARD_BYTES,
    ) -> None:
        self.split_dir = split_dir
        self.features = features
        self.schema = features.arrow_schema
        self.batch_rows = batch_rows
        self.max_shard_bytes = max_shard_bytes
        self.rows = 0
        self._pending: list[Row] = []
        self._pending_values = 0
        self._shards: list[str] = []
        self._sink: pa.NativeFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._hash = hashlib.sha1()
        os.makedirs(split_dir, exist_ok=True)

    def add(self, row: Row) -> None:
        """Queue ``row``; write the batch when it is full."""
        self._pending.append(row)
        self._pending_values += row_values(row)
        if len(self._pending) >= self.batch_rows or self._pending_values >= MAX_BATCH_VALUES:
            self._flush()

    def widen(self, features: Features) -> None:
        """Switch to ``features`` (a wider ``codes`` column), casting the shards written so far.

        Rare (a build's first file that needs uint32 codes after others that
        did not); each shard is rewritten batch by batch, so memory stays bounded.
        """
        self._close_shard()
        schema = features.arrow_schema
        for path in self._shards:
            tmp = path + ".widen"
            with pa.memory_map(path) as src, pa.OSFile(tmp, "wb") as sink:
                with pa.ipc.new_stream(sink, schema) as writer:
                    for batch in pa.ipc.open_stream(src):
                        writer.write_batch(batch.cast(schema))
            os.replace(tmp, path)
        self.features, self.schema = features, schema  # the next batch starts a new shard

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = rows_to_batch(self._pending, self.schema)
        self._pending, self._pending_values = [], 0
        if self._writer is None or (self._sink is not None and self._sink.tell() >= self.max_shard_bytes):
            self._close_shard()
            path = os.path.join(self.split_dir, f".shard-{len(self._shards):05d}.arrow")
            self._shards.append(path)
            self._sink = pa.OSFile(path, "wb")
            self._writer = pa.ipc.new_stream(self._sink, self.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        for column in ("audio", "id", "n_frames"):
            if column in batch.schema.names:
                for buf in batch.column(column).buffers():
                    if buf is not None:
                        self._hash.update(buf)

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._sink is not None:
            self._sink.close()
        self._writer = self._sink = None

    def close(self) -> int:
        """Finish the shards, write ``dataset_info.json`` and ``state.json``; return the row count."""
        self._flush()
        self._close_shard()
        if not self._shards:  # an empty split still gets one (empty) shard
            path = os.path.join(self.split_dir, ".shard-00000.arrow")
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, self.schema):
                pass
            self._shards.append(path)
        n = len(self._shards)
        names = [f"data-{i:05d}-of-{n:05d}.arrow" for i in range(n)]
        for tmp, name in zip(self._shards, names, strict=True):
            os.replace(tmp, os.path.join(self.split_dir, name))
        DatasetInfo(features=self.features).write_to_directory(self.split_dir, pretty_print=True)
        state: dict[str, Any] = {
            "_data_files": [{"filename": name} for name in names],
            "_fingerprint": hashlib.sha1(str(self.schema).encode() + self._hash.digest()).hexdigest()[:16],
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": None,
        }
        with open(os.path.join(self.split_dir, "state.json"), "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2, sort_keys=True)
        return self.rows

    def abort(self) -> None:
        """Close open files without finishing (the staging folder is discarded)."""
        self._pending = []
        self._close_shard()


def write_dataset_dict_json(dataset_dir: str, splits: Sequence[str]) -> None:
    """Write ``dataset_dict.json`` listing ``splits``, as ``DatasetDict.save_to_disk`` does."""
    with open(os.path.join(dataset_dir, "dataset_dict.json"), "w", encoding="utf-8") as fh:
        json.dump({"splits": list(splits)}, fh)
