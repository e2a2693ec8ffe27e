"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.dac_helpers"]  # tiny DAC weights in a temp cache: tiny_weights, dac_home

REPO = Path(__file__).resolve().parents[1]
SHARED_AUDIO = Path(os.environ.get("AUDIOTOK_SHARED_AUDIO", REPO.parent / "shared" / "audio"))


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """``../shared/audio`` (real recordings, CC BY-NC); skips the test when absent."""
    if not (SHARED_AUDIO / "speech_music_24k_mono.wav").is_file():
        pytest.skip(f"real audio not found at {SHARED_AUDIO}")
    return SHARED_AUDIO
