"""load_token_dataset over built NPQ datasets (embedded and path-only)."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from audiotok.data import TokenDataset, load_token_dataset, pad_collate
from audiotok.errors import InputError
from audiotok.formats import npq
from audiotok.services.dataset.build import build_dataset
from tests._token_trees import make_npq_tree


@pytest.mark.parametrize("embed", [True, False])
def test_items_match_source_files(tmp_path: Path, embed: bool) -> None:
    files = make_npq_tree(tmp_path / "tree", 4, k=4)
    build_dataset(tmp_path / "tree", tmp_path / "ds", recursive=True, embed=embed)
    ds = load_token_dataset(tmp_path / "ds", "train")
    assert len(ds) == 4 and ds.embedded is embed and ds.kind == "npq"
    by_name = {p.name: p for p in files}
    for i in range(len(ds)):
        item = ds[i]
        name = item["audio"].rsplit("/", 1)[-1] if not embed else item["id"].rsplit("/", 1)[-1] + ".npq"
        tokens, _ = npq.read(by_name[name])
        np.testing.assert_array_equal(item["codes"].numpy(), tokens)
    batch = next(iter(DataLoader(ds, batch_size=4, collate_fn=pad_collate)))
    assert batch["codes"].shape[:1] == (4,) and batch["codes"].shape[2] == 4
    assert batch["mask"].sum(1).tolist() == batch["lengths"].tolist()


def test_shuffled_and_selected_rows_map_to_their_own_arrays(tmp_path: Path) -> None:
    files = make_npq_tree(tmp_path / "tree", 6, k=3)
    build_dataset(tmp_path / "tree", tmp_path / "ds", recursive=True)
    rows = datasets.load_from_disk(str(tmp_path / "ds"))["train"]
    by_name = {p.name: npq.read(p)[0] for p in files}
    for view in (rows.shuffle(seed=3), rows.select([4, 0, 2]), rows.filter(lambda r: r["n_frames"] > 0)):
        ds = TokenDataset(view, tmp_path / "ds")
        assert len(ds) == len(view)
        for i in range(len(ds)):
            item = ds[i]
            assert item["id"] == view[i]["id"]
            assert item["codes"].dtype == torch.int64
            name = item["id"].rsplit("/", 1)[-1] + ".npq"
            np.testing.assert_array_equal(item["codes"].numpy(), by_name[name])


def test_k_slices_codebooks(tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "tree", 2, k=3, stereo=True)
    build_dataset(tmp_path / "tree", tmp_path / "ds", recursive=True)
    full, sliced = load_token_dataset(tmp_path / "ds"), load_token_dataset(tmp_path / "ds", k=1)
    assert sliced[0]["codes"].shape[1] == 2
    np.testing.assert_array_equal(sliced[0]["codes"].numpy(), full[0]["codes"].numpy()[:, [0, 3]])
    make_npq_tree(tmp_path / "mono", 2, k=4)
    build_dataset(tmp_path / "mono", tmp_path / "ds_mono", recursive=True)
    full, sliced = load_token_dataset(tmp_path / "ds_mono"), load_token_dataset(tmp_path / "ds_mono", k=2)
    np.testing.assert_array_equal(sliced[0]["codes"].numpy(), full[0]["codes"].numpy()[:, :2])
    assert sliced[0]["codes"].is_contiguous()


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a dataset"):
        load_token_dataset(tmp_path)
    make_npq_tree(tmp_path / "tree", 2)
    build_dataset(tmp_path / "tree", tmp_path / "ds", recursive=True)
    with pytest.raises(InputError, match="no split 'test'"):
        load_token_dataset(tmp_path / "ds", "test")
