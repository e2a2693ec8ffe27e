"""The shipped demo clip is what examples/make_demo_clip.py makes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import soundfile as sf

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_demo_clip_matches_its_generator() -> None:
    spec = importlib.util.spec_from_file_location("make_demo_clip", EXAMPLES / "make_demo_clip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped, sr = sf.read(EXAMPLES / "demo_chords.flac", dtype="float32")
    assert sr == module.SR and shipped.shape[1] == 2
    np.testing.assert_allclose(shipped, module.synthesise(), atol=1 / 32768 + 1e-6)
    assert np.abs(shipped[:, 0] - shipped[:, 1]).mean() > 0.01  # Side carries signal
