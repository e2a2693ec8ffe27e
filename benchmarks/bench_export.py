"""Benchmark ``dataset export --format parquet`` against today's embedded ``dataset build`` (issue 23).

Measured in one run, side by side, each in a fresh interpreter (wall time after
imports; peak RSS ``VmHWM``, imports included):

1. **Export vs build.** ``--n`` ESF triplets (default 10,000; the corpus of
   ``bench_dataset.py``: codes ``[T, 8]`` with T uniform in 300..400,
   conditioning ``[T, 2]`` float16, 100 per folder) built by ``dataset build``
   (embedded, the default: the anchor) and exported to Parquet. Targets: export
   wall time <= 1.5x the build's, export peak RSS <= 300 MB.
2. **Streaming read** of that Parquet export, items/s, through
   ``datasets.load_dataset(OUT, split="train", streaming=True)`` as a user would
   write it: plain iteration (Python lists), ``.with_format("numpy")``,
   ``.with_format("arrow").iter(batch_size=...)``, and ``pyarrow.parquet``
   directly. Every reader touches each item's codes. Target: >= 20,000 items/s
   (the fastest reader a user can write in one line).
3. **Flat memory.** ``dataset export`` of ``--flat-small`` and ``--flat-n``
   small ``.npq`` files (T uniform in 20..60, 4 codebooks; default 10,000 and
   100,000): peak RSS at the larger <= 1.2x at the smaller. ``--flat-n 0``
   skips it (generating 100,000 files takes minutes on a busy machine).

    PYTHONPATH=. python benchmarks/bench_export.py [--n 10000] [--repeat 2] [--flat-n 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dataset import _peak_mb, make_tree  # noqa: E402

EXPORT_RATIO_TARGET = 1.5
RSS_TARGET_MB = 300.0
STREAM_TARGET = 20_000.0
FLAT_TARGET = 1.2


def make_small_npq(root: Path, n: int) -> None:
    """``n`` small ``.npq`` files (T uniform in 20..60, 4 codebooks, vocab 1024), 1000 per folder."""
    from audiotok.formats import npq

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"part{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        t = int(rng.integers(20, 61))
        header = npq.Npq1Header(token_rate=44100 / 512, seq_len=t, vocab_sizes=(1024,) * 4)
        npq.write(folder / f"clip{i:06d}.npq", rng.integers(0, 1024, (t, 4)), header)


# -- children ---------------------------------------------------------------------------------
def _child_run(tool: str, src: str, out: str) -> None:
    import datasets

    datasets.disable_progress_bars()
    if tool == "build":
        from audiotok.services.dataset.build import build_dataset

        start = time.perf_counter()
        result = build_dataset(src, out, recursive=True)
        items = sum(result.splits.values())
    else:
        from audiotok.services.dataset.export import export_dataset

        start = time.perf_counter()
        summary = export_dataset(src, out, format="parquet")
        items = summary.written
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "peak_mb": _peak_mb(), "items": items}))


def _child_profile(src: str, out: str) -> None:
    import cProfile
    import pstats

    from audiotok.services.dataset.export import export_dataset

    prof = cProfile.Profile()
    prof.runcall(export_dataset, src, out, format="parquet")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


def codes_kt(batch: Any) -> list[np.ndarray[Any, Any]]:
    """Each row's ``codes`` of an Arrow batch as a ``(K, T)`` numpy view: one buffer, no Python lists."""
    values = batch.column("codes").combine_chunks().flatten().flatten().to_numpy()
    sizes = np.asarray(batch.column("n_codebooks")) * np.asarray(batch.column("n_frames"))
    ends = np.cumsum(sizes)
    shapes = zip(np.asarray(batch.column("n_codebooks")), np.asarray(batch.column("n_frames")), strict=True)
    return [values[e - s : e].reshape(k, t) for e, s, (k, t) in zip(ends, sizes, shapes, strict=True)]


