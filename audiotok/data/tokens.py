"""Torch ``Dataset`` over a dataset built by ``audiotok dataset build``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from datasets import Dataset as HFDataset
from datasets import DatasetDict, load_from_disk
from torch.utils.data import Dataset

from audiotok.data.npq import codebook_columns
from audiotok.errors import InputError
from audiotok.formats import esf, npq
from audiotok.formats import token_table as table

__all__ = ["TokenDataset", "load_token_dataset"]


class TokenDataset(Dataset[dict[str, Any]]):
    """Rows of one split as tensors.

    Each item is a dict:

    - ``codes`` : LongTensor[T, K], codebook indices (first ``k`` codebooks if given);
    - ``cond`` : FloatTensor[T, D], ESF conditioning (ESF datasets only);
    - ``cond_names`` : list of str, its column names (ESF only);
    - ``audio`` : str, the token file's path relative to the dataset folder, when the
      dataset places its token files (``--no-embed``, ``--materialize link|copy``);
      otherwise ``id`` : str, the token file's path below its source folder, no suffix.

    Embedded datasets are read from their flat ``codes``/``cond`` columns
    (:mod:`audiotok.formats.token_table`): each item views the memory-mapped
    Arrow buffers and copies once into its tensors, with no Python list per
    row. Path-only datasets (``--no-embed``) read the token files the
    ``audio`` column points to, relative to ``root``.

    Parameters
    ----------
    rows : datasets.Dataset
        One split of a dataset built by ``audiotok dataset build`` (shuffled,
        selected or filtered datasets work too).
    root : str or os.PathLike
        The dataset folder (for path-only datasets).
    k : int, optional
        Use only the first ``k`` codebooks (NPQ2: of Mid and of Side).
    """

    def __init__(self, rows: HFDataset, root: str | os.PathLike[str], *, k: int | None = None) -> None:
        self.root = Path(root)
        self.k = k
        self.rows = rows
        self.embedded = "codes" in rows.column_names
        self.kind = "esf" if "cond" in rows.column_names else "npq"
        self._arrow = rows.with_format("arrow")  # one-row pyarrow Tables: no per-value decoding
        if not self.embedded and len(rows):
            self.kind = "esf" if table.scalar(self._arrow[0], "audio").endswith(".ecdc") else "npq"
        self._stereo = "k_mid" in rows.column_names

    def __len__(self) -> int:
        """Rows in the split."""
        return len(self.rows)

    def _embedded(self, row: pa.Table) -> dict[str, Any]:
        codes = table.row_codes(row)
        width = codes.shape[1]
        k_mid = table.scalar(row, "k_mid") if self._stereo else None
        if self.k is None and k_mid is None:
            picked = codes
        else:
            k_side = table.scalar(row, "k_side") if self._stereo else None
            cols = codebook_columns(width, self.k, k_mid, k_side)
            picked = codes[:, : len(cols)] if cols == list(range(len(cols))) else codes[:, cols]
        item: dict[str, Any] = {"codes": torch.from_numpy(picked.astype(np.int64))}
        if self.kind == "esf":
            names = table.cond_names(row)
            cond = table.row_cond(row, names=names)
            item |= {"cond": torch.from_numpy(cond.copy()), "cond_names": names}
        return item

    def _from_files(self, audio: str) -> dict[str, Any]:
        path = self.root / audio
        if self.kind == "npq":
            tokens, header = npq.read(path)
            cols = codebook_columns(
                header.n_codebooks, self.k, getattr(header, "k_mid", None), getattr(header, "k_side", None)
            )
            return {"codes": torch.from_numpy(np.asarray(tokens[:, cols], dtype=np.int64))}
        codes, cond, _, meta = esf.read_triplet(path, strict=False)
        cols = codebook_columns(codes.shape[1], self.k)
        return {
            "codes": torch.from_numpy(np.ascontiguousarray(codes[:, cols], dtype=np.int64)),
            "cond": torch.from_numpy(np.asarray(cond, dtype=np.float32)),
            "cond_names": list(meta.names),
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Row ``index`` as tensors (see the class docstring)."""
        row = self._arrow[index]
        if self.embedded and "audio" not in row.column_names:
            item = self._embedded(row)
            item["id"] = table.scalar(row, "id")
            return item
        audio = table.scalar(row, "audio")
        item = self._embedded(row) if self.embedded else self._from_files(audio)
        item["audio"] = audio
        return item


def load_token_dataset(
    path: str | os.PathLike[str], split: str = "train", *, k: int | None = None
) -> TokenDataset:
    """Open one split of a dataset built by ``audiotok dataset build``.

    Parameters
    ----------
    path : str or os.PathLike
        The dataset folder (``DatasetDict.save_to_disk`` layout).
    split : str
        Which split.
    k : int, optional
        Use only the first ``k`` codebooks (NPQ2: of Mid and of Side).

    Returns
    -------
    TokenDataset
        A torch ``Dataset``; batch it with :class:`~audiotok.data.collate.PadCollate`.

    Raises
    ------
    InputError
        If ``path`` is not a saved ``DatasetDict`` or has no such split.
    """
    if not os.path.isfile(os.path.join(path, "dataset_dict.json")):
        raise InputError("not a dataset folder (no dataset_dict.json)", path)
    dsd = load_from_disk(os.fspath(path))
    if not isinstance(dsd, DatasetDict) or split not in dsd:
        have = ", ".join(dsd) if isinstance(dsd, DatasetDict) else "none"
        raise InputError(f"no split {split!r} (splits: {have})", path)
    return TokenDataset(dsd[split], path, k=k)
