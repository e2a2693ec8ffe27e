"""Benchmark `audiotok dataset build` and `load_token_dataset` against anchors measured in the same run.

Build anchor: the approach of the seed's ``s5_build_dataset_from_folder.py``
(docs/specs/encodec-dataset-workflow.md, step 4): ``rglob`` the token files, check
the sidecars, symlink each file into ``tokens/<split>/`` with
``os.path.relpath(src.resolve(), dst.parent.resolve())``, collect ``{"audio":
relative path}`` rows, ``pandas.DataFrame`` -> ``Dataset.from_pandas`` ->
``DatasetDict.save_to_disk``, then check every referenced file with
``DataFrame.iterrows``. It lives here only.

Read anchor: reading the same token files directly, per item
(``formats.ecdc.read`` + ``formats.esf.read_sidecar``, or ``formats.npq.read``)
into the same tensors ``TokenDataset`` returns.

The corpus (issue 8): ``--n`` ESF triplets (default 10,000), codes ``[T, 8]``
with T uniform in 300..400 (about 350), conditioning ``[T, 2]`` float16, 100
per folder; or, with ``--kind npq``, ``.npq`` files of the same shapes.

Every build runs in a fresh interpreter, timed after its imports, and reports
its wall time and peak RSS (``ru_maxrss``: imports included). ``dataset build``
through the CLI (``python -m audiotok dataset build``) is run once more for
its peak RSS. Targets, as ratios against the anchor of the same run:

- ``dataset build`` (embedded, the default) >= 2x the seed-style build, peak RSS <= 300 MB;
- ``dataset build --no-embed`` (verified, like the seed) >= 1.2x the seed-style build: one
  relative link per file, as the seed makes, and every triplet's headers checked as ``esf
  audit`` checks them (the seed only checks that the sidecars exist);
- ``load_token_dataset`` >= 3,000 items/s random access and >= 2 M frames/s sequential.

    PYTHONPATH=. python benchmarks/bench_dataset.py [--n 10000] [--repeat 3] [--kind esf|npq]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"audiotok-embed": 2.0, "audiotok-paths": 1.2}
RSS_TARGET_MB = 300.0
READ_TARGETS = {"random_items_s": 3000.0, "sequential_frames_s": 2e6}


# -- data -----------------------------------------------------------------------------
def make_tree(root: Path, n: int, kind: str, *, frames: tuple[int, int] = (300, 400), cb: int = 8) -> None:
    """``n`` token files, T uniform in ``frames`` (inclusive), ``cb`` codebooks, 100 per folder."""
    from audiotok.formats import npq

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"part{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        t = int(rng.integers(frames[0], frames[1] + 1))
        codes = rng.integers(0, 1024, (t, cb))
        if kind == "npq":
            header = npq.Npq1Header(token_rate=44100 / 512, seq_len=t, vocab_sizes=(1024,) * cb)
            npq.write(folder / f"clip{i:05d}.npq", codes, header)
            continue
        from audiotok.formats import ecdc, esf

        path = folder / f"clip{i:05d}.ecdc"
        meta = ecdc.EcdcMeta(
            n_codebooks=cb,
            n_frames=t,
            sample_rate=24000,
            fps=75.0,
            bandwidth=6.0,
            model="encodec_24khz",
            audio_length=t * 320,
            audiotok_version="0.1.0",
        )
        ecdc.write(path, codes, meta)
        npy, js = esf.sidecar_paths(path)
        esf.write_sidecar(npy, js, rng.random((t, 2)).astype(np.float16), ["gain", "pos"], fps=75.0)


# -- the seed-style anchor ------------------------------------------------------------------
def seed_build(tokens_dir: Path, output_dir: Path, suffix: str, split: str = "train") -> int:
    """Seed-style build: pandas rows of relative paths + from_pandas + symlinks + iterrows verify."""
    import pandas as pd
    from datasets import Dataset, DatasetDict

    tokens_subdir = "tokens"
    output_dir.mkdir(parents=True, exist_ok=True)
    if (output_dir / tokens_subdir).exists():
        shutil.rmtree(output_dir / tokens_subdir)
    (output_dir / tokens_subdir).mkdir(parents=True, exist_ok=True)
    paths = sorted(tokens_dir.rglob(f"*{suffix}"), key=lambda p: p.as_posix().lower())
    paths = [p for p in paths if p.is_file()]
    rows = []
    for src in paths:
        sidecars = [src.with_suffix(".cond.npy"), src.with_suffix(".cond.json")] if suffix == ".ecdc" else []
        if not all(s.exists() for s in sidecars):
            continue
        rel = Path(tokens_subdir) / split / src.relative_to(tokens_dir)
        dst = output_dir / rel
        dst_sidecars = [dst.with_suffix(".cond.npy"), dst.with_suffix(".cond.json")][: len(sidecars)]
        for s, d in [(src, dst), *zip(sidecars, dst_sidecars, strict=True)]:
            d.parent.mkdir(parents=True, exist_ok=True)
            if d.exists() or d.is_symlink():
                d.unlink()
            os.symlink(os.path.relpath(s.resolve(), start=d.parent.resolve()), d)
        rows.append({"audio": str(rel)})
    df = pd.DataFrame(rows)
    DatasetDict({split: Dataset.from_pandas(df, preserve_index=False)}).save_to_disk(str(output_dir))
    missing = sum(not (output_dir / row["audio"]).exists() for _, row in df.iterrows())
    return len(rows) - missing


# -- children: one measured build, or the read benchmark ---------------------------------------
def _peak_mb() -> float:
    """Peak RSS of this process, imports included (``VmHWM``; ``ru_maxrss`` would include the parent's)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_build(tool: str, tokens_dir: str, out_dir: str, suffix: str, workers: str) -> None:
    import datasets

    from audiotok.services.dataset.build import build_dataset

    datasets.disable_progress_bars()
    start = time.perf_counter()
    if tool == "seed":
        rows = seed_build(Path(tokens_dir), Path(out_dir), suffix)
    else:
        embed = tool.startswith("audiotok-embed")
        # audiotok-paths: --no-embed, verified like the seed (every referenced file exists).
        # audiotok-embed: audiotok's default (codes and conditioning in the rows).
        result = build_dataset(
            tokens_dir,
            out_dir,
            recursive=True,
            embed=embed,
            verify=not embed,
            workers=int(workers) if tool.endswith("-workers") else 1,
        )
        rows = sum(result.splits.values())
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "peak_mb": _peak_mb(), "rows": rows}))


