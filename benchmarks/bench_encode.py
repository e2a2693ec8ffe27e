"""Benchmark ``audiotok npq encode`` against descript-audio-codec's own ``python -m dac encode``.

Everything runs in one go, with the same randomly initialised full-size 44.1 kHz
DAC saved by DAC's own ``save()`` into a temporary ``$HOME/.cache/descript/dac``
(no download; code speed does not depend on the weight values). Anchor and
audiotok runs are interleaved, round after round, so load from other processes
hits both alike; the median of the rounds is reported, with ratios.

Cases
  1. the same real 20 s file: DAC CLI vs ``npq encode --mono``
  2. a batch of 8 real clips (2.5 s each, one folder): DAC CLI vs ``--mono``
  3. a real 15 s stereo file: ``npq encode`` Mid/Side (NPQ2) vs ``--mono``
  4. peak RSS of ``npq encode`` on long synthetic 44.1 kHz stereo files.

Peak RSS per child comes from ``os.wait4``. Usage::

    python benchmarks/bench_encode.py [--rounds 2] [--threads 2] [--rss-minutes 10 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUDIOTOK_SHARED_AUDIO", REPO.parent / "shared" / "audio"))
sys.path.insert(0, str(REPO))

from tests.dac_helpers import TINY, save_dac  # noqa: E402


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``cmd``; return (wall seconds, CPU seconds, peak RSS in MiB) of that child alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def dac_cli(src: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "dac", "encode", str(src), "--output", str(out), "--device", "cpu",
            "--model_type", "44khz"]  # fmt: skip


def ours(src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "audiotok", "-q", "npq", "encode", str(src), "--outdir", str(out),
            "--device", "cpu", "--overwrite", *extra]  # fmt: skip


def make_long_stereo(path: Path, minutes: float, sr: int = 44100) -> float:
    """Write ``minutes`` of 44.1 kHz stereo PCM16 in blocks; return seconds taken."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    block = sr * 10
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for start in range(0, int(minutes * 60 * sr), block):
            t = (start + np.arange(block)) / sr
            left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(block)
            right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(block)
            f.write(np.stack([left, right], axis=1).astype(np.float32))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="OMP/MKL threads for both tools")
    ap.add_argument("--rss-minutes", type=float, nargs=2, default=(10.0, 60.0))
    ap.add_argument("--rss-full-seconds", type=float, default=30.0)
    ap.add_argument("--skip-rss", action="store_true", help="only the timing cases")
    args = ap.parse_args()
    if not (SHARED / "speech_music_24k_mono.wav").is_file():
        raise SystemExit(f"real audio not found in {SHARED}")

    tmp = Path(tempfile.mkdtemp(prefix="bench_encode_"))
    home = tmp / "home"
    weights = home / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth"
    save_dac(weights, seed=0)
    env = {**os.environ, "HOME": str(home), "AUDIOTOK_OFFLINE": "1", "PYTHONPATH": str(REPO),
           "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}  # fmt: skip

    clip20 = SHARED / "speech_music_24k_mono.wav"
    stereo = SHARED / "music_48k_stereo.wav"
    batch = tmp / "batch8"
    batch.mkdir()
    audio, sr = sf.read(clip20, dtype="float32")
    step = len(audio) // 8
    for i in range(8):
        sf.write(batch / f"clip{i}.wav", audio[i * step : (i + 1) * step], sr)

    cases = {
        "20s: dac encode": dac_cli(clip20, tmp / "d1"),
        "20s: audiotok --mono": ours(clip20, tmp / "o1", "--mono"),
        "8 clips: dac encode": dac_cli(batch, tmp / "d2"),
        "8 clips: audiotok --mono": ours(batch, tmp / "o2", "--mono"),
        "15s stereo: audiotok M/S": ours(stereo, tmp / "o3"),
        "15s stereo: audiotok --mono": ours(stereo, tmp / "o4", "--mono"),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    rss: dict[str, float] = {}
    print(
        f"threads={args.threads} rounds={args.rounds} cpus={os.cpu_count()}; full-size 44khz, random weights"
    )
    for r in range(args.rounds):
        for name, cmd in cases.items():
            wall, cpu_s, peak = run(cmd, env)
            times[name].append(wall)
            cpu[name].append(cpu_s)
            rss[name] = max(rss.get(name, 0.0), peak)
            print(
                f"  round {r + 1}: {name:30s} {wall:7.2f} s wall {cpu_s:7.2f} s CPU {peak:6.0f} MiB",
                flush=True,
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print("\nmedian wall time (s) / ratio  [median CPU time (s) / ratio]")
    for a, b, label, target in (
        ("20s: dac encode", "20s: audiotok --mono", "20 s file, dac / audiotok (speed-up)", ">= 2.0"),
        ("8 clips: dac encode", "8 clips: audiotok --mono", "8 clips, dac / audiotok (speed-up)", ">= 2.0"),
        ("15s stereo: audiotok M/S", "15s stereo: audiotok --mono", "stereo M/S / mono (cost)", "<= 1.3"),
    ):
        print(
            f"  {label:40s} {med[a]:7.2f} / {med[b]:7.2f} = {med[a] / med[b]:.2f}  (target {target})"
            f"  [CPU {med_cpu[a]:.1f} / {med_cpu[b]:.1f} = {med_cpu[a] / med_cpu[b]:.2f}]"
        )
    if args.skip_rss:
        return

    # -- peak RSS on long stereo files ------------------------------------------------------
    print("\npeak RSS of `npq encode` (Mid/Side) on synthetic 44.1 kHz stereo")
    full_s = args.rss_full_seconds
    short = tmp / "short.wav"
    make_long_stereo(short, full_s / 60)
    _, _, full_short = run(ours(short, tmp / "r0"), env)
    print(f"  full-size model, {full_s:.0f} s file: {full_short:.0f} MiB")
    tiny_home = tmp / "tiny_home"
    save_dac(tiny_home / ".cache" / "descript" / "dac" / weights.name, **TINY)
    tiny_env = {**env, "HOME": str(tiny_home)}
    _, _, tiny_short = run(ours(short, tmp / "r1"), tiny_env)
    print(f"  tiny model,      {full_s:.0f} s file: {tiny_short:.0f} MiB")
    tiny_long = {}
    for minutes in args.rss_minutes:
        path = tmp / f"long_{minutes:g}min.wav"
        gen = make_long_stereo(path, minutes)
        wall, _, tiny_long[minutes] = run(ours(path, tmp / "r2"), tiny_env)
        print(
            f"  tiny model, {minutes:4g} min file: {tiny_long[minutes]:.0f} MiB "
            f"(generated in {gen:.0f} s, encoded in {wall:.0f} s)"
        )
        path.unlink()
    lo, hi = args.rss_minutes
    growth = tiny_long[hi] - tiny_short
    ratio = tiny_long[hi] / tiny_long[lo]
    print(f"  {hi:g} min vs {lo:g} min (tiny model): {ratio:.3f}x  (target within 1.2x)")
    print(
        f"  estimated full-size peak for {hi:g} min = {full_short:.0f} + "
        f"({tiny_long[hi]:.0f} - {tiny_short:.0f}) = {full_short + growth:.0f} MiB  (target <= 1536 MiB)"
    )
    print(f"\nscratch: {tmp}")


if __name__ == "__main__":
    main()
