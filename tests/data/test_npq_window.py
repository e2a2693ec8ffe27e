"""NpqWindowDataset: windows, the BOS = -1 shift, codebook selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from audiotok.data import NpqWindowDataset, PadCollate
from audiotok.data.npq import BOS, codebook_columns, window_starts
from audiotok.errors import FormatError, UsageError
from audiotok.formats import npq
from tests._token_trees import make_npq_tree


@pytest.mark.parametrize(
    ("t", "ctx", "step", "starts"),
    [
        (0, 4, 4, []),
        (3, 4, 4, [0]),
        (4, 4, 4, [0]),
        (10, 4, 4, [0, 4, 6]),
        (10, 4, 3, [0, 3, 6]),
        (9, 4, 2, [0, 2, 4, 5]),
    ],
)
def test_window_starts(t: int, ctx: int, step: int, starts: list[int]) -> None:
    assert window_starts(t, ctx, step) == starts


def test_codebook_columns() -> None:
    assert codebook_columns(8, None) == list(range(8))
    assert codebook_columns(8, 3) == [0, 1, 2]
    assert codebook_columns(6, 2, k_mid=4, k_side=2) == [0, 1, 4, 5]
    assert codebook_columns(6, 3, k_mid=4, k_side=2) == [0, 1, 2, 4, 5]
    with pytest.raises(UsageError):
        codebook_columns(4, 5)


def test_windows_are_shifted_targets_with_bos(tmp_path: Path) -> None:
    path = tmp_path / "a.npq"
    tokens = np.arange(10 * 3).reshape(10, 3) % 1024
    npq.write(path, tokens, npq.Npq1Header(token_rate=86.1328125, seq_len=10, vocab_sizes=(1024,) * 3))
    ds = NpqWindowDataset([path], ctx=4, step=4, k=2)
    assert len(ds) == 3 and ds.n_codebooks == 2
    for i, start in enumerate([0, 4, 6]):
        item = ds[i]
        assert item["targets"].dtype == torch.long
        np.testing.assert_array_equal(item["targets"].numpy(), tokens[start : start + 4, :2])
        assert (item["inputs"][0] == BOS).all()
        assert torch.equal(item["inputs"][1:], item["targets"][:-1])
    with pytest.raises(IndexError):
        ds[3]


def test_loader_batches_short_and_long_files(tmp_path: Path) -> None:
    files = make_npq_tree(tmp_path, 5, k=4)
    short_file = tmp_path / "short.npq"
    npq.write(
        short_file,
        np.ones((5, 4), np.int64),
        npq.Npq1Header(token_rate=75.0, seq_len=5, vocab_sizes=(1024,) * 4),
    )
    ds = NpqWindowDataset([*files, short_file], ctx=16, step=8)
    loader = DataLoader(ds, batch_size=len(ds), collate_fn=PadCollate(pad_values={"targets": -100}))
    batch = next(iter(loader))
    assert batch["inputs"].shape == (len(ds), 16, 4)
    short = batch["lengths"] < 16
    assert short.any()  # the tree has files shorter than ctx
    assert (batch["targets"][~batch["mask"]] == -100).all()
    assert (batch["inputs"][:, 0] == BOS).all()


def test_stereo_files_select_mid_and_side(tmp_path: Path) -> None:
    files = make_npq_tree(tmp_path, 3, k=3, stereo=True)
    ds = NpqWindowDataset(files, ctx=8, k=2)
    tokens, _ = npq.read(files[0])
    np.testing.assert_array_equal(ds[0]["targets"].numpy(), tokens[:8][:, [0, 1, 3, 4]])


def test_mixed_widths_and_bad_files_are_refused(tmp_path: Path) -> None:
    a = make_npq_tree(tmp_path / "a", 1, k=4)
    b = make_npq_tree(tmp_path / "b", 1, k=2)
    with pytest.raises(UsageError, match="k="):
        NpqWindowDataset(a + b, ctx=4)
    assert NpqWindowDataset(a + b, ctx=4, k=2).n_codebooks == 2
    bad = tmp_path / "bad.npq"
    bad.write_bytes(b"nope")
    with pytest.raises(FormatError):
        NpqWindowDataset([bad], ctx=4)
    with pytest.raises(UsageError):
        NpqWindowDataset(a, ctx=0)
