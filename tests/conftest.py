"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from audiotok.formats import npq

pytest_plugins = ["tests.dac_helpers"]  # tiny DAC weights in a temp cache: tiny_weights, dac_home

REPO = Path(__file__).resolve().parents[1]
SHARED_AUDIO = Path(os.environ.get("AUDIOTOK_SHARED_AUDIO", REPO.parent / "shared" / "audio"))

WriteNpq = Callable[..., Path]


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """``../shared/audio`` (real recordings, CC BY-NC); skips the test when absent."""
    if not (SHARED_AUDIO / "speech_music_24k_mono.wav").is_file():
        pytest.skip(f"real audio not found at {SHARED_AUDIO}")
    return SHARED_AUDIO


def random_tokens(seq_len: int, vocab_sizes: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Tokens ``[T, K]`` with ``0 <= tokens[:, k] < vocab_sizes[k]`` (int64)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.array(vocab_sizes), size=(seq_len, len(vocab_sizes)), dtype=np.int64)


@pytest.fixture
def write_npq() -> WriteNpq:
    """Write a valid .npq file with audiotok's writer; returns the path.

    ``write_npq(path, seq_len=8, vocab_sizes=(1024,) * 4, k_mid=None, token_rate=86.1328125)``;
    with ``k_mid`` an NPQ2 file (``k_side = K - k_mid``), else NPQ1.
    """

    def _write(
        path: Path,
        *,
        seq_len: int = 8,
        vocab_sizes: tuple[int, ...] = (1024,) * 4,
        k_mid: int | None = None,
        token_rate: float = 86.1328125,
        orig_bitrate_kbps: float = 0.0,
        seed: int = 0,
    ) -> Path:
        common = dict(
            token_rate=token_rate,
            orig_bitrate_kbps=orig_bitrate_kbps,
            seq_len=seq_len,
            vocab_sizes=vocab_sizes,
        )
        header: npq.Npq1Header | npq.Npq2Header
        if k_mid is None:
            header = npq.Npq1Header(**common)
        else:
            header = npq.Npq2Header(**common, k_mid=k_mid, k_side=len(vocab_sizes) - k_mid)
        npq.write(path, random_tokens(seq_len, vocab_sizes, seed), header)
        return path

    return _write


# Hugging Face `datasets` must never reach the network or write under ~/.cache in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(tempfile.gettempdir(), "audiotok-tests-hf-cache"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.gpu`` tests unless CUDA is present (they run wherever it is)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch  # only when a gpu test was collected

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in gpu_items:
        item.add_marker(skip)


# Converted backend models (OpenVINO) are cached per test session: the tiny DAC's weights are the same
# bytes in every test of a session, so `--backend auto` converts and gates them once.
os.environ.setdefault("AUDIOTOK_CACHE_DIR", tempfile.mkdtemp(prefix="audiotok-tests-cache-"))

# The batch runner's per-file net catches only AudiotokError in tests: any other exception (a bug)
# fails the test instead of becoming a "failed file" (audiotok/services/runner.py).
os.environ.setdefault("AUDIOTOK_STRICT", "1")
