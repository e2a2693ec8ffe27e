"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_AUDIO = Path(os.environ.get("AUDIOTOK_SHARED_AUDIO", REPO.parent / "shared" / "audio"))


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """``../shared/audio`` (real recordings, CC BY-NC); skips the test when absent."""
    if not (SHARED_AUDIO / "speech_music_24k_mono.wav").is_file():
        pytest.skip(f"real audio not found at {SHARED_AUDIO}")
    return SHARED_AUDIO


# Hugging Face `datasets` must never reach the network or write under ~/.cache in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(tempfile.gettempdir(), "audiotok-tests-hf-cache"))
