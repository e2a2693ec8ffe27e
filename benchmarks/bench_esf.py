"""Benchmark ``esf audit`` and ``esf init`` against the older scripts' per-file loop.

Generates N ESF triplets (``.ecdc`` + ``.cond.npy`` + ``.cond.json``, 10 s of
EnCodec 24 kHz codes at 6 kbps: T = 750, Cb = 8, D = 2), then times, in the
same run and on the same files:

- anchor audit: per file ``torch.load(weights_only=True)`` + ``np.load`` +
  ``json.load`` and the ESF checks (what ``sidecar_audit.py`` did);
- ``esf audit`` (``audit_paths``) with ``--jobs 1`` and ``--jobs 2``;
- anchor init: per file ``torch.load`` for T, ``np.save`` + ``json.dump``;
- ``esf init --overwrite`` (``init_paths``).

Peak RSS (this process, and worker processes) is printed for the audits.
Usage: ``python benchmarks/bench_esf.py [--n 10000] [--dir /tmp/bench_esf]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiotok.formats import ecdc, esf
from audiotok.services import esf_audit, esf_sidecars


def generate(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    meta = ecdc.EcdcMeta(n_codebooks=8, n_frames=0, sample_rate=24000, model="encodec_24khz", bandwidth=6.0)
    for i in range(n):
        d = root / f"d{i % 50:02d}"
        codes = rng.integers(0, 1024, (750, 8))
        path = d / f"clip{i:05d}.ecdc"
        ecdc.write(path, codes, meta.model_copy(update={"audio_length": 240000}))
        npy, js = esf.sidecar_paths(path)
        esf.write_sidecar(npy, js, np.stack([np.linspace(0, 1, 750), np.full(750, 7.0)], 1), ["pos", "scene"])


def anchor_audit(root: Path) -> int:
    """The older approach: load everything of every file, one after another."""
    bad = 0
    for path in sorted(root.rglob("*.ecdc")):
        issues = []
        obj = torch.load(path, map_location="cpu", weights_only=True)
        codes = obj["audio_codes"]
        t = codes.shape[-1]
        base = path.with_suffix("")
        arr = np.load(base.with_suffix(".cond.npy"), allow_pickle=False)
        with open(base.with_suffix(".cond.json")) as fh:
            meta = json.load(fh)
        if arr.ndim != 2 or arr.shape[0] != t:
            issues.append("frame_mismatch")
        if len(meta.get("names", [])) != arr.shape[1]:
            issues.append("names_length_mismatch")
        if meta.get("fps") != 75:
            issues.append("fps_mismatch")
        bad += bool(issues)
    return bad


def anchor_init(root: Path) -> None:
    for path in sorted(root.rglob("*.ecdc")):
        t = torch.load(path, map_location="cpu", weights_only=True)["audio_codes"].shape[-1]
        base = path.with_suffix("")
        np.save(base.with_suffix(".cond.npy"), np.zeros((t, 0), np.float16))
        with open(base.with_suffix(".cond.json"), "w") as fh:
            json.dump({"schema_version": 1, "fps": 75, "source_rate": 75, "names": [], "norm": {}}, fh)


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def timed(label: str, fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    dt = time.perf_counter() - t0
    print(f"{label:34} {dt:8.2f} s", flush=True)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench_esf"))
    ap.add_argument("--keep", action="store_true", help="Reuse an existing corpus of the same size.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root: Path = args.dir
    if not (args.keep and root.is_dir() and sum(1 for _ in root.rglob("*.ecdc")) == args.n):
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        generate(root, args.n)
        print(f"generated {args.n} triplets in {time.perf_counter() - t0:.1f} s")
    opts = esf_sidecars.SidecarOptions(audio_root=root)
    audit_opts = esf_audit.AuditOptions()

    def ours(jobs: int) -> None:
        items = list(esf_audit.audit_paths(opts, audit_opts, jobs=jobs))
        if len(items) != args.n or any(i.issues for i in items):
            raise SystemExit("audit found problems in a clean corpus")

    # warm the page cache once so every contender reads from memory
    anchor_audit(root)
    rss0 = rss_mb(resource.RUSAGE_SELF)
    a = timed("anchor audit (torch.load loop)", lambda: anchor_audit(root))
    o1 = timed("esf audit --jobs 1", lambda: ours(1))
    rss1 = rss_mb(resource.RUSAGE_SELF)
    o2 = timed("esf audit --jobs 2", lambda: ours(2))
    print(f"audit speed-up: jobs 1 {a / o1:.2f}x, jobs 2 {a / o2:.2f}x (target >= 5x with --jobs 2)")
    print(
        f"peak RSS: main {rss0:.0f} MB before our audits, {rss1:.0f} MB after --jobs 1; "
        f"workers peak {rss_mb(resource.RUSAGE_CHILDREN):.0f} MB"
    )
    ai = timed("anchor init (torch.load + np.save)", lambda: anchor_init(root))
    init_opts = opts.model_copy(update={"overwrite": True})
    oi1 = timed("esf init --overwrite --jobs 1", lambda: list(esf_sidecars.init_paths(init_opts, jobs=1)))
    oi4 = timed("esf init --overwrite --jobs 4", lambda: list(esf_sidecars.init_paths(init_opts, jobs=4)))
    print(
        f"init speed-up: jobs 1 {ai / oi1:.2f}x, jobs 4 {ai / oi4:.2f}x "
        "(ours writes each pair atomically: temp files + fsync + rename; the anchor does not fsync)"
    )


if __name__ == "__main__":
    main()
