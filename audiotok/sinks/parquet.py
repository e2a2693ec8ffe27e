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
``datasets``), zstd-compressed, row groups of at most 64 MB of codes.

Shard names are final from the start: the export plans every shard from the
token files' headers before writing (:mod:`audiotok.sinks.shards`), so
``NNNNN-of-NNNNN`` is known; nothing is renamed at the end.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiotok._fsio import write_bytes_atomic
from audiotok.sinks.shards import ShardItem, ShardLimits, ShardSink, ShardWriter

__all__ = ["ParquetSink", "schema_for"]

_ROW_GROUP_BYTES = 64 << 20
_ROW_GROUP_ROWS = 4096
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


def _nested(matrices: list[np.ndarray[Any, Any]], dtype: np.dtype[Any]) -> pa.Array:
    """``list<list<dtype>>`` of 2-D arrays ``[R_i, C_i]``: row ``i`` holds ``R_i`` lists of ``C_i`` values."""
    outer = np.zeros(len(matrices) + 1, np.int32)
    np.cumsum([m.shape[0] for m in matrices], out=outer[1:])
    lengths = np.concatenate(
        [np.full(m.shape[0], m.shape[1], np.int64) for m in matrices] or [np.zeros(0, np.int64)]
    )
    inner = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=inner[1:])
    flat = np.concatenate([m.reshape(-1) for m in matrices] or [np.zeros(0)]).astype(dtype, copy=False)
    inner_array = pa.ListArray.from_arrays(pa.array(inner.astype(np.int32)), pa.array(flat))
    return pa.ListArray.from_arrays(pa.array(outer), inner_array)


def _flat(vectors: list[np.ndarray[Any, Any]], dtype: np.dtype[Any]) -> pa.Array:
    offsets = np.zeros(len(vectors) + 1, np.int32)
    np.cumsum([v.size for v in vectors], out=offsets[1:])
    flat = np.concatenate([v.reshape(-1) for v in vectors] or [np.zeros(0)]).astype(dtype, copy=False)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))


class _Writer(ShardWriter):
    def __init__(self, sink: ParquetSink, fh: IO[bytes]) -> None:
        self.sink = sink
        self.schema = schema_for(sink)
        self.writer = pq.ParquetWriter(fh, self.schema, compression="zstd")
        self.rows: list[ShardItem] = []
        self.held = 0

    def add(self, item: ShardItem) -> None:
        self.rows.append(item)
        self.held += sum(a.nbytes for a in _levels(item))
        if self.held >= _ROW_GROUP_BYTES or len(self.rows) >= _ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        dtype = self.sink.identity.codes_dtype
        rows, columns = self.rows, {}
        columns["id"] = pa.array([r.id for r in rows], pa.string())
        columns["source"] = pa.array([r.source for r in rows], pa.string())
        if self.sink.identity.rectangular:
            columns["codes"] = _nested([np.asarray(r.codes.array).T for r in rows], dtype)
        else:
            for k in range(len(self.sink.identity.strides)):
                columns[f"codes_{k}"] = _flat([_levels(r)[k] for r in rows], dtype)
        columns["n_frames"] = pa.array([r.n_frames for r in rows], pa.int64())
        columns["n_codebooks"] = pa.array([r.codes.n_codebooks for r in rows], pa.int32())
        columns["groups"] = pa.array([list(r.codes.groups) for r in rows], pa.list_(pa.int32()))
        columns["duration_s"] = pa.array([r.duration_s for r in rows], pa.float64())
        if self.sink.flatten is not None:
            streams = [self.sink.tokens(r) for r in rows]
            columns["tokens"] = _flat([t for t in streams if t is not None], np.dtype(np.int32))
        if self.sink.has_cond:
            conds = [r.cond if r.cond is not None else None for r in rows]
            cond = _nested([c if c is not None else np.zeros((0, 0)) for c in conds], np.dtype(np.float32))
            mask = pa.array([c is None for c in conds])
            columns["cond"] = pa.ListArray.from_arrays(cond.offsets, cond.values, mask=mask)
            columns["cond_names"] = pa.array(
                [list(r.cond_names) if r.cond is not None else None for r in rows], pa.list_(pa.string())
            )
        batch = pa.RecordBatch.from_arrays([columns[f.name] for f in self.schema], schema=self.schema)
        self.writer.write_batch(batch)
        self.rows, self.held = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


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
