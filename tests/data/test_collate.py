"""PadCollate: padding along time, masks, lengths."""

from __future__ import annotations

import pytest
import torch

from audiotok.data import PadCollate, pad_collate


def test_pads_tensors_and_keeps_other_values() -> None:
    samples = [
        {"codes": torch.ones(3, 2, dtype=torch.long), "cond": torch.ones(3, 1), "audio": "a"},
        {"codes": torch.full((5, 2), 7), "cond": torch.zeros(5, 1), "audio": "b"},
    ]
    batch = PadCollate(pad_values={"codes": -1})(samples)
    assert batch["codes"].shape == (2, 5, 2) and batch["cond"].shape == (2, 5, 1)
    assert batch["codes"].dtype == torch.long
    assert (batch["codes"][0, 3:] == -1).all() and (batch["codes"][1] == 7).all()
    assert batch["lengths"].tolist() == [3, 5]
    assert batch["mask"].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch["audio"] == ["a", "b"]


def test_zero_length_and_mismatched_samples() -> None:
    batch = pad_collate([{"x": torch.zeros(0, 3)}, {"x": torch.ones(2, 3)}])
    assert batch["x"].shape == (2, 2, 3) and batch["mask"].sum().item() == 2
    with pytest.raises(ValueError, match="sample 1"):
        pad_collate(
            [{"x": torch.zeros(2, 3), "y": torch.zeros(2)}, {"x": torch.ones(2, 3), "y": torch.zeros(4)}]
        )
    with pytest.raises(ValueError):
        pad_collate([])
