"""Benchmark ``esf audit`` and ``esf init`` against the older scripts' per-file loop.

Generates N ESF triplets (``.ecdc`` + ``.cond.npy`` + ``.cond.json``, 10 s of
EnCodec 24 kHz codes at 6 kbps: T = 750, Cb = 8, D = 2), then times, in the
same run and on the same files:

- anchor audit: per file ``torch.load(weights_only=True)`` + ``np.load`` +
  ``json.load`` and the ESF checks (what ``sidecar_audit.py`` did), in this
  process (torch imported, as the older tool has it);
- ``esf audit`` (``audit_paths``) with ``--jobs 1`` and ``--jobs 2``, in a
  child Python process that never imports torch, as ``audiotok esf audit``
  runs (timed inside it, after its imports, as the anchor is timed after
  ``import torch``); the same audits in this process are printed too, for
  reference;
- anchor init: per file ``torch.load`` for T, ``np.save`` + ``json.dump``;
- ``esf init --overwrite`` (``init_paths``).

Each audit is timed ``--repeat`` times (default 3) and the best time is
printed: the machine may be shared. Peak RSS of the audit process and of
its worker processes is printed.
Usage: ``python benchmarks/bench_esf.py [--n 10000] [--dir /tmp/bench_esf] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiotok.formats import ecdc, esf
from audiotok.services.esf import sidecars as esf_sidecars


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
    import torch

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
    import torch

    for path in sorted(root.rglob("*.ecdc")):
        t = torch.load(path, map_location="cpu", weights_only=True)["audio_codes"].shape[-1]
        base = path.with_suffix("")
        np.save(base.with_suffix(".cond.npy"), np.zeros((t, 0), np.float16))
        with open(base.with_suffix(".cond.json"), "w") as fh:
            json.dump({"schema_version": 1, "fps": 75, "source_rate": 75, "names": [], "norm": {}}, fh)


def rss_mb(who: int) -> float:
    """Peak RSS in MB of this process (its own memory only) or of its largest finished child."""
    if who == resource.RUSAGE_SELF:
        try:  # Linux keeps ru_maxrss across exec: a child of a big process would report the parent's
            lines = Path("/proc/self/status").read_text().splitlines()
            return next(int(line.split()[1]) for line in lines if line.startswith("VmHWM")) / 1024
        except (OSError, StopIteration):
            pass
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(label: str, fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs of ``fn`` (printed with that run's CPU time, workers included)."""
    best, best_cpu = float("inf"), 0.0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), cpu_s()
        fn()
        dt, dc = time.perf_counter() - t0, cpu_s() - c0
        if dt < best:
            best, best_cpu = dt, dc
    print(f"{label:48} {best:6.2f} s wall {best_cpu:6.2f} s CPU", flush=True)
    return best


def our_audits(root: Path, n: int, repeat: int, label: str) -> dict[str, float]:
    """Time ``esf audit`` with --jobs 1 and 2 in this process; also the peak RSS."""
    from audiotok.services.esf import audit as esf_audit
    from audiotok.services.esf import sidecars as esf_sidecars

    opts = esf_sidecars.SidecarOptions(audio_root=root)
    audit_opts = esf_audit.AuditOptions()

    def ours(jobs: int) -> None:
        items = list(esf_audit.audit_paths(opts, audit_opts, jobs=jobs))
        if len(items) != n or any(i.issues for i in items):
            raise SystemExit("audit found problems in a clean corpus")

    ours(1)  # imports and first-call costs outside the timing, as for the anchor
    o1 = timed(f"esf audit --jobs 1 ({label})", lambda: ours(1), repeat)
    rss1 = rss_mb(resource.RUSAGE_SELF)
    o2 = timed(f"esf audit --jobs 2 ({label})", lambda: ours(2), repeat)
    return {
        "jobs1": o1,
        "jobs2": o2,
        "rss_main": rss1,
        "rss_workers": rss_mb(resource.RUSAGE_CHILDREN),
        "torch": float("torch" in sys.modules),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench_esf"))
    ap.add_argument("--keep", action="store_true", help="Reuse an existing corpus of the same size.")
    ap.add_argument("--skip-init", action="store_true", help="Only time the audits.")
    ap.add_argument("--repeat", type=int, default=3, help="Runs per audit; the best is printed.")
    ap.add_argument("--child-audit", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    root: Path = args.dir
    if args.child_audit:  # the torch-free audit process started below
        print(json.dumps(our_audits(root, args.n, args.repeat, "own process, no torch")), flush=True)
        return
    import torch

    torch.set_num_threads(1)
    if not (args.keep and root.is_dir() and sum(1 for _ in root.rglob("*.ecdc")) == args.n):
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        generate(root, args.n)
        print(f"generated {args.n} triplets in {time.perf_counter() - t0:.1f} s")

    # warm the page cache once so every contender reads from memory
    anchor_audit(root)
    rss0 = rss_mb(resource.RUSAGE_SELF)
    a = timed("anchor audit (torch.load loop)", lambda: anchor_audit(root), args.repeat)
    child = [sys.executable, __file__, "--child-audit", "--dir", str(root), "--n", str(args.n)]
    out = subprocess.run([*child, "--repeat", str(args.repeat)], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    print(*lines[:-1], sep="\n", flush=True)
    ours = json.loads(lines[-1])
    if ours["torch"]:
        raise SystemExit("the audit process imported torch")
    here = our_audits(root, args.n, args.repeat, "this process, torch loaded")
    print(
        f"audit speed-up (best of {args.repeat}, own process, no torch): jobs 1 {a / ours['jobs1']:.2f}x, "
        f"jobs 2 {a / ours['jobs2']:.2f}x (target >= 5x with --jobs 2)"
    )
    print(f"  for reference, in this process with torch loaded: jobs 2 {a / here['jobs2']:.2f}x")
    print(
        f"peak RSS: anchor process {rss0:.0f} MB; audit process {ours['rss_main']:.0f} MB, "
        f"its workers {ours['rss_workers']:.0f} MB (no torch)"
    )
    if args.skip_init:
        return
    opts = esf_sidecars.SidecarOptions(audio_root=root)
    ai = timed("anchor init (torch.load + np.save)", lambda: anchor_init(root))
    init_opts = opts.model_copy(update={"overwrite": True})
    oi1 = timed("esf init --overwrite --jobs 1", lambda: esf_sidecars.init_paths(init_opts, jobs=1))
    oi4 = timed("esf init --overwrite --jobs 4", lambda: esf_sidecars.init_paths(init_opts, jobs=4))
    print(
        f"init speed-up: jobs 1 {ai / oi1:.2f}x, jobs 4 {ai / oi4:.2f}x "
        "(ours writes each pair atomically: temp files + fsync + rename; the anchor does not fsync)"
    )


if __name__ == "__main__":
    main()