def _stream_readers(out: str, batch: int) -> dict[str, dict[str, float]]:
    """Items/s of each way of streaming the export; each reader touches every item's codes."""
    import glob

    import pyarrow.parquet as pq
    from datasets import load_dataset

    def stream() -> Any:
        return load_dataset(out, split="train", streaming=True)

    def plain() -> tuple[int, int]:
        n = frames = 0
        for row in stream():
            frames += len(row["codes"][0])
            n += 1
        return n, frames

    def numpy_rows() -> tuple[int, int]:
        n = frames = 0
        for row in stream().with_format("numpy"):
            frames += row["codes"].shape[-1]
            n += 1
        return n, frames

    def numpy_batches() -> tuple[int, int]:
        n = frames = 0
        for b in stream().with_format("numpy").iter(batch_size=batch):
            n += len(b["n_frames"])
            frames += int(b["n_frames"].sum())
        return n, frames

    def arrow_batches() -> tuple[int, int]:
        n = frames = 0
        for b in stream().with_format("arrow").iter(batch_size=batch):
            codes = b.column("codes")  # list<list<uint16>>: the codes, never turned into Python lists
            n += len(codes)
            frames += int(np.asarray(b.column("n_frames")).sum())
        return n, frames

    def arrow_items() -> tuple[int, int]:
        n = frames = 0
        for b in stream().with_format("arrow").iter(batch_size=batch):
            for codes in codes_kt(b):  # one (K, T) uint16 view per item
                frames += codes.shape[1]
                n += 1
        return n, frames

    def pyarrow_direct() -> tuple[int, int]:
        n = frames = 0
        for f in sorted(glob.glob(os.path.join(out, "data", "train-*.parquet"))):
            for b in pq.ParquetFile(f).iter_batches(batch_size=batch):
                n += len(b.column("codes"))
                frames += int(np.asarray(b.column("n_frames")).sum())
        return n, frames

    readers = {
        "plain `for row in ds`": plain,
        '.with_format("numpy") rows': numpy_rows,
        '.with_format("numpy").iter(batch_size)': numpy_batches,
        '.with_format("arrow").iter(batch_size)': arrow_batches,
        "  ... + codes_kt(batch): (K, T) per item": arrow_items,
        "pyarrow.parquet iter_batches": pyarrow_direct,
    }
    results = {}
    for name, fn in readers.items():
        start = time.perf_counter()  # load_dataset's own start (file resolution) included
        n, frames = fn()
        wall = time.perf_counter() - start
        results[name] = {"items_s": n / wall, "items": n, "frames": frames}
    return results


def _child_stream(out: str, batch: str) -> None:
    import datasets

    datasets.disable_progress_bars()
    print(json.dumps(_stream_readers(out, int(batch))))


