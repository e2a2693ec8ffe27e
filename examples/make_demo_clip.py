"""Synthesise the demo clip used by the README: ``examples/demo_chords.flac``.

An 8-second stereo chord progression (C - G - Am - F) at 44.1 kHz: soft
additive-synth pads panned left, an arpeggio panned right, a bass in the
centre, so the left and right channels differ (Mid and Side both carry
signal). Made by this script, so it is free to use (CC0).

    python examples/make_demo_clip.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100
BEAT_S = 0.5
CHORDS = [  # MIDI notes
    (60, 64, 67),  # C
    (55, 59, 62),  # G
    (57, 60, 64),  # Am
    (53, 57, 60),  # F
]


def _hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _tone(freq: float, n: int, partials: int = 4) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, partials + 1))


def _envelope(n: int, attack: float = 0.02, release: float = 0.2) -> np.ndarray:
    env = np.ones(n)
    a, r = int(attack * SR), int(release * SR)
    env[:a] = np.linspace(0, 1, a)
    env[-r:] *= np.linspace(1, 0, r)
    return env


def synthesise() -> np.ndarray:
    """Return the clip as float32 ``[N, 2]``."""
    bar = int(4 * BEAT_S * SR)
    left, right = np.zeros(bar * len(CHORDS)), np.zeros(bar * len(CHORDS))
    beat = int(BEAT_S * SR)
    for i, chord in enumerate(CHORDS):
        start = i * bar
        pad = sum(_tone(_hz(n), bar) for n in chord) * _envelope(bar, 0.15, 0.4)
        bass = _tone(_hz(chord[0] - 24), bar, partials=2) * _envelope(bar, 0.01, 0.3)
        left[start : start + bar] += 0.18 * pad + 0.25 * bass
        right[start : start + bar] += 0.06 * pad + 0.25 * bass
        for j in range(8):  # eighth-note arpeggio
            n = chord[j % 3] + 12
            s = start + j * beat // 2
            note = _tone(_hz(n), beat // 2, partials=3) * _envelope(beat // 2, 0.005, 0.15)
            right[s : s + beat // 2] += 0.2 * note
            left[s : s + beat // 2] += 0.05 * note
    audio = np.stack([left, right], axis=1)
    audio *= 0.8 / np.abs(audio).max()
    return audio.astype(np.float32)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("demo_chords.flac")
    sf.write(out, synthesise(), SR, subtype="PCM_16")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