def _time_items(get: Callable[[int], dict[str, Any]], indices: list[int]) -> dict[str, float]:
    start = time.perf_counter()
    frames = sum(get(i)["codes"].shape[0] for i in indices)
    wall = time.perf_counter() - start
    return {"items_s": len(indices) / wall, "frames_s": frames / wall}


def _child_read(dataset_dir: str, tokens_dir: str, kind: str, n_random: str) -> None:
    """Items/s and frames/s of load_token_dataset and of reading the token files, random and sequential."""
    import torch

    from audiotok.data import load_token_dataset
    from audiotok.formats import ecdc, esf, npq

    ds = load_token_dataset(dataset_dir, "train")
    audio: list[str] = ds.rows["audio"]  # paths of the rows, for the direct reader
    files = [os.path.join(tokens_dir, a.removeprefix("tokens/train/")) for a in audio]

    def direct(i: int) -> dict[str, Any]:
        if kind == "npq":
            tokens, _ = npq.read(files[i])
            return {"codes": torch.from_numpy(tokens.astype(np.int64)), "audio": audio[i]}
        codes, _ = ecdc.read(files[i])
        cond, meta = esf.read_sidecar(*esf.sidecar_paths(files[i]))
        return {
            "codes": torch.from_numpy(codes),
            "cond": torch.from_numpy(cond.astype(np.float32)),
            "cond_names": list(meta.names),
            "audio": audio[i],
        }

    rng = np.random.default_rng(1)
    random_idx = [int(i) for i in rng.integers(0, len(ds), int(n_random))]
    sequential = list(range(len(ds)))
    out = {}
    for name, get in (("load_token_dataset", ds.__getitem__), ("token files", direct)):
        get(0)
        out[name] = {"random": _time_items(get, random_idx), "sequential": _time_items(get, sequential)}
    print(json.dumps(out))


def _run_child(args: list[str]) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def measure(tool: str, tokens_dir: Path, out_dir: Path, suffix: str, workers: int) -> dict[str, float]:
    """Run one build of ``tool`` in a fresh interpreter and return its numbers."""
    shutil.rmtree(out_dir, ignore_errors=True)
    return _run_child(["--child", tool, str(tokens_dir), str(out_dir), suffix, str(workers)])  # type: ignore[return-value]


