"""Snake activation: descript-audio-codec's scripted ``snake`` vs audiotok's in-place version.

Times both on the largest activation of the 44.1 kHz encoder (64 channels at
the full sample rate, a 10 s chunk, Mid and Side as a batch of 2), interleaved,
and checks that the outputs are bitwise identical. Usage::

    python benchmarks/bench_snake.py [--threads 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiotok.codecs.dac.networks import FastSnake as _FastSnake


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from dac.nn.layers import Snake1d

    torch.manual_seed(0)
    ref = Snake1d(64)
    with torch.no_grad():
        ref.alpha.uniform_(0.5, 2.0)
    fast = _FastSnake(ref.alpha)
    x = torch.randn(2, 64, 441_000)
    times: dict[str, list[float]] = {"dac snake": [], "audiotok snake": []}
    with torch.inference_mode():
        assert torch.equal(ref(x), fast(x)), "outputs differ"
        for _ in range(args.repeats):
            for name, fn in (("dac snake", ref), ("audiotok snake", fast)):
                t0 = time.perf_counter()
                fn(x)
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(f"{name:16s} {t * 1000:8.1f} ms")
    print(f"speed-up {med['dac snake'] / med['audiotok snake']:.2f}x (bitwise identical outputs)")


if __name__ == "__main__":
    main()
