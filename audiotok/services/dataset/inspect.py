"""``dataset inspect``: what a built dataset holds, computed on its Arrow columns."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
from datasets import DatasetDict, load_from_disk
from pydantic import Field

from audiotok.errors import InputError
from audiotok.formats._base import FrozenModel
from audiotok.services.dataset._swap import is_dataset_dir

__all__ = ["DatasetSummary", "SplitSummary", "inspect_dataset"]


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
