"""``--format parquet``: the Hugging Face Hub layout, ``data/<split>-NNNNN-of-NNNNN.parquet`` + ``README.md``.

What ``push_to_hub`` writes and ``datasets.load_dataset(OUT)`` (also with
``streaming=True``) reads; DuckDB, Polars and Spark read the shards as they are.
One row per item:

=============  ==============================  ==============================================
column         type                            value
=============  ==============================  ==============================================
``id``         string                          the item's id (its path below SRC, no suffix)
``source``     string                          the token file it came from
``codes``      list<list<uint16>>              ``[K][T]``: codebook by codebook (uint32 when a
                                               vocabulary passes 65,536)
``codes_<k>``  list<uint16>                    instead of ``codes`` for a layout with strides
                                               (SNAC): level ``k``'s ``T_k`` codes, one column
                                               per level (never flattened)
``n_frames``   int64                           T (rows: the coarsest level's codes for SNAC)
``n_codebooks`` int32                          K
``groups``     list<int32>                     codebooks per coded channel (``[9, 4]`` Mid/Side)
``duration_s`` float64                         seconds of audio
``cond``       list<list<float32>>             ESF conditioning ``[T][D]`` (ESF sources only)
``cond_names`` list<string>                    its column names
``tokens``     list<int32>                     with ``--flatten``: the LM-ready stream
                                               (:mod:`audiotok.sinks.flatten`), beside the codes
=============  ==============================  ==============================================

The codec identity (:class:`~audiotok.sinks.shards.ShardIdentity`) is in every
shard's schema metadata (key ``audiotok``) and in the dataset card
``README.md``, written last, whose YAML header holds the
``dataset_info.features`` that ``datasets`` reads (and no ``configs``: see
:func:`_card`), then the codec, its weights' sha256, the audiotok version and the
command line. Shards are written with ``pyarrow`` (a dependency of
``datasets``), zstd-compressed, row groups of at most 4,096 rows and 4 MB of codes, built
in bulk from flat numpy buffers.

Shard names are final from the start: the export plans every shard from the
token files' headers before writing (:mod:`audiotok.sinks.shards`), so
``NNNNN-of-NNNNN`` is known; nothing is renamed at the end.
"""

from __future__ import annotations

import contextlib
import json
import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiotok._fsio import write_bytes_atomic
from audiotok.sinks.shards import ShardItem, ShardLimits, ShardSink, ShardWriter

__all__ = ["ParquetSink", "schema_for"]

_ROW_GROUP_BYTES = 4 << 20
"""Codes (and conditioning) bytes of one row group, in the output dtypes."""
_ROW_GROUP_ROWS = 4096
"""Rows of one row group at most."""
_SHARD = re.compile(r"data/(?P<split>\w+(?:\.\w+)*)-\d{5}-of-\d{5}\.parquet")
META_KEY = b"audiotok"
"""The schema metadata key of the codec identity."""


def schema_for(sink: ShardSink) -> pa.Schema:
    """The columns of every shard of ``sink``'s output (see the module docstring)."""
    ident = sink.identity
    value = pa.from_numpy_dtype(ident.codes_dtype)
    fields = [pa.field("id", pa.string()), pa.field("source", pa.string())]
    if ident.rectangular:
        fields.append(pa.field("codes", pa.list_(pa.list_(value))))
    else:
        fields += [pa.field(f"codes_{k}", pa.list_(value)) for k in range(len(ident.strides))]
    fields += [
        pa.field("n_frames", pa.int64()),
        pa.field("n_codebooks", pa.int32()),
        pa.field("groups", pa.list_(pa.int32())),
        pa.field("duration_s", pa.float64()),
    ]
    if sink.flatten is not None:
        fields.append(pa.field("tokens", pa.list_(pa.int32())))
    if sink.has_cond:
        fields += [
            pa.field("cond", pa.list_(pa.list_(pa.float32()))),
            pa.field("cond_names", pa.list_(pa.string())),
        ]
    meta = {META_KEY: json.dumps(ident.to_json()).encode()}
    return pa.schema(fields, metadata=meta)


def _offsets(lengths: np.ndarray[Any, Any]) -> pa.Array:
    """int32 list offsets of lists with ``lengths``."""
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:  # pragma: no cover - a row group holds at most _ROW_GROUP_BYTES
        raise ValueError(f"{offsets[-1]} values do not fit one Arrow list array")
    return pa.array(offsets.astype(np.int32))


Flat = list[np.ndarray[Any, Any]]


def _list(lengths: Any, values: Flat, dtype: np.dtype[Any]) -> pa.Array:
    """``list<dtype>``: row ``i`` holds ``lengths[i]`` values; ``values`` flat, in order (one copy)."""
    flat = np.concatenate(values).astype(dtype, copy=False) if values else np.zeros(0, dtype)
    return pa.ListArray.from_arrays(_offsets(np.asarray(lengths, np.int64)), pa.array(flat))


