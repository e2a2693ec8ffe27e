"""``dataset inspect --verify`` of an export: read every item back, one failure per bad item.

Every shard the index lists is read whole, without the formats' training
libraries (``pyarrow.parquet``, ``tarfile`` + ``numpy.load(allow_pickle=False)``,
``numpy.load`` for codec-bpe files). An item is bad when it cannot be read,
its codes do not have the shape its own record gives (``n_codebooks`` x
``n_frames``; WebDataset ``(T, K)`` with ``json["n_frames"]`` rows), or its
source token file (``source``, when it is still there) holds other codes. A
shard whose item count differs from the index is bad too.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from pydantic import Field

from audiotok.errors import AudiotokError, InputError
from audiotok.formats import ecdc, npq
from audiotok.formats._base import FrozenModel
from audiotok.records import FileFailure
from audiotok.sinks.shards import read_index

__all__ = ["ExportCheck", "verify_export"]


class ExportCheck(FrozenModel):
    """What ``dataset inspect --verify`` found in an export."""

    path: str
    format: str
    items: int = Field(description="Items read back.")
    failures: list[FileFailure] = Field(description="One per bad item (or shard), with the reason.")


def _source_codes(source: str) -> np.ndarray[Any, Any] | None:
    """The ``[T, K]`` codes of a token-file source that still exists, else ``None``."""
    if not os.path.isfile(source):
        return None  # moved, or a dataset row (FOLDER#split/row): nothing to compare with
    if source.endswith(".npq"):
        return np.asarray(npq.read(source)[0], np.int64)
    if source.endswith(".ecdc"):
        return np.asarray(ecdc.read(source)[0], np.int64)
    return None


def _against_source(tk: np.ndarray[Any, Any], source: str, *, strided: bool) -> str | None:
    """Why ``tk`` (``[T, K]``) is not its source's codes, or ``None``."""
    if strided:
        return None  # rows of a strided source are not [T, K] codes: the shapes were checked
    try:
        want = _source_codes(source)
    except AudiotokError as exc:
        return f"its source cannot be read: {exc.reason}"
    if want is not None and (want.shape != tk.shape or not np.array_equal(want, tk)):
        return f"codes differ from its source {source}"
    return None


def _parquet(path: str, expected: int, strided: bool) -> Iterator[tuple[str | None, str | None]]:
    """(id, reason) per item of one Parquet shard (reason None: good); id None: the shard itself."""
    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        ids = batch.column("id").to_pylist()
        sources = batch.column("source").to_pylist()
        frames = batch.column("n_frames").to_pylist()
        books = batch.column("n_codebooks").to_pylist()
        names = batch.schema.names
        for i, item in enumerate(ids):
            n += 1
            if strided:
                first = batch.column(next(c for c in names if c.startswith("codes_")))[i].values
                ok = first is not None and len(first) % max(frames[i], 1) == 0
                yield item, None if ok else "codes_0 is not a whole number of codes per row"
                continue
            inner = batch.column("codes")[i].values  # K lists
            lengths = np.diff(inner.offsets.to_numpy()) if inner is not None else np.zeros(0)
            if len(lengths) != books[i] or np.any(lengths != frames[i]):
                yield item, f"codes are not n_codebooks ({books[i]}) lists of n_frames ({frames[i]}) codes"
                continue
            flat = inner.flatten().to_numpy(zero_copy_only=False)
            tk = flat.reshape(books[i], frames[i]).T.astype(np.int64)
            yield item, _against_source(tk, sources[i], strided=False)
    if n != expected:
        yield None, f"{n} items, the index says {expected}"


def _webdataset(path: str, expected: int, strided: bool) -> Iterator[tuple[str | None, str | None]]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            fh = tar.extractfile(member)
            if fh is None:
                continue
            key, _, field = member.name.partition(".")
            samples.setdefault(key, {})[field] = fh.read()
    for key, fields in samples.items():
        try:
            meta = json.loads(fields["json"])
            name = "codes.npy" if "codes.npy" in fields else "codes_0.npy"
            codes = np.load(io.BytesIO(fields[name]), allow_pickle=False)
        except (KeyError, ValueError, OSError) as exc:
            yield key, f"cannot be read: {exc}"
            continue
        if codes.ndim != (1 if strided else 2) or (not strided and codes.shape[0] != meta.get("n_frames")):
            yield meta.get("id", key), f"codes of shape {codes.shape} for {meta.get('n_frames')} frames"
            continue
        yield (
            meta.get("id", key),
            _against_source(codes.astype(np.int64), str(meta.get("source")), strided=strided),
        )
    if len(samples) != expected:
        yield None, f"{len(samples)} items, the index says {expected}"


def verify_export(path: str | os.PathLike[str]) -> ExportCheck:
    """Read every item of the export at ``path`` back (see the module docstring).

    Raises
    ------
    InputError
        If ``path`` is not a finished export (no index).
    """
    out = Path(path)
    index = read_index(out)
    if index is None:
        raise InputError("not a finished dataset export (no .audiotok/index.json)", out)
    fmt = str(index["format"])
    strided = not all(s == 1 for s in index["identity"].get("strides") or [1])
    failures: list[FileFailure] = []
    items = 0
    if fmt == "codec-bpe":
        for file in sorted(out.rglob("*_c0.npy")):
            items += 1
            try:
                codes = np.load(file, allow_pickle=False)
            except (ValueError, OSError) as exc:
                failures.append(FileFailure(path=str(file), error=f"cannot be read: {exc}"))
                continue
            if codes.dtype != np.int32 or codes.ndim != 2:
                failures.append(
                    FileFailure(path=str(file), error=f"{codes.dtype} {codes.shape}, not int32 (K, T)")
                )
        if items != int(index["items"]):
            failures.append(
                FileFailure(path=str(out), error=f"{items} files, the index says {index['items']}")
            )
        return ExportCheck(path=str(out), format=fmt, items=items, failures=failures)
    read = _parquet if fmt == "parquet" else _webdataset
    for shard in index["shards"]:
        file = out / str(shard["name"])
        try:
            for item, reason in read(str(file), int(shard["items"]), strided):
                items += item is not None
                if reason is not None:
                    error = reason if item is None else f"{item}: {reason}"
                    failures.append(FileFailure(path=str(file), error=error))
        except (OSError, ValueError, tarfile.TarError) as exc:  # pyarrow's errors are ValueError/OSError
            failures.append(FileFailure(path=str(file), error=f"cannot be read: {exc}"))
    return ExportCheck(path=str(out), format=fmt, items=items, failures=failures)
