"""Side by side: ways to store ``codes [T, K]`` and ``cond [T, D]`` in a Hugging Face dataset, read at random.

Why ``dataset build`` stores both matrices as flat ``List`` columns (issue 8,
item 5). Rows like the issue's corpus (T uniform in 300..400, K = 8 uint16,
D = 2 float32) are saved once per layout with ``DatasetDict.save_to_disk``,
reopened with ``load_from_disk``, and read back item by item into
``codes`` LongTensor[T, K] and ``cond`` FloatTensor[T, D], in the same run:

- ``List(List(uint16))`` (nested; audiotok's layout before), numpy format;
- ``List(uint16)`` flat + shape columns: numpy format, torch format, arrow
  format (``TokenDataset``: one-row Arrow table, numpy views of its buffers),
  the default Python format, and the Arrow table's buffers directly
  (``ds.data``; ignores an indices mapping, so not usable for shuffled or
  selected datasets);
- ``LargeList(uint16)`` flat, numpy format;
- ``Array2D((None, 8), "uint16")``, numpy format (needs one K for the whole dataset).

    PYTHONPATH=. python benchmarks/bench_dataset_layouts.py [--rows 10000] [--reads 3000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import torch

Item = dict[str, torch.Tensor]


def _flat(arrays: list[np.ndarray], large: bool = False) -> pa.Array:
    offsets = np.zeros(len(arrays) + 1, np.int64)
    np.cumsum([a.size for a in arrays], out=offsets[1:])
    values = pa.array(np.concatenate([a.reshape(-1) for a in arrays]))
    if large:
        return pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def _nested(arrays: list[np.ndarray]) -> pa.Array:
    rows = np.array([a.shape[0] for a in arrays])
    outer = np.zeros(len(arrays) + 1, np.int32)
    np.cumsum(rows, out=outer[1:])
    inner = np.zeros(int(rows.sum()) + 1, np.int32)
    np.cumsum(np.repeat([a.shape[1] for a in arrays], rows), out=inner[1:])
    values = pa.array(np.concatenate([a.reshape(-1) for a in arrays]))
    return pa.ListArray.from_arrays(pa.array(outer), pa.ListArray.from_arrays(pa.array(inner), values))


def _item(codes: Any, cond: Any, t: int, k: int, d: int) -> Item:
    return {
        "codes": torch.from_numpy(np.asarray(codes, dtype=np.int64).reshape(t, k)),
        "cond": torch.from_numpy(np.array(cond, dtype=np.float32).reshape(t, d)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=3000, help="Random reads per reader.")
    args = ap.parse_args()

    import datasets
    from datasets import Array2D, DatasetDict, Features, LargeList, List, Value, load_from_disk

    from audiotok.formats import token_table

    datasets.disable_progress_bars()
    rng = np.random.default_rng(0)
    n, k, d = args.rows, 8, 2
    lengths = rng.integers(300, 401, n)
    codes = [rng.integers(0, 1024, (t, k)).astype(np.uint16) for t in lengths]
    cond = [rng.random((t, d)).astype(np.float32) for t in lengths]
    base = {
        "n_frames": pa.array(lengths.astype(np.int64)),
        "n_codebooks": pa.array(np.full(n, k, np.int32)),
        "cond_names": pa.array([["gain", "pos"]] * n),
    }
    base_f = {"n_frames": Value("int64"), "n_codebooks": Value("int32"), "cond_names": List(Value("string"))}
    flat = {"codes": List(Value("uint16")), "cond": List(Value("float32"))}
    layouts: dict[str, tuple[dict[str, Any], Callable[[], dict[str, Any]]]] = {
        "nested List(List)": (
            {"codes": List(List(Value("uint16"))), "cond": List(List(Value("float32")))},
            lambda: {"codes": _nested(codes), "cond": _nested(cond)},
        ),
        "flat List": (flat, lambda: {"codes": _flat(codes), "cond": _flat(cond)}),
        "flat LargeList": (
            {"codes": LargeList(Value("uint16")), "cond": LargeList(Value("float32"))},
            lambda: {"codes": _flat(codes, True), "cond": _flat(cond, True)},
        ),
        "Array2D(None, 8)": (
            {"codes": Array2D((None, k), "uint16"), "cond": Array2D((None, d), "float32")},
            lambda: {},
        ),
    }
    reads = [int(i) for i in rng.integers(0, n, args.reads)]
    print(
        f"{n} rows, codes [T, {k}] uint16 + cond [T, {d}] float32, T in 300..400; {args.reads} random reads"
    )
    print(f"  {'layout':<18} {'reader':<38} {'items/s':>9} {'M frames/s':>10} {'save s':>7} {'MB':>6}")
    with tempfile.TemporaryDirectory(prefix="bench_layouts_") as tmp:
        for name, (columns, arrays) in layouts.items():
            features = Features(base_f | columns)
            start = time.perf_counter()
            if name.startswith("Array2D"):  # no direct Arrow construction: datasets encodes the arrays
                data = {c: base[c].to_pylist() for c in base} | {"codes": codes, "cond": cond}
                ds = datasets.Dataset.from_dict(data, features=features)
            else:
                table = pa.table(base | arrays(), schema=features.arrow_schema)
                ds = datasets.Dataset(
                    datasets.table.InMemoryTable(table), info=datasets.DatasetInfo(features=features)
                )
            out = os.path.join(tmp, name.replace(" ", "_"))
            DatasetDict({"train": ds}).save_to_disk(out)
            saved = time.perf_counter() - start
            size = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(out) for f in fs) / 1e6
            ds = load_from_disk(out)["train"]
            for reader, get in _readers(name, ds, token_table).items():
                get(reads[0])
                start = time.perf_counter()
                frames = sum(int(get(i)["codes"].shape[0]) for i in reads)
                wall = time.perf_counter() - start
                print(
                    f"  {name:<18} {reader:<38} {len(reads) / wall:9.0f} {frames / wall / 1e6:10.2f}"
                    f" {saved:7.2f} {size:6.1f}"
                )


def _readers(name: str, ds: Any, token_table: Any) -> dict[str, Callable[[int], Item]]:
    numpy_rows = ds.with_format("numpy", columns=["codes", "cond"], output_all_columns=True)
    if name.startswith("Array2D"):

        def array2d(i: int) -> Item:
            row = numpy_rows[i]
            return {
                "codes": torch.from_numpy(row["codes"].astype(np.int64)),
                "cond": torch.from_numpy(row["cond"]),
            }

        return {"numpy format": array2d}

    def numpy_format(i: int) -> Item:
        row = numpy_rows[i]
        return _item(row["codes"], row["cond"], row["n_frames"], row["n_codebooks"], len(row["cond_names"]))

    readers: dict[str, Callable[[int], Item]] = {"numpy format": numpy_format}
    if name.startswith("nested"):
        return readers
    torch_rows = ds.with_format("torch", columns=["codes", "cond"], output_all_columns=True)
    arrow_rows = ds.with_format("arrow")

    def torch_format(i: int) -> Item:
        row = torch_rows[i]
        t, k = int(row["n_frames"]), int(row["n_codebooks"])
        return {"codes": row["codes"].long().reshape(t, k), "cond": row["cond"].reshape(t, -1)}

    def arrow_format(i: int) -> Item:  # what TokenDataset does
        row = arrow_rows[i]
        names = token_table.cond_names(row)
        return {
            "codes": torch.from_numpy(token_table.row_codes(row).astype(np.int64)),
            "cond": torch.from_numpy(token_table.row_cond(row, names=names).copy()),
        }

    def python_format(i: int) -> Item:
        row = ds[i]
        return _item(row["codes"], row["cond"], row["n_frames"], row["n_codebooks"], len(row["cond_names"]))

    table = ds.data.table
    starts = np.cumsum([0] + [len(c) for c in table.column("codes").chunks])
    chunks = [
        tuple(table.column(c).chunk(j) for c in ("codes", "cond", "n_frames", "n_codebooks"))
        for j in range(len(starts) - 1)
    ]
    views = [
        (
            c.offsets.to_numpy(),
            c.values.to_numpy(),
            q.offsets.to_numpy(),
            q.values.to_numpy(),
            t.to_numpy(),
            k.to_numpy(),
        )
        for c, q, t, k in chunks
    ]

    def buffers(i: int) -> Item:
        j = int(np.searchsorted(starts, i, side="right") - 1)
        co, cv, qo, qv, nt, nk = views[j]
        r = i - int(starts[j])
        t, k = int(nt[r]), int(nk[r])
        return {
            "codes": torch.from_numpy(cv[co[r] : co[r + 1]].astype(np.int64).reshape(t, k)),
            "cond": torch.from_numpy(qv[qo[r] : qo[r + 1]].reshape(t, -1).copy()),
        }

    readers |= {
        "torch format": torch_format,
        "arrow format + views (TokenDataset)": arrow_format,
        "default (Python lists)": python_format,
        "ds.data buffers (no indices mapping)": buffers,
    }
    return readers


if __name__ == "__main__":
    main()