def _nested(shapes: list[tuple[int, ...]], values: Flat, dtype: np.dtype[Any]) -> pa.Array:
    """``list<list<dtype>>``: row ``i`` holds ``R_i`` lists of ``C_i`` values (``shapes[i]``)."""
    rows = np.asarray(shapes, np.int64).reshape(-1, 2)
    inner = _list(np.repeat(rows[:, 1], rows[:, 0]), values, dtype)
    return pa.ListArray.from_arrays(_offsets(rows[:, 0]), inner)


class _Writer(ShardWriter):
    """Rows are kept compact (codes ``[K][T]`` in the output dtype, flat) until a row group is full.

    A row group is written when its codes (and conditioning) reach
    :data:`_ROW_GROUP_BYTES` or it has :data:`_ROW_GROUP_ROWS` rows; every
    column is then built in bulk from flat numpy buffers (one concatenation per
    column, no Python list per value) and encoded on a writer thread (pyarrow
    releases the GIL) while the next row group is read: at most one row group
    is being written and one filled, so memory holds about two.
    """

    def __init__(self, sink: ParquetSink, fh: IO[bytes]) -> None:
        self.sink = sink
        self.schema = schema_for(sink)
        self.dtype = sink.identity.codes_dtype
        self.n_levels = 1 if sink.identity.rectangular else len(sink.identity.strides)
        self.writer = pq.ParquetWriter(fh, self.schema, compression="zstd")
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audiotok-parquet")
        self._pending: Future[None] | None = None
        self._clear()

    def _clear(self) -> None:
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.shapes: list[tuple[int, ...]] = []  # rectangular codes: (K, T)
        self.levels: list[list[np.ndarray[Any, Any]]] = [[] for _ in range(self.n_levels)]
        self.flat: list[np.ndarray[Any, Any]] = []
        self.n_frames: list[int] = []
        self.n_codebooks: list[int] = []
        self.groups: list[np.ndarray[Any, Any]] = []
        self.seconds: list[float] = []
        self.tokens: list[np.ndarray[Any, Any]] = []
        self.conds: list[np.ndarray[Any, Any] | None] = []
        self.cond_names: list[list[str] | None] = []
        self.held = 0

    def add(self, item: ShardItem) -> None:
        self.ids.append(item.id)
        self.sources.append(item.source)
        if self.sink.identity.rectangular:
            codes = np.asarray(item.codes.array)
            kt = codes.T.astype(self.dtype, order="C")  # [K][T], one pass
            self.flat.append(kt.reshape(-1))
            self.shapes.append(kt.shape)
            self.held += kt.nbytes
        else:
            for k, level in enumerate(_levels(item)):
                compact = np.asarray(level).reshape(-1).astype(self.dtype)
                self.levels[k].append(compact)
                self.held += compact.nbytes
        self.n_frames.append(item.n_frames)
        self.n_codebooks.append(item.codes.n_codebooks)
        self.groups.append(np.asarray(item.codes.groups, np.int32))
        self.seconds.append(item.duration_s)
        if self.sink.flatten is not None:
            stream = self.sink.tokens(item)
            self.tokens.append(
                np.zeros(0, np.int32) if stream is None else stream.astype(np.int32).reshape(-1)
            )
        if self.sink.has_cond:
            cond = None if item.cond is None else np.ascontiguousarray(item.cond, np.float32)
            self.conds.append(cond)
            self.cond_names.append(None if cond is None else list(item.cond_names))
            self.held += 0 if cond is None else cond.nbytes
        if self.held >= _ROW_GROUP_BYTES or len(self.ids) >= _ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.ids:
            return
        columns: dict[str, pa.Array] = {
            "id": pa.array(self.ids, pa.string()),
            "source": pa.array(self.sources, pa.string()),
        }
        if self.sink.identity.rectangular:
            columns["codes"] = _nested(self.shapes, self.flat, self.dtype)
        else:
            for k, level in enumerate(self.levels):
                columns[f"codes_{k}"] = _list([v.size for v in level], level, self.dtype)
        columns["n_frames"] = pa.array(np.asarray(self.n_frames, np.int64))
        columns["n_codebooks"] = pa.array(np.asarray(self.n_codebooks, np.int32))
        columns["groups"] = _list([g.size for g in self.groups], self.groups, np.dtype(np.int32))
        columns["duration_s"] = pa.array(np.asarray(self.seconds, np.float64))
        if self.sink.flatten is not None:
            columns["tokens"] = _list([t.size for t in self.tokens], self.tokens, np.dtype(np.int32))
        if self.sink.has_cond:
            shapes = [(0, 0) if c is None else c.shape for c in self.conds]
            values = [c.reshape(-1) for c in self.conds if c is not None]
            cond = _nested(shapes, values, np.dtype(np.float32))
            mask = pa.array([c is None for c in self.conds])
            columns["cond"] = pa.ListArray.from_arrays(cond.offsets, cond.values, mask=mask)
            columns["cond_names"] = pa.array(self.cond_names, pa.list_(pa.string()))
        batch = pa.RecordBatch.from_arrays([columns[f.name] for f in self.schema], schema=self.schema)
        self._wait()  # the previous row group is written: at most one in flight
        self._pending = self._thread.submit(self._write, batch)
        self._clear()

    def _write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)
        # The writer's level and dictionary buffers take several times the row group; mimalloc keeps
        # them unless asked. 10,000-item ESF export, peak RSS: 440 MB with 32 MB row groups (and no
        # release), 285 MB with 8 MB, 240 MB with 4 MB.
        pa.default_memory_pool().release_unused()

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # the writer thread's exception, if any, raised here

    def close(self) -> None:
        try:
            self._flush()
            self._wait()
            self.writer.close()
        finally:
            self._thread.shutdown()

    def abort(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(BaseException):
                pending.result()  # the file is closed after this returns: let the write finish first
        self._thread.shutdown()


def _levels(item: ShardItem) -> tuple[np.ndarray[Any, Any], ...]:
    data = item.codes.data
    return data if isinstance(data, tuple) else (data,)


def _card(sink: ParquetSink, index: dict[str, Any]) -> str:
    """The dataset card: the YAML header ``datasets`` reads (features), then the codec."""
    import yaml  # a dependency of datasets; only the card needs it
    from datasets import Features  # a slow import: only the card needs it

    ident = sink.identity
    splits = dict(index["splits"])
    # No `configs` entry: the splits come from the file names (`data/<split>-*`, what the Hub and
    # `load_dataset` infer). With `configs`, datasets 5.2.0 keys its cache by the card alone, not the
    # files' mtimes: `load_dataset(OUT)` then returns the rows of an earlier export to a folder of the
    # same name (tests/services/dataset/test_export.py::test_a_new_export_is_not_read_from_the_cache).
    header = {
        "dataset_info": {
            "features": Features.from_arrow_schema(schema_for(sink))._to_yaml_list(),
        },
        "tags": ["audio", "audiotok", "codec-tokens"],
    }
    codes = (
        f"`codes`: `List(List({ident.codes_dtype.name}))`, `[K][T]`: codebook by codebook"
        if ident.rectangular
        else f"`codes_0` … `codes_{len(ident.strides) - 1}`: one column per level (strides "
        f"{list(ident.strides)}), each `List({ident.codes_dtype.name})`"
    )
    vocab = list(ident.vocab_sizes) if ident.vocab_sizes else "unknown"
    body = [
        "# Codec tokens",
        "",
        f"Written by audiotok {ident.audiotok}: `{ident.command or 'audiotok dataset export'}`.",
        "",
        f"- codec: `{ident.codec or 'unknown'}`",
        f"- weights sha256: `{ident.weights_sha256 or 'unknown'}`",
        f"- frame rate: {ident.frame_rate} rows/s; vocabularies: {vocab}",
        f"- {codes}; `n_frames` = T, `n_codebooks` = K",
        f"- splits: {', '.join(f'{name} ({n} items)' for name, n in splits.items())}",
        f"- items: {index['items']}, frames: {index['frames']}, hours: {index['seconds'] / 3600:.3f}",
        "",
        "```python",
        "from datasets import load_dataset",
        "ds = load_dataset('PATH_OR_REPO', split='train')",
        "```",
        "",
        "The full identity is in each shard's Parquet schema metadata (key `audiotok`).",
        "",
    ]
    yaml_text: str = yaml.safe_dump(header, sort_keys=False)
    return "---\n" + yaml_text + "---\n\n" + "\n".join(body)


class ParquetSink(ShardSink):
    """Parquet shards in the Hub layout (see the module docstring)."""

    name = "parquet"
    default_limits = ShardLimits(max_bytes=500_000_000, max_items=1_000_000)

    def shard_name(self, split: str, index: int, count: int) -> str:
        """``data/<split>-NNNNN-of-NNNNN.parquet``, what ``push_to_hub`` writes."""
        return f"data/{split}-{index:05d}-of-{count:05d}.parquet"

    @staticmethod
    def is_shard(relative: str) -> bool:
        """Whether a path below the output is one of this format's shards."""
        return _SHARD.fullmatch(relative) is not None

    def open(self, fh: IO[bytes]) -> ShardWriter:
        """A Parquet writer over ``fh``."""
        return _Writer(self, fh)

    def finish(self, index: dict[str, Any]) -> None:
        """``README.md``: the dataset card, written last."""
        write_bytes_atomic(self.out / "README.md", _card(self, index).encode())
