"""Benchmark `audiotok dataset build` against a seed-style build, in the same run.

The anchor re-implements the approach of the seed's
``s5_build_dataset_from_folder.py`` (specs/encodec-dataset-workflow.md, step 4):
``rglob`` the token files, check the sidecar, symlink each file into
``tokens/<split>/`` with ``os.path.relpath(src.resolve(), dst.parent.resolve())``,
collect ``{"audio": relative path}`` rows in a list, ``pandas.DataFrame`` ->
``Dataset.from_pandas`` -> ``DatasetDict.save_to_disk``, then verify every
referenced file with ``DataFrame.iterrows``. It lives here only.

Each build runs in a fresh subprocess, which reports its wall time and the
growth of its peak RSS over the RSS after imports. Measured at ``--sizes``
(default 1,000 and 10,000 files) on a generated tree of small ESF triplets
(``.ecdc`` + ``.cond.npy`` + ``.cond.json``, written with audiotok's own
ESF writers) or, with ``--kind npq``, ``.npq`` files.

Targets (issue 5): audiotok at least 3x faster than the anchor at 10,000
files, and peak RSS flat from 1,000 to 10,000 files.

    PYTHONPATH=. python benchmarks/bench_dataset.py [--sizes 1000 10000] [--kind esf|npq]
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]


# -- data -----------------------------------------------------------------------------
def make_tree(root: Path, n: int, kind: str, *, frames: int = 150, cb: int = 8, d: int = 2) -> None:
    """``n`` token files of ``frames`` frames, 100 per folder."""
    from audiotok.formats import npq

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"part{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        codes = rng.integers(0, 1024, (frames, cb))
        if kind == "npq":
            header = npq.Npq1Header(token_rate=44100 / 512, seq_len=frames, vocab_sizes=(1024,) * cb)
            npq.write(folder / f"clip{i:05d}.npq", codes, header)
            continue
        from audiotok.formats import ecdc, esf

        path = folder / f"clip{i:05d}.ecdc"
        meta = ecdc.EcdcMeta(
            n_codebooks=cb,
            n_frames=frames,
            sample_rate=24000,
            fps=75.0,
            bandwidth=6.0,
            model="encodec_24khz",
            audio_length=frames * 320,
            audiotok_version="0.1.0",
        )
        ecdc.write(path, codes, meta)
        npy, js = esf.sidecar_paths(path)
        esf.write_sidecar(npy, js, rng.random((frames, d)).astype(np.float16), ["gain", "pos"], fps=75.0)


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


# -- one measured build, in a child process ------------------------------------------------------
def _child(tool: str, tokens_dir: str, out_dir: str, suffix: str, workers: str) -> None:
    import resource

    import datasets

    from audiotok.services.dataset_build import build_dataset

    datasets.disable_progress_bars()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if tool == "seed":
        rows = seed_build(Path(tokens_dir), Path(out_dir), suffix)
    else:
        embed = tool.startswith("audiotok-embed")
        # audiotok-paths: the spec's layout, like for like (relative symlinks, existence check).
        # audiotok-embed: audiotok's default (codes in the rows, no links needed).
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"wall_s": wall, "rss_growth_mb": (peak - base) / 1024, "peak_mb": peak / 1024, "rows": rows}
        )
    )


def measure(tool: str, tokens_dir: Path, out_dir: Path, suffix: str, workers: int) -> dict[str, float]:
    """Run one build of ``tool`` in a fresh interpreter and return its numbers."""
    shutil.rmtree(out_dir, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    cmd = [sys.executable, __file__, "--child", tool, str(tokens_dir), str(out_dir), suffix, str(workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--kind", choices=["esf", "npq"], default="esf")
    ap.add_argument("--repeat", type=int, default=3, help="Builds per tool and size; the fastest counts.")
    ap.add_argument(
        "--workers", type=int, default=1, help="Also time audiotok-embed with this many reader processes."
    )
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    suffix = ".ecdc" if args.kind == "esf" else ".npq"
    tools = ["seed", "audiotok-paths", "audiotok-embed"]
    if args.workers > 1:
        tools.append("audiotok-embed-workers")
    with tempfile.TemporaryDirectory(prefix="bench_dataset_") as tmp:
        results: dict[int, dict[str, dict[str, float]]] = {}
        for n in args.sizes:
            tree = Path(tmp) / f"tree{n}"
            t0 = time.perf_counter()
            make_tree(tree, n, args.kind)
            print(f"generated {n} {args.kind} files in {time.perf_counter() - t0:.1f} s", flush=True)
            results[n] = {}
            for tool in tools:
                runs = [
                    measure(tool, tree, Path(tmp) / f"out_{tool}_{n}", suffix, args.workers)
                    for _ in range(args.repeat)
                ]
                best = min(runs, key=lambda r: r["wall_s"])
                best["rss_growth_mb"] = max(r["rss_growth_mb"] for r in runs)
                results[n][tool] = best
                print(
                    f"  n={n:>6} {tool:<15} {best['wall_s']:7.2f} s  rows={int(best['rows'])}"
                    f"  peak RSS {best['peak_mb']:7.1f} MB (+{best['rss_growth_mb']:.1f} MB during build)",
                    flush=True,
                )
            shutil.rmtree(tree)
        print("\nspeed-up over the seed-style build (same run):")
        for n, by_tool in results.items():
            seed = by_tool["seed"]["wall_s"]
            for tool in tools[1:]:
                print(f"  n={n:>6} {tool:<15} {seed / by_tool[tool]['wall_s']:5.2f}x")
        lo, hi = min(results), max(results)
        print(f"\npeak-RSS growth during the build, n={lo} -> n={hi}:")
        for tool in tools:
            a, b = results[lo][tool]["rss_growth_mb"], results[hi][tool]["rss_growth_mb"]
            print(f"  {tool:<15} {a:7.1f} MB -> {b:7.1f} MB")


if __name__ == "__main__":
    main()
