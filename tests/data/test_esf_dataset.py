"""audiotok.data.EsfDataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audiotok.data import EsfDataset
from audiotok.errors import FormatError, InputError
from audiotok.formats import esf
from tests.services.esf.test_sidecars import make_codes


def test_items(tmp_path: Path) -> None:
    codes = make_codes(tmp_path / "a" / "x.ecdc", 16)
    npy, js = esf.sidecar_paths(codes)
    esf.write_sidecar(npy, js, np.stack([np.linspace(0, 1, 16), np.full(16, 4.0)], 1), ["pos", "gain"])
    ds = EsfDataset(tmp_path)
    assert len(ds) == 1
    item = ds[0]
    assert item["codes"].dtype == torch.int64 and item["codes"].shape == (16, 8)
    assert item["cond"].dtype == torch.float32 and item["cond"].shape == (16, 2)
    assert item["names"] == ["pos", "gain"] and item["meta"]["fps"] == 75.0
    picked = EsfDataset(tmp_path, require=["gain"], normalize=True)[0]
    assert picked["names"] == ["gain"] and picked["cond"].shape == (16, 1)
    with pytest.raises(FormatError, match="lacks"):
        EsfDataset(tmp_path, require=["nope"])[0]
    with pytest.raises(InputError):
        EsfDataset(tmp_path / "missing")
