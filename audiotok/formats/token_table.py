"""Rows of a dataset built by ``audiotok dataset build``, as arrays.

The dataset follows ``docs/specs/encodec-dataset-workflow.md`` (its ``audio``
column) and adds the columns below.

The ``codes`` and ``cond`` columns hold each matrix flat, row-major, with its
shape in other columns of the same row::

    codes : list<uint16 | uint32>  T * K values   -> [T, K] = (n_frames, n_codebooks)
    cond  : list<float32>          T * D values   -> [T, D] = (n_frames, len(cond_names))

so a ``datasets.load_from_disk`` user gets ``[T, K]`` with one reshape::

    row = ds.with_format("numpy")[i]
    codes = row["codes"].reshape(row["n_frames"], row["n_codebooks"])
    cond = row["cond"].reshape(row["n_frames"], len(row["cond_names"]))

Flat primitive lists are read without Python lists: their values are one
Arrow buffer, which numpy views in place (nested ``list<list<...>>`` columns
decode into a Python list per frame). This module reads those views straight
from the Arrow table of a row (``Dataset.with_format("arrow")[i]``); it needs
no torch and no ``datasets``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from audiotok.errors import FormatError

__all__ = ["cond_names", "row_codes", "row_cond", "scalar"]


def scalar(table: pa.Table, column: str, i: int = 0) -> Any:
    """The Python value of ``column`` in row ``i`` of ``table``."""
    return table.column(column)[i].as_py()


def _flat(table: pa.Table, column: str, i: int) -> np.ndarray[Any, Any]:
    values = table.column(column)[i].values
    if values is None:
        raise FormatError(f"row {i}: {column!r} is null")
    if values.null_count:
        raise FormatError(f"row {i}: {column!r} holds nulls")
    return values.to_numpy(zero_copy_only=True)  # type: ignore[no-any-return]


def _shaped(flat: np.ndarray[Any, Any], rows: int, cols: int, column: str, i: int) -> np.ndarray[Any, Any]:
    if flat.size != rows * cols:
        raise FormatError(f"row {i}: {column!r} holds {flat.size} values, expected {rows} x {cols}")
    return flat.reshape(rows, cols)


def row_codes(table: pa.Table, i: int = 0) -> np.ndarray[Any, Any]:
    """``codes`` of row ``i`` as a read-only ``[T, K]`` view in the stored dtype (uint16 or uint32).

    Parameters
    ----------
    table : pyarrow.Table
        Rows of an embedded dataset, e.g. ``Dataset.with_format("arrow")[i]``.
    i : int
        Row within ``table``.

    Returns
    -------
    codes : ndarray[T, K]
        ``T = n_frames``, ``K = n_codebooks``; a view of the Arrow buffer (copy
        it, e.g. with ``astype``, before writing to it).

    Raises
    ------
    FormatError
        If the column's length is not ``n_frames * n_codebooks``.
    """
    flat = _flat(table, "codes", i)
    return _shaped(flat, scalar(table, "n_frames", i), scalar(table, "n_codebooks", i), "codes", i)


def cond_names(table: pa.Table, i: int = 0) -> list[str]:
    """``cond_names`` of row ``i`` (its length is D)."""
    return list(scalar(table, "cond_names", i))


def row_cond(table: pa.Table, i: int = 0, names: list[str] | None = None) -> np.ndarray[Any, Any]:
    """``cond`` of row ``i`` as a read-only float32 ``[T, D]`` view (ESF datasets).

    ``D = len(cond_names)``; pass ``names`` when already read.

    Raises
    ------
    FormatError
        If the column's length is not ``n_frames * D``.
    """
    d = len(cond_names(table, i) if names is None else names)
    return _shaped(_flat(table, "cond", i), scalar(table, "n_frames", i), d, "cond", i)
