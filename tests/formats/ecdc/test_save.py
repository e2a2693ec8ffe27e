"""The torch-free ``.ecdc`` writer gives exactly the bytes of the installed ``torch.save``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audiotok.formats import ecdc
from audiotok.formats.ecdc._save import save_bytes

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)


def _torch_bytes(payload: dict[str, Any], codes: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save({**payload, "audio_codes": torch.from_numpy(codes)[None]}, buf)
    return buf.getvalue()


@settings(max_examples=120, deadline=None)
@given(
    frames=st.integers(min_value=1, max_value=2000),
    codebooks=st.integers(min_value=1, max_value=32),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    scales=st.lists(st.one_of(st.none(), st.floats(allow_nan=False)), max_size=3),
    extra=st.dictionaries(st.text(min_size=1, max_size=12), _values, max_size=4),
    lists=st.lists(_values, max_size=4),
)
def test_bytes_equal_torch_save(
    frames: int,
    codebooks: int,
    seed: int,
    scales: list[Any],
    extra: dict[str, Any],
    lists: list[Any],
) -> None:
    rng = np.random.default_rng(seed)
    # Time-major codes transposed as ecdc.write does: a size-1 axis may keep any stride.
    codes = np.ascontiguousarray(rng.integers(0, 1024, (frames, codebooks)).T, dtype=np.int64)
    payload = {"audio_codes": None, "audio_scales": scales, **extra, "list": lists}
    assert save_bytes(payload, "audio_codes", codes) == _torch_bytes(payload, codes)


def test_write_gives_torch_save_bytes(tmp_path: Path) -> None:
    codes = np.random.default_rng(0).integers(0, 1024, (751, 8))
    meta = ecdc.EcdcMeta(
        n_codebooks=8, n_frames=751, sample_rate=24_000, bandwidth=6.0, model="encodec_24khz",
        audio_length=240_000, audiotok_version="9.9.9",
    )  # fmt: skip
    ecdc.write(tmp_path / "a.ecdc", codes, meta, scales=[None])
    payload = {
        "audio_codes": None,
        "audio_scales": [None],
        "audio_length": 240_000,
        "sample_rate": 24_000,
        "fps": 75.0,
        "bandwidth": 6.0,
        "model": "encodec_24khz",
        "audiotok_version": "9.9.9",
    }
    stored = np.ascontiguousarray(codes.T, dtype=np.int64)
    assert (tmp_path / "a.ecdc").read_bytes() == _torch_bytes(payload, stored)
    loaded = torch.load(tmp_path / "a.ecdc", weights_only=True, map_location="cpu")
    assert torch.equal(loaded["audio_codes"], torch.from_numpy(stored)[None])


def test_layouts_it_does_not_know_are_left_to_torch() -> None:
    payload = {"audio_codes": None}
    assert save_bytes(payload, "audio_codes", np.zeros((8, 0), np.int64)) is None
    assert save_bytes(payload, "audio_codes", np.zeros((8, 4), np.int32)) is None
    assert save_bytes(payload, "audio_codes", np.zeros((4, 8), np.int64).T) is None
    assert save_bytes(payload, "audio_codes", np.zeros((1, 8, 4), np.int64)) is None


def test_codes_without_frames_are_written_by_torch(tmp_path: Path) -> None:
    meta = ecdc.EcdcMeta(n_codebooks=8, n_frames=0, sample_rate=24_000, bandwidth=6.0, model="encodec_24khz")
    ecdc.write(tmp_path / "empty.ecdc", np.zeros((0, 8), np.int64), meta)
    codes, read_meta = ecdc.read(tmp_path / "empty.ecdc")
    assert codes.shape == (0, 8) and read_meta.n_frames == 0