def cli_peak_rss(tokens_dir: Path, out_dir: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time (s, interpreter start included) of ``python -m audiotok dataset build``.

    The peak is ``ru_maxrss`` of the children of a small intermediate interpreter.
    """
    shutil.rmtree(out_dir, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    cmd = [sys.executable, "-c", _CLI_RSS, str(tokens_dir), str(out_dir)]
    return tuple(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout))  # type: ignore[return-value]


_CLI_RSS = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run([sys.executable, "-m", "audiotok", "dataset", "build", sys.argv[1], sys.argv[2], "-r"],
               check=True, capture_output=True)
wall = time.perf_counter() - start
print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, wall]))
"""


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="Token files in the corpus.")
    ap.add_argument("--kind", choices=["esf", "npq"], default="esf")
    ap.add_argument("--repeat", type=int, default=3, help="Runs per tool, interleaved; the fastest counts.")
    ap.add_argument("--random", type=int, default=5000, help="Random-access reads per reader.")
    ap.add_argument(
        "--workers", type=int, default=1, help="Also time audiotok-embed with this many reader processes."
    )
    ap.add_argument("--tmp", help="Folder for the corpus and datasets (default: a temporary folder).")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--child-read", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--child-tree", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_tree:  # in its own process: writing .ecdc files imports torch
        make_tree(Path(args.child_tree[0]), int(args.child_tree[1]), args.child_tree[2])
        print("{}")
        return
    if args.child:
        _child_build(*args.child)
        return
    if args.child_read:
        _child_read(*args.child_read)
        return
    suffix = ".ecdc" if args.kind == "esf" else ".npq"
    tools = ["seed", "audiotok-paths", "audiotok-embed"]
    if args.workers > 1:
        tools.append("audiotok-embed-workers")
    with tempfile.TemporaryDirectory(prefix="bench_dataset_", dir=args.tmp) as tmp:
        tree = Path(tmp) / "tree"
        t0 = time.perf_counter()
        _run_child(["--child-tree", str(tree), str(args.n), args.kind])
        print(f"generated {args.n} {args.kind} files in {time.perf_counter() - t0:.1f} s", flush=True)

        runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in tools}
        for r in range(args.repeat):  # interleaved, so a busy moment of the machine hits every tool
            for tool in tools:
                res = measure(tool, tree, Path(tmp) / f"out_{tool}", suffix, args.workers)
                runs[tool].append(res)
                print(f"  run {r + 1} {tool:<22} {res['wall_s']:6.2f} s  peak RSS {res['peak_mb']:6.1f} MB")
        best = {tool: min(rs, key=lambda x: x["wall_s"]) for tool, rs in runs.items()}
        rows = {tool: int(b["rows"]) for tool, b in best.items()}
        assert len(set(rows.values())) == 1, f"tools disagree on the row count: {rows}"
        peak = {tool: max(x["peak_mb"] for x in rs) for tool, rs in runs.items()}
        cli_rss, cli_wall = cli_peak_rss(tree, Path(tmp) / "out_cli")

        print(f"\nbuild, {args.n} {args.kind} files, best of {args.repeat} (same run, same machine):")
        print(f"  {'tool':<22} {'wall':>7}  {'x seed':>6}  {'peak RSS':>9}  target")
        seed = best["seed"]["wall_s"]
        for tool in tools:
            ratio = seed / best[tool]["wall_s"]
            target = TARGETS.get(tool)
            line = f"  {tool:<22} {best[tool]['wall_s']:6.2f}s  {ratio:5.2f}x  {peak[tool]:6.1f} MB"
            if target is not None:
                line += f"  >= {target}x: {_verdict(ratio >= target)}"
            print(line)
        print(
            f"  dataset build via the CLI: peak RSS {cli_rss:.1f} MB (<= {RSS_TARGET_MB:.0f} MB: "
            f"{_verdict(cli_rss <= RSS_TARGET_MB)}), {cli_wall:.2f} s with interpreter start and imports"
        )
        print(
            f"  audiotok-embed peak RSS {peak['audiotok-embed']:.1f} MB "
            f"(<= {RSS_TARGET_MB:.0f} MB: {_verdict(peak['audiotok-embed'] <= RSS_TARGET_MB)})"
        )

        # Read benchmark on the embedded dataset of the last run (the default build).
        ds_dir = Path(tmp) / "out_audiotok-embed"
        reads = [
            _run_child(["--child-read", str(ds_dir), str(tree), args.kind, str(args.random)])
            for _ in range(args.repeat)
        ]
        print(f"\nread, items codes LongTensor[T, K] (+ cond), best of {args.repeat}:")
        head = f"{'random items/s':>15} {'frames/s':>12} {'sequential items/s':>19} {'frames/s':>12}"
        print(f"  {'reader':<20} {head}")
        best_read: dict[str, dict[str, float]] = {}
        for reader in reads[0]:
            rnd = max(r[reader]["random"]["items_s"] for r in reads)  # type: ignore[index]
            rnd_f = max(r[reader]["random"]["frames_s"] for r in reads)  # type: ignore[index]
            seq = max(r[reader]["sequential"]["items_s"] for r in reads)  # type: ignore[index]
            seq_f = max(r[reader]["sequential"]["frames_s"] for r in reads)  # type: ignore[index]
            best_read[reader] = {"rnd": rnd, "seq_f": seq_f}
            print(f"  {reader:<20} {rnd:15.0f} {rnd_f / 1e6:10.2f} M {seq:19.0f} {seq_f / 1e6:10.2f} M")
        ours, files = best_read["load_token_dataset"], best_read["token files"]
        print(
            f"  load_token_dataset / token files: random {ours['rnd'] / files['rnd']:.1f}x, "
            f"sequential {ours['seq_f'] / files['seq_f']:.1f}x"
        )
        print(
            f"  random access >= {READ_TARGETS['random_items_s']:.0f} items/s: "
            f"{_verdict(ours['rnd'] >= READ_TARGETS['random_items_s'])}; sequential >= "
            f"{READ_TARGETS['sequential_frames_s'] / 1e6:.0f} M frames/s: "
            f"{_verdict(ours['seq_f'] >= READ_TARGETS['sequential_frames_s'])}"
        )


if __name__ == "__main__":
    main()
