"""Benchmark: ``npq inspect`` and ``formats.npq.read()`` on many small .npq files.

Writes ``--n-files`` files (T = 860 frames ≈ 10 s of DAC 44.1 kHz, K = 9..13,
NPQ1 and NPQ2 mixed, uint16) into a temp folder, then measures in one run:

(a) ``audiotok npq inspect --json DIR`` as a subprocess (files/s including
    interpreter start-up) and ``services.npq.inspect_paths`` in-process;
(b) ``formats.npq.read()`` against ``np.fromfile(path, dtype, offset=header_size)``
    on the same files (warm page cache, best of ``--rounds``).

Targets: inspect >= 5,000 files/s; ``read()`` >= 80 % of ``np.fromfile``.

The reader caches validated headers by their bytes, which pays off when files
share headers (fixed-length chunks: same T, K, rate). ``--vary-t`` gives every
file a different T (430..1290 frames) so that almost every header is new, the
worst case for that cache. Wall times on a busy machine are noisy: the
subprocess's CPU time (user + sys) is printed beside its wall time.

Run from the repository root::

    python benchmarks/bench_npq_io.py [--n-files 10000] [--keep] [--vary-t]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from audiotok.formats import npq  # noqa: E402
from audiotok.records import FileRecord  # noqa: E402
from audiotok.services.npq.inspect import inspect_paths  # noqa: E402

INSPECT_TARGET = 5_000.0  # files/s
READ_TARGET = 0.80  # read() / np.fromfile


def make_files(folder: Path, n: int, vary_t: bool = False, seed: int = 0) -> list[tuple[Path, np.dtype, int]]:
    """Write ``n`` files; return ``(path, payload dtype, header size)`` for each.

    Bytes come from ``Header.to_bytes()`` + the payload, without ``write()``'s
    per-file fsync, so that setting up 10,000 files takes seconds.
    """
    rng = np.random.default_rng(seed)
    files = []
    for i in range(n):
        k = 9 + i % 5
        t = 430 + i % 861 if vary_t else 860
        common = dict(token_rate=44100 / 512, orig_bitrate_kbps=128.0, seq_len=t, vocab_sizes=(1024,) * k)
        header: npq.Npq1Header | npq.Npq2Header
        if i % 2:
            header = npq.Npq2Header(**common, k_mid=9 if k > 9 else k, k_side=k - 9 if k > 9 else 0)
        else:
            header = npq.Npq1Header(**common)
        tokens = rng.integers(0, 1024, size=(t, k), dtype=np.uint16)
        path = folder / f"{i // 1000:03d}-{i:06d}.npq"
        path.write_bytes(header.to_bytes() + tokens.astype(header.dtype).tobytes())
        files.append((path, header.dtype, header.header_size))
    return files


def best_of(rounds: int, fn: Callable[[], object]) -> float:
    """Fastest wall time of ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_inspect_subprocess(folder: Path, n: int, rounds: int) -> tuple[float, float, float]:
    """Files/s of ``python -m audiotok npq inspect --json DIR`` by wall and by CPU time; start-up time."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "audiotok"]

    cpu: list[float] = []

    def inspect() -> None:
        before = _children_cpu()
        proc = subprocess.run(
            [*base, "npq", "inspect", "--json", str(folder)], capture_output=True, env=env, check=False
        )
        cpu.append(_children_cpu() - before)
        lines = proc.stdout.count(b"\n") - 1  # one record per file, then the summary
        if proc.returncode != 0 or lines != n:
            raise SystemExit(f"inspect failed: rc={proc.returncode}, {lines} lines\n{proc.stderr[-2000:]!r}")

    def version() -> None:
        subprocess.run([*base, "--version"], capture_output=True, env=env, check=True)

    wall = best_of(rounds, inspect)
    return n / wall, n / min(cpu), best_of(rounds, version)


def bench_inspect_in_process(folder: Path, n: int, rounds: int) -> float:
    """Files/s of ``services.npq.inspect_paths([DIR])``."""

    def run() -> None:
        results: list[FileRecord] = []
        summary = inspect_paths([folder], on_record=results.append)
        if len(results) != n or summary.files_failed:
            raise SystemExit("in-process inspect failed")

    return n / best_of(rounds, run)


def bench_read(files: list[tuple[Path, np.dtype, int]], rounds: int) -> tuple[float, float, float]:
    """Files/s of ``read()``, ``read(mmap=True)`` and ``np.fromfile`` (interleaved rounds)."""

    def ours() -> None:
        for path, _, _ in files:
            npq.read(path)

    def ours_mmap() -> None:
        for path, _, _ in files:
            npq.read(path, mmap=True)

    def baseline() -> None:
        for path, dtype, offset in files:
            np.fromfile(path, dtype=dtype, offset=offset)

    ours()
    baseline()  # warm the page cache and both code paths
    t_ours, t_mmap, t_base = [], [], []
    for _ in range(rounds):
        t_base.append(best_of(1, baseline))
        t_ours.append(best_of(1, ours))
        t_mmap.append(best_of(1, ours_mmap))
    n = len(files)
    return n / min(t_ours), n / min(t_mmap), n / min(t_base)


def check_same_data(files: list[tuple[Path, np.dtype, int]], sample: int = 50) -> None:
    """``read()`` and ``np.fromfile`` must agree, or the comparison means nothing."""
    for path, dtype, offset in files[:: max(1, len(files) // sample)]:
        tokens, header = npq.read(path)
        raw = np.fromfile(path, dtype=dtype, offset=offset).reshape(header.seq_len, header.n_codebooks)
        if not np.array_equal(tokens, raw):
            raise SystemExit(f"read() and np.fromfile disagree on {path}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-files", type=int, default=10_000, help="number of .npq files (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="repeat each measurement, keep the best")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and print its path")
    parser.add_argument("--vary-t", action="store_true", help="a different T per file (header cache misses)")
    parser.add_argument("--dir", type=Path, default=None, help="parent folder for the temp folder")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-npq-", dir=args.dir))
    try:
        start = time.perf_counter()
        files = make_files(folder, args.n_files, vary_t=args.vary_t)
        made = time.perf_counter() - start
        size = sum(p.stat().st_size for p, _, _ in files)
        t_desc = "T = 430..1290 (--vary-t)" if args.vary_t else "T = 860"
        print(f"{args.n_files} files, {t_desc}, {size / 1e6:.1f} MB, written in {made:.2f} s -> {folder}")
        print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs\n")
        check_same_data(files)

        sub_rate, sub_cpu_rate, startup = bench_inspect_subprocess(folder, args.n_files, args.rounds)
        inproc_rate = bench_inspect_in_process(folder, args.n_files, args.rounds)
        read_rate, mmap_rate, base_rate = bench_read(files, args.rounds)
        ratio = read_rate / base_rate

        ok_inspect = sub_rate >= INSPECT_TARGET
        ok_read = ratio >= READ_TARGET
        print("(a) npq inspect --json")
        print(f"    subprocess, incl. start-up : {sub_rate:10,.0f} files/s  (start-up alone {startup:.2f} s)")
        print(f"    same, by its CPU time      : {sub_cpu_rate:10,.0f} files/s")
        print(f"    in-process inspect_paths   : {inproc_rate:10,.0f} files/s")
        print(f"    target >= {INSPECT_TARGET:,.0f} files/s   : {'met' if ok_inspect else 'MISSED'}")
        print("(b) read throughput")
        print(f"    np.fromfile(offset=...)    : {base_rate:10,.0f} files/s")
        print(f"    formats.npq.read()         : {read_rate:10,.0f} files/s  ({ratio:.0%} of np.fromfile)")
        print(f"    formats.npq.read(mmap=True): {mmap_rate:10,.0f} files/s  ({mmap_rate / base_rate:.0%})")
        print(f"    target read() >= {READ_TARGET:.0%}       : {'met' if ok_read else 'MISSED'}")
        return 0 if ok_inspect and ok_read else 1
    finally:
        if args.keep:
            print(f"\nkept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
