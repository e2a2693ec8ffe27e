"""``dataset inspect``: what a built dataset holds, computed on its Arrow columns."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets import DatasetDict, load_from_disk
from pydantic import Field

from audiotok.errors import InputError
from audiotok.formats._base import FrozenModel
from audiotok.services.dataset._swap import is_dataset_dir
from audiotok.sinks.shards import read_index

__all__ = ["DatasetSummary", "ExportInfo", "SplitSummary", "inspect_dataset", "inspect_export"]


class SplitSummary(FrozenModel):
    """One split of a built dataset."""

    name: str
    rows: int
    columns: list[str]
    layout: str = Field(description="'embedded' (codes in the rows) or 'paths' (audio paths only).")
    kind: str | None = Field(description="'esf', 'npq', or None when not stored (paths layout).")
    total_frames: int | None = Field(description="Sum of n_frames; None for the paths layout.")
    hours: float | None = Field(description="Sum of n_frames / fps, in hours; None for the paths layout.")
    codebooks: list[int] = Field(description="Distinct K (n_codebooks) over the rows.")
    codes_dtype: str | None = Field(
        description="Integer type of the flat codes column ('uint16' or 'uint32'); None for the paths layout."
    )
    cond_dims: list[int] = Field(description="Distinct D (conditioning features) over the rows; ESF only.")


class DatasetSummary(FrozenModel):
    """A built dataset: its splits and totals."""

    path: str
    splits: list[SplitSummary]
    rows: int
    total_frames: int | None
    hours: float | None


def _distinct(column: pa.ChunkedArray) -> list[int]:
    return sorted(int(v) for v in pc.unique(column).to_pylist() if v is not None)


def _summarize(name: str, table: pa.Table) -> SplitSummary:
    cols = table.column_names
    embedded = "codes" in cols
    frames = hours = None
    ks: list[int] = []
    ds: list[int] = []
    codes_dtype = None
    if embedded:
        codes_type = table.schema.field("codes").type
        codes_dtype = str(codes_type.value_type) if pa.types.is_list(codes_type) else str(codes_type)
        n = table.column("n_frames")
        frames = int(pc.sum(n).as_py() or 0)
        seconds = pc.sum(pc.divide(pc.cast(n, pa.float64()), table.column("fps"))).as_py()
        hours = float(seconds or 0.0) / 3600.0
        ks = _distinct(table.column("n_codebooks"))
        if "cond_names" in cols:
            ds = _distinct(pc.list_value_length(table.column("cond_names")))
    kind = ("esf" if "cond" in cols else "npq") if embedded else None
    return SplitSummary(
        name=name,
        rows=table.num_rows,
        columns=cols,
        layout="embedded" if embedded else "paths",
        kind=kind,
        total_frames=frames,
        hours=hours,
        codebooks=ks,
        codes_dtype=codes_dtype,
        cond_dims=ds,
    )


def inspect_dataset(path: str | os.PathLike[str]) -> DatasetSummary:
    """Summarize the ``DatasetDict`` saved at ``path`` without decoding any row.

    Raises
    ------
    InputError
        If ``path`` is not a folder saved by ``DatasetDict.save_to_disk``.
    """
    if not is_dataset_dir(path):
        raise InputError("not a dataset folder (no dataset_dict.json)", path)
    dsd = load_from_disk(os.fspath(path))
    if not isinstance(dsd, DatasetDict):  # pragma: no cover - guarded by is_dataset_dir
        raise InputError("not a DatasetDict", path)
    splits = [_summarize(name, ds.data.table) for name, ds in dsd.items()]
    embedded = all(s.layout == "embedded" for s in splits)
    return DatasetSummary(
        path=os.fspath(path),
        splits=splits,
        rows=sum(s.rows for s in splits),
        total_frames=sum(s.total_frames or 0 for s in splits) if embedded else None,
        hours=sum(s.hours or 0.0 for s in splits) if embedded else None,
    )


class ExportInfo(FrozenModel):
    """An output of ``dataset export``, from its index (``OUT/.audiotok/index.json``)."""

    path: str
    format: str = Field(description="parquet, shar, webdataset or codec-bpe.")
    codec: str | None = Field(description="The codec's name, when the sources named it.")
    weights_sha256: str | None = Field(description="sha256 of the codec's weights, when known.")
    frame_rate: float = Field(description="Rows of codes per second.")
    strides: list[int] = Field(description="Per codebook, finest frames one code spans (SNAC: 4, 2, 1).")
    codes_dtype: str = Field(description="uint16 or uint32 (codec-bpe files: int32).")
    splits: dict[str, int] = Field(description="Items per split.")
    items: int
    total_frames: int
    hours: float
    shards: int = Field(description="Shard files (0 for codec-bpe: one file per item).")
    failed: int = Field(description="Source files left out when exporting.")
    columns: list[str] = Field(description="Parquet columns, a WebDataset sample's members, or Shar fields.")


def _columns(path: str, fmt: str, shards: list[dict[str, object]]) -> list[str]:
    if not shards:
        return []
    first = os.path.join(path, str(shards[0]["name"]))
    if fmt == "shar":  # the fields of shard 0: cuts.000000.jsonl.gz, codes.000000.tar, ...
        number = str(shards[0]["name"]).split(".")[1]
        return sorted(n.split(".")[0] for n in os.listdir(path) if n.split(".")[1:2] == [number])
    if fmt == "parquet":
        return list(pq.read_schema(first).names)  # the footer only
    with tarfile.open(first) as tar:
        names = tar.getnames()
    key = names[0].split(".", 1)[0] if names else ""
    return [n.split(".", 1)[1] for n in names if n.split(".", 1)[0] == key]


def inspect_export(path: str | os.PathLike[str]) -> ExportInfo | None:
    """Summarize an output of ``dataset export`` from its index (``None`` if ``path`` is not one)."""
    index = read_index(Path(path))
    if index is None:
        return None
    ident = index["identity"]
    fmt = str(index["format"])
    return ExportInfo(
        path=os.fspath(path),
        format=fmt,
        codec=ident.get("codec"),
        weights_sha256=ident.get("weights_sha256"),
        frame_rate=float(ident["frame_rate"]),
        strides=list(ident.get("strides") or []),
        codes_dtype="int32" if fmt == "codec-bpe" else str(ident["codes_dtype"]),
        splits=dict(index["splits"]),
        items=int(index["items"]),
        total_frames=int(index["frames"]),
        hours=float(index["seconds"]) / 3600.0,
        shards=len(index["shards"]),
        failed=len(index["failed"]),
        columns=_columns(os.fspath(path), fmt, list(index["shards"])),
    )