def _run_child(args: list[str]) -> Any:
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _run(tool: str, src: Path, out: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    return _run_child(["--child", tool, str(src), str(out)])  # type: ignore[no-any-return]


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="ESF triplets in the export/build corpus.")
    ap.add_argument("--repeat", type=int, default=2, help="Runs per tool, interleaved; the fastest counts.")
    ap.add_argument("--batch", type=int, default=1000, help="batch_size of the batched readers.")
    ap.add_argument("--flat-small", type=int, default=10_000, help="Small NPQ files, first export.")
    ap.add_argument("--flat-n", type=int, default=100_000, help="Small NPQ files, second export (0: skip).")
    ap.add_argument("--profile", action="store_true", help="Print a cProfile of one export and stop.")
    ap.add_argument("--tmp", help="Folder for the corpora and outputs (default: a temporary folder).")
    ap.add_argument("--corpus", help="Keep the corpora in this folder and reuse them on later runs.")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child-stream", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child-tree", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child-profile", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_tree:  # in its own process: writing .ecdc files imports torch
        root, n, kind = Path(args.child_tree[0]), int(args.child_tree[1]), args.child_tree[2]
        make_small_npq(root, n) if kind == "small-npq" else make_tree(root, n, kind)
        print("{}")
        return
    if args.child:
        _child_run(*args.child)
        return
    if args.child_stream:
        _child_stream(*args.child_stream)
        return
    if args.child_profile:
        _child_profile(*args.child_profile)
        return

    with tempfile.TemporaryDirectory(prefix="bench_export_", dir=args.tmp) as tmp:
        tree = Path(args.corpus) / f"esf{args.n}" if args.corpus else Path(tmp) / "esf"
        if not (tree / ".complete").is_file():
            shutil.rmtree(tree, ignore_errors=True)
            t0 = time.perf_counter()
            _run_child(["--child-tree", str(tree), str(args.n), "esf"])
            (tree / ".complete").touch()
            print(f"generated {args.n} ESF triplets in {time.perf_counter() - t0:.1f} s", flush=True)
        if args.profile:
            env = dict(os.environ, PYTHONPATH=str(REPO))
            cmd = [sys.executable, __file__, "--child-profile", str(tree), str(Path(tmp) / "prof")]
            subprocess.run(cmd, check=True, env=env)
            return

        tools = ["build", "export"]
        runs: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
        for r in range(args.repeat):  # interleaved: a busy moment of the machine hits both
            for tool in tools:
                res = _run(tool, tree, Path(tmp) / f"out_{tool}")
                runs[tool].append(res)
                print(f"  run {r + 1} {tool:<8} {res['wall_s']:6.2f} s  peak RSS {res['peak_mb']:6.1f} MB",
                      flush=True)  # fmt: skip
        best = {t: min(rs, key=lambda x: x["wall_s"]) for t, rs in runs.items()}
        peak = {t: max(x["peak_mb"] for x in rs) for t, rs in runs.items()}
        assert best["build"]["items"] == best["export"]["items"] == args.n, best
        ratio = best["export"]["wall_s"] / best["build"]["wall_s"]
        print(f"\n{args.n} ESF triplets, best of {args.repeat} (same run, same machine):")
        print(f"  {'tool':<34} {'wall':>7}  {'peak RSS':>9}")
        labels = {"build": "dataset build (embedded; anchor)", "export": "dataset export --format parquet"}
        for tool, label in labels.items():
            print(f"  {label:<34} {best[tool]['wall_s']:6.2f}s  {peak[tool]:6.1f} MB")
        rounds = [e["wall_s"] / b["wall_s"] for b, e in zip(runs["build"], runs["export"], strict=True)]
        print(f"  export / build per round (interleaved): {', '.join(f'{r:.2f}x' for r in rounds)}; "
              f"median {float(np.median(rounds)):.2f}x")  # fmt: skip
        ok_ratio, ok_rss = ratio <= EXPORT_RATIO_TARGET, peak["export"] <= RSS_TARGET_MB
        print(f"  export / build: {ratio:.2f}x (<= {EXPORT_RATIO_TARGET}x: {_verdict(ok_ratio)}); "
              f"export peak RSS <= {RSS_TARGET_MB:.0f} MB: {_verdict(ok_rss)}")  # fmt: skip

        out = Path(tmp) / "out_export"
        streams = [_run_child(["--child-stream", str(out), str(args.batch)]) for _ in range(args.repeat)]
        print(f"\nstreaming read of the Parquet export, best of {args.repeat} (batch_size={args.batch}):")
        fastest = 0.0
        for name in streams[0]:
            rate = max(s[name]["items_s"] for s in streams)
            assert all(s[name]["items"] == args.n for s in streams), (name, streams)
            fastest = max(fastest, rate)
            print(f"  {name:<42} {rate:10.0f} items/s")
        print(f"  fastest >= {STREAM_TARGET:.0f} items/s: {_verdict(fastest >= STREAM_TARGET)}")

        if args.flat_n:
            print(f"\nflat memory: dataset export of {args.flat_small} and {args.flat_n} small NPQ files")
            peaks = {}
            for n in (args.flat_small, args.flat_n):
                src = Path(args.corpus or tmp) / f"npq{n}"
                t0 = time.perf_counter()
                if not (src / ".complete").is_file():
                    shutil.rmtree(src, ignore_errors=True)
                    _run_child(["--child-tree", str(src), str(n), "small-npq"])
                    (src / ".complete").touch()
                gen = time.perf_counter() - t0
                res = _run("export", src, Path(tmp) / f"out_npq{n}")
                peaks[n] = res["peak_mb"]
                rate = n / res["wall_s"]
                print(f"  {n:>7} files (made or found in {gen:.0f} s): export {res['wall_s']:6.2f} s, "
                      f"{rate:7.0f} items/s, peak RSS {res['peak_mb']:6.1f} MB", flush=True)  # fmt: skip
                if not args.corpus:
                    shutil.rmtree(src, ignore_errors=True)
                shutil.rmtree(Path(tmp) / f"out_npq{n}", ignore_errors=True)
            grow = peaks[args.flat_n] / peaks[args.flat_small]
            print(f"  RSS at {args.flat_n} / at {args.flat_small}: {grow:.2f}x "
                  f"(<= {FLAT_TARGET}x: {_verdict(grow <= FLAT_TARGET)})")  # fmt: skip


if __name__ == "__main__":
    main()
