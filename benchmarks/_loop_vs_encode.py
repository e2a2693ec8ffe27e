"""What ``bench_mimi.py``, ``bench_snac.py`` and ``bench_hf_codecs.py`` share: ``audiotok encode`` runs
against a loop over the codec library's own encode (the anchor), timed in one run, and their table rows.

The anchor writes one file of codes per clip into the folder it is given;
each audiotok run writes ``.npq`` files; ``agreement(ours, anchor)`` counts
the equal codes.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.bench_encode import SHARED, audiotok, mono, run

__all__ = ["HEADER", "Runs", "long_file_rows", "offline_env", "run_rounds", "table_rows"]

HEADER = [
    "| run | wall s | x real time | vs anchor | peak RSS MiB | codes equal to the anchor's |",
    "|---|---:|---:|---:|---:|---:|",
]
"""The table's head."""

Runs = tuple[dict[str, list[float]], dict[str, float], dict[str, Path]]
"""Wall times per run name (one per round), peak RSS per name, and each audiotok run's output folder."""


def offline_env(hf_home: Path, tmp: Path, threads: int) -> dict[str, str]:
    """The children's environment: the Hugging Face cache at ``hf_home``, offline, ``threads`` threads, a
    private audiotok cache."""
    import os

    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "AUDIOTOK_OFFLINE": "1",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "AUDIOTOK_CACHE_DIR": str(tmp / "cache")}  # fmt: skip
    env.pop("HF_HUB_CACHE", None)
    return env


def run_rounds(
    anchor: Callable[[Path], list[str]],
    encode: Sequence[str],
    variants: Sequence[str],
    rounds: int,
    env: dict[str, str],
    tmp: Path,
) -> Runs:
    """``rounds`` rounds of the anchor (``anchor(out_dir)``: its command) and of ``audiotok encode`` with
    ``encode`` (the clips and ``--codec``), plain and with each of ``variants`` (options, one string each)."""
    named = {"audiotok": []} | {f"audiotok {v}": v.split() for v in variants}
    times: dict[str, list[float]] = {"anchor": [], **{name: [] for name in named}}
    rss: dict[str, float] = {}
    outs: dict[str, Path] = {}
    for r in range(rounds):
        (tmp / f"anchor{r}").mkdir()
        cmds = {"anchor": anchor(tmp / f"anchor{r}")}
        for i, (name, extra) in enumerate(named.items()):
            outs[name] = tmp / f"ours{i}_{r}"
            cmds[name] = audiotok("encode", *encode, "-o", outs[name], *extra)
        for name, cmd in cmds.items():
            wall, peak = run(cmd, env)
            times[name].append(wall)
            rss[name] = max(rss.get(name, 0.0), peak)
            print(f"round {r + 1}: {name:32s} {wall:7.2f} s  {peak:6.0f} MiB", flush=True)
    return times, rss, outs


def table_rows(
    runs: Runs, audio_seconds: float, agreement: Callable[[Path, Path], tuple[int, int]], anchor: Path
) -> list[str]:
    """One row per run: median wall time, x real time, the ratio to the anchor, peak RSS, equal codes."""
    times, rss, outs = runs
    base = statistics.median(times["anchor"])
    lines = []
    for name in times:
        t = statistics.median(times[name])
        eq = "-"
        if name in outs:
            same, total = agreement(outs[name], anchor)
            eq = f"{100 * same / total:.4f} % ({total - same} of {total} differ)"
        lines.append(
            f"| {name} | {t:.2f} | {audio_seconds / t:.1f} | {base / t:.2f}x | {rss[name]:.0f} | {eq} |"
        )
    return lines


def long_file_rows(codec: str, rate: int, env: dict[str, str], tmp: Path) -> list[str]:
    """Wall time and peak RSS of one 10- and one 60-minute file (the shared speech tiled) at ``rate``."""
    speech, sr = mono(SHARED / "speech_music_24k_mono.wav")
    assert sr == rate, "the long files are cut from the 24 kHz recording"
    lines = []
    for minutes in (10, 60):
        long = tmp / f"long{minutes}.wav"
        n = minutes * 60 * rate
        sf.write(long, np.tile(speech, int(np.ceil(n / len(speech))))[:n], rate)
        wall, peak = run(audiotok("encode", long, "-o", tmp / f"long_out{minutes}", "--codec", codec), env)
        lines.append(
            f"| one {minutes}-minute file | {wall:.1f} | {minutes * 60 / wall:.1f} | - | {peak:.0f} | - |"
        )
        long.unlink()
    return lines
