"""Benchmark ``npq encode --engine ray`` against the local engine on 9 real clips, full-size DAC.

The model is DAC 44.1 kHz, full size, randomly initialised and saved by DAC's
own ``save()`` in a temporary ``$HOME`` (no download; speed does not depend on
the weight values). The 9 clips are 3 consecutive pieces of 3 real recordings
from ``../shared/audio`` (the 20 s speech/music file, the 48 kHz music and its
MP3, mixed to mono, as ``bench_encode.py`` cuts them; where the speech file is
absent, the music's left and right channels stand in for it and the mix).

Each case is one ``audiotok npq encode`` process, start-up included (for Ray:
starting the local cluster, the actors loading the model, and stopping it), with
``--overwrite``; cases alternate round after round and medians are reported,
with ray / local ratios and a byte-for-byte comparison of every output with the
local engine's. The converted OpenVINO model is cached once before timing (the
local engine and the actors read the same cache).

``--data-vs-core`` also times the engine's two candidate Ray APIs on a no-op
job of 9 items over 2 actors that import torch (Ray Data's ``map_batches`` over
an actor pool, and Ray Core actors), cluster start-up and shutdown included.

Usage::

    python benchmarks/bench_ray.py [--rounds 2] [--data-vs-core]
"""

from __future__ import annotations

import argparse
import filecmp
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

from tests.dac_helpers import save_dac  # noqa: E402


def make_clips(folder: Path) -> float:
    """Write the 9 mono clips into ``folder``; return their total seconds."""
    music, m_sr = sf.read(SHARED / "music_48k_stereo.wav", dtype="float32", always_2d=True)
    mp3, p_sr = sf.read(SHARED / "music_44k_stereo.mp3", dtype="float32", always_2d=True)
    speech_file = SHARED / "speech_music_24k_mono.wav"
    if speech_file.is_file():
        speech, s_sr = sf.read(speech_file, dtype="float32", always_2d=True)
        sources = [
            (speech.mean(1), s_sr, "speech"),
            (music.mean(1), m_sr, "music"),
            (mp3.mean(1), p_sr, "mp3"),
        ]
    else:
        sources = [(music[:, 0], m_sr, "left"), (music[:, 1], m_sr, "right"), (mp3.mean(1), p_sr, "mp3")]
    folder.mkdir(parents=True)
    total = 0.0
    for audio, sr, name in sources:
        for i, piece in enumerate(np.array_split(audio, 3)):
            sf.write(folder / f"{name}{i}.wav", piece, sr)
            total += len(piece) / sr
    return total


def run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall


def identical(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.npq"))
    return names == sorted(p.name for p in b.glob("*.npq")) and all(
        filecmp.cmp(a / n, b / n, shallow=False) for n in names
    )


def data_vs_core() -> None:
    """No-op job, 9 items, 2 actors importing torch: Ray Data's actor pool vs Ray Core actors."""
    code = r"""
import os, sys, time
t0 = time.perf_counter()
import ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
t1 = time.perf_counter()

class W:
    def __init__(self):
        import torch  # noqa: F401
    def __call__(self, batch):
        time.sleep(0.2)
        return batch
    def one(self, i):
        time.sleep(0.2)
        return i

if sys.argv[1] == "data":
    import logging
    import ray.data
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ds = ray.data.from_items([{"i": i} for i in range(9)], override_num_blocks=9)
    n = len(list(ds.map_batches(W, batch_size=1, concurrency=2, num_cpus=0.5).iter_rows()))
else:
    from ray.util import ActorPool
    pool = ActorPool([ray.remote(num_cpus=0.5)(W).remote() for _ in range(2)])
    n = len(list(pool.map_unordered(lambda a, i: a.one.remote(i), range(9))))
t2 = time.perf_counter()
ray.shutdown()
print(f"{t1 - t0:.2f} {t2 - t1:.2f} {time.perf_counter() - t2:.2f} {n}")
"""
    print("\nRay Data vs Ray Core, 9 no-op items on 2 actors that import torch (s): init, run, shutdown")
    rows: dict[str, list[list[float]]] = {"data": [], "core": []}
    for _ in range(3):
        for kind in rows:
            out = subprocess.run(
                [sys.executable, "-c", code, kind], capture_output=True, text=True, check=True
            )
            rows[kind].append([float(x) for x in out.stdout.split()[:3]])
    for kind, values in rows.items():
        med = [statistics.median(col) for col in zip(*values, strict=True)]
        print(f"  {kind:5s} init {med[0]:5.2f}  run {med[1]:5.2f}  shutdown {med[2]:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--data-vs-core", action="store_true")
    args = ap.parse_args()
    if not (SHARED / "music_48k_stereo.wav").is_file():
        raise SystemExit(f"real audio not found in {SHARED}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    home = tmp / "home"
    save_dac(home / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth", seed=0)
    clips = tmp / "clips9"
    seconds = make_clips(clips)
    env = {**os.environ, "HOME": str(home), "AUDIOTOK_OFFLINE": "1", "PYTHONPATH": str(REPO),
           "AUDIOTOK_CACHE_DIR": str(tmp / "cache"), "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
    base = [sys.executable, "-m", "audiotok", "-q", "npq", "encode", str(clips), "--overwrite"]
    cases = {
        "local": [*base, "-o", str(tmp / "local")],
        "ray, 1 actor x 2 CPUs": [*base, "-o", str(tmp / "ray1"), "--engine", "ray", "--workers", "1",
                                  "--cpus-per-worker", "2"],
        "ray, 2 actors x 1 CPU": [*base, "-o", str(tmp / "ray2"), "--engine", "ray", "--workers", "2"],
    }  # fmt: skip
    run([*base, "-o", str(tmp / "warm")], env)  # converts the encoder once (cached)
    times: dict[str, list[float]] = {k: [] for k in cases}
    print(f"9 clips, {seconds:.1f} s of audio; full-size DAC 44.1 kHz; cpus={os.cpu_count()}")
    for r in range(args.rounds):
        for name, cmd in cases.items():
            wall = run(cmd, env)
            times[name].append(wall)
            print(f"  round {r + 1}: {name:24s} {wall:7.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("\nmedian wall time, start-up included (target: ray <= 1.25 x local)")
    for name, value in med.items():
        ratio = value / med["local"]
        print(f"  {name:24s} {value:7.2f} s  {ratio:5.2f} x local  {seconds / value:5.2f} x real time")
    same = {name: identical(tmp / "local", tmp / out) for name, out in (
        ("ray, 1 actor x 2 CPUs", "ray1"), ("ray, 2 actors x 1 CPU", "ray2"))}  # fmt: skip
    print(f"  outputs byte-identical to local: {same}")
    if args.data_vs_core:
        data_vs_core()
    print(f"\nscratch: {tmp}")


if __name__ == "__main__":
    main()
