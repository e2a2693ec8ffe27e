"""Prove a refactor byte-identical: run the same ``audiotok`` commands with the old and the new code, compare.

The old code is ``git archive BASE`` (default: the refactor's base commit); the
new code is a copy of this working tree's ``audiotok/`` taken at the start
(edits made while it runs do not mix in), or ``--new-rev REV`` archived the
same way, or ``--new-rev DIR`` (a folder holding an ``audiotok`` package). Each
version runs as ``python -m audiotok`` with ``PYTHONPATH`` set to its tree and a
neutral cwd (checked: ``audiotok.__file__`` must lie in that tree, so the
editable install cannot shadow it; ``--engine ray`` actors import it from
where the driver did).

Same conditions for both: one version runs every selected case in the
workspace ``TMP/SET/work``, which is then renamed to ``TMP/SET/old``; the other
runs in a fresh ``TMP/SET/work`` of the same path, renamed to ``new``. So both
see the same paths everywhere (``HOME``, ``TORCH_HOME``, ``AUDIOTOK_CACHE_DIR``,
``HF_DATASETS_CACHE`` all inside the workspace; weights hard-linked from one
set of seeded random files made once per run; the same inputs; one
``OMP_NUM_THREADS``; ``PYTHONHASHSEED=0``). Cache: each version starts with an
empty ``AUDIOTOK_CACHE_DIR``, shared by its cases in order. The ``warmup`` case
(always run first: OpenVINO conversion and check of DAC's encoder and decoder)
and ``warmup-esf`` (with any esf case: EnCodec 24 kHz's entries at 6, 1.5 and
12 kbps) are the cold-cache runs, compared like the others; every later case
runs warm (the torch-free paths), in the same cache state for both versions.

Models (``--models``): ``tiny`` is DAC 44.1 kHz with encoder_dim 4 and
decoder_dim 64 (all cases, a few minutes on 2 cores, 10 under load); ``full``
is the full-size DAC (the cases whose numbers depend on the model's size:
about 25 minutes). EnCodec is full size in both (the CLI builds the released
architecture), so its cases are in the tiny set only. Weights are random,
seeded, made once per run (``_compare_cases.make_weights``).

Compared: every file (or symlink target) the old run wrote under a case's
folder with the new run's file of the same relative path, byte for byte;
files only the new run wrote are additions (allowed), files it lacks are
failures. Stdout of ``--json`` steps: parsed JSON Lines without the wall-time
keys ``wall_s``, ``wall_seconds``, ``real_time_factor`` and ``elapsed_s``, the
temp folder replaced by ``<TMP>``; ``text`` steps exactly (``ignore`` steps,
human output with timings, only by exit status); every step's exit status.
Exit 1 on any difference or error; the temp folder is then kept.

Usage::

    python benchmarks/compare_outputs.py                   # tiny models, BASE vs the working tree
    python benchmarks/compare_outputs.py --new-rev BASE     # the harness checking itself
    python benchmarks/compare_outputs.py --models full --only npq-encode-default,esf-encode-24k
    python benchmarks/compare_outputs.py --list | --no-ray | --keep | --compare-only TMP
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _compare_cases import DAC_FILE, ENCODEC_FILES, Case, build_cases, compare_json, make_inputs

REPO = Path(__file__).resolve().parents[1]
BASE = "8ef968491507d170a7315d622e3e9df045d46203"
SHARED = Path(os.environ.get("AUDIOTOK_SHARED_AUDIO", REPO.parent / "shared" / "audio"))
STEP_TIMEOUT = 1800
SIDES = ("old", "new")


@dataclass
class Result:
    """One case's comparison; ``problems`` lists every failure in one line each."""

    case: str
    compared: int = 0
    identical: int = 0
    differing: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    additions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    new_keys: set[str] = field(default_factory=set)


def archive(rev: str, dest: Path) -> Path:
    """``git archive REV`` unpacked into ``dest``."""
    dest.mkdir(parents=True)
    data = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=data, check=True)
    return dest


def snapshot(src: Path, dest: Path) -> Path:
    """A copy of ``src/audiotok`` as it is now (a working tree that others may be editing)."""
    shutil.copytree(src / "audiotok", dest / "audiotok", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def environment(work: Path, tree: Path, threads: int) -> dict[str, str]:
    """The child environment: ours only for audiotok, caches and weights inside the workspace."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUDIOTOK_", "HF_", "RAY_", "PYTHON", "OMP_", "MKL_"))}  # fmt: skip
    home = work / "home"
    env.update(
        PYTHONPATH=str(tree), PYTHONHASHSEED="0", HOME=str(home), TORCH_HOME=str(home / "torch"),
        XDG_CACHE_HOME=str(home / ".cache"), AUDIOTOK_OFFLINE="1", AUDIOTOK_CACHE_DIR=str(work / "cache"),
        HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(home / "hf"),
        HF_DATASETS_CACHE=str(home / "hf_datasets"), OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads), COLUMNS="120", NO_COLOR="1", TERM="dumb",
        RAY_USAGE_STATS_ENABLED="0",
    )  # fmt: skip
    return env


def link_weights(weights: Path, home: Path) -> None:
    """Hard links (same bytes, size and mtime) of the set's weights into a workspace's ``HOME``."""
    for rel in [DAC_FILE, *(Path("torch") / r for r in ENCODEC_FILES.values())]:
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(weights / rel, home / rel)
        except OSError:
            shutil.copy2(weights / rel, home / rel)


def fill(text: str, places: dict[str, Path]) -> str:
    return text.replace("{in}", str(places["in"])).replace("{set}", str(places["set"]))


def run_side(side: str, tree: Path, cases: list[Case], setdir: Path, places: dict[str, Path],
             threads: int) -> None:  # fmt: skip
    """Run every case with one version in ``setdir/work``, then rename it to ``setdir/SIDE``."""
    work = setdir / "work"
    work.mkdir()
    link_weights(setdir / "weights", work / "home")
    env = environment(work, tree, threads)
    where = subprocess.run([sys.executable, "-c", "import audiotok; print(audiotok.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True).stdout.strip()  # fmt: skip
    if not where.startswith(str(tree.resolve()) + os.sep):
        raise SystemExit(f"{side}: audiotok imports from {where or '(nowhere)'}, not from {tree}")
    logs = setdir / f"logs_{side}"
    logs.mkdir()
    for case in cases:
        cwd = work / case.name
        cwd.mkdir()
        t0 = time.perf_counter()
        for src, dst in case.copy:
            source = (cwd / fill(src, places)).resolve()
            if source.is_dir():
                shutil.copytree(source, cwd / dst, symlinks=True)
            else:
                shutil.copy2(source, cwd / dst)
        for i, step in enumerate(case.steps):
            argv = [sys.executable, "-m", "audiotok", *shlex.split(fill(step.args, places))]
            t1 = time.perf_counter()
            try:
                proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, timeout=STEP_TIMEOUT)  # fmt: skip
                rc, out, err = proc.returncode, proc.stdout, proc.stderr
            except subprocess.TimeoutExpired as exc:
                rc, out, err = -9, str(exc.stdout or ""), f"timed out after {STEP_TIMEOUT} s"
            log = {
                "argv": argv[3:],
                "rc": rc,
                "seconds": time.perf_counter() - t1,
                "stdout": out,
                "stderr": err,
            }
            (logs / f"{case.name}.{i}.json").write_text(json.dumps(log, indent=1))
        print(f"  {side:3s} {case.name:24s} {time.perf_counter() - t0:7.1f} s", flush=True)
    work.rename(setdir / side)


def walk(root: Path) -> dict[str, Path]:
    """Files and symlinks below ``root`` by relative path (symlinks are not followed)."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            found[path.relative_to(root).as_posix()] = path
    return found


def same_file(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    return filecmp.cmp(a, b, shallow=False)


def last_line(text: str) -> str:
    """The last ``error:`` or exception line of a step's stderr, else its last line."""
    lines = text.strip().splitlines() or [""]
    found = [x for x in lines if re.match(r"(error:|[\w.]+(Error|Exception)\b)", x)]
    return (found or lines)[-1][:200]


def compare_stdout(res: Result, case: Case, setdir: Path, tmp: str, allow_new_keys: bool) -> None:
    """Exit statuses and stdout of every step (the logs ``logs_SIDE/CASE.I.json``)."""
    for i, step in enumerate(case.steps):
        old, new = (json.loads((setdir / f"logs_{s}" / f"{case.name}.{i}.json").read_text()) for s in SIDES)
        label = f"step {i + 1} `{step.args}`"
        if old["rc"] != step.rc:
            res.problems.append(f"{label}: the old code exited {old['rc']}: {last_line(old['stderr'])}")
            continue
        if new["rc"] != old["rc"]:
            res.problems.append(
                f"{label}: exit status {old['rc']} -> {new['rc']}: {last_line(new['stderr'])}"
            )
        if step.out == "text" and old["stdout"].replace(tmp, "<TMP>") != new["stdout"].replace(tmp, "<TMP>"):
            res.problems.append(f"{label}: stdout differs")
        if step.out != "json":
            continue
        problem, added = compare_json(old["stdout"], new["stdout"], tmp, step.unordered, allow_new_keys)
        res.new_keys |= added
        if problem:
            res.problems.append(f"{label}: {problem}")


def compare_case(case: Case, setdir: Path, tmp: str, allow_new_keys: bool) -> Result:
    res = Result(case.name)
    old, new = walk(setdir / "old" / case.name), walk(setdir / "new" / case.name)
    for rel, path in sorted(old.items()):
        if rel not in new:
            res.missing.append(rel)
            continue
        res.compared += 1
        if same_file(path, new[rel]):
            res.identical += 1
        else:
            res.differing.append(rel)
    res.additions = sorted(set(new) - set(old))
    for side in SIDES:
        logs = (
            json.loads((setdir / f"logs_{side}" / f"{case.name}.{i}.json").read_text())
            for i in range(len(case.steps))
        )
        res.seconds[side] = sum(log["seconds"] for log in logs)
    compare_stdout(res, case, setdir, tmp, allow_new_keys)
    res.problems[:0] = [f"differs: {r}" for r in res.differing] + [
        f"missing in new: {r}" for r in res.missing
    ]
    return res


def select(cases: list[Case], only: list[str], no_ray: bool, model_set: str) -> list[Case]:
    """The chosen cases (``--only`` patterns), the cases they read from and the warm-ups, in run order."""
    by_name = {c.name: c for c in cases}
    unknown = [p for p in only if not any(fnmatch(name, p) for name in by_name)]
    if unknown:
        raise SystemExit(f"no such case: {', '.join(unknown)} (see --list)")
    chosen = {c.name for c in cases if not only or any(fnmatch(c.name, p) for p in only)} | {"warmup"}
    pending = list(chosen)
    while pending:
        for dep in by_name[pending.pop()].needs:
            if dep not in chosen:
                chosen.add(dep)
                pending.append(dep)
    chosen |= {"warmup-esf"} if any(name.startswith("esf") for name in chosen) else set()
    return [c for c in cases if c.name in chosen and not (no_ray and c.ray) and model_set in c.sets]


def prepare_set(setdir: Path, model_set: str, places: dict[str, Path]) -> None:
    """Seeded random weights for this set, and ``.dac`` files made from the demo clip by DAC's own CLI."""
    weights = setdir / "weights"
    helper = Path(__file__).resolve().parent / "_compare_cases.py"
    subprocess.run([sys.executable, str(helper), "weights", str(weights), str(weights / "torch"), model_set],
                   check=True, cwd=setdir)  # fmt: skip
    env = {**os.environ, "HOME": str(weights), "TORCH_HOME": str(weights / "torch"), "PYTHONPATH": ""}
    dac_dir = places["set"] / "dac"
    for src in (places["in"] / "demo.flac", places["in"] / "clips/b/mono22k.wav"):
        subprocess.run([sys.executable, "-m", "dac", "encode", str(src), "--output", str(dac_dir),
                        "--device", "cpu", "--model_type", "44khz"], check=True, env=env, cwd=setdir,
                       capture_output=True)  # fmt: skip


def print_table(results: list[Result]) -> None:
    head = f"{'case':32s} {'files':>5s} {'same':>5s} {'diff':>5s} {'miss':>5s} {'added':>5s}  {'old s':>6s}"
    print("\n" + head + f" {'new s':>6s}  result\n" + "-" * (len(head) + 16))
    for r in results:
        verdict = "identical" if not r.problems else f"FAIL ({len(r.problems)})"
        print(
            f"{r.case:32s} {r.compared:5d} {r.identical:5d} {len(r.differing):5d} {len(r.missing):5d} "
            f"{len(r.additions):5d}  {r.seconds.get('old', 0):6.1f} {r.seconds.get('new', 0):6.1f}  {verdict}"
        )
    for r in results:
        for line in r.problems:
            print(f"  {r.case}: {line}")
        if r.additions:
            print(f"  {r.case}: additions (allowed): {', '.join(r.additions[:8])}"
                  + (f" and {len(r.additions) - 8} more" if len(r.additions) > 8 else ""))  # fmt: skip
        if r.new_keys:
            print(f"  {r.case}: JSON keys only the new code prints: {', '.join(sorted(r.new_keys))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=BASE, help="the old code's revision (default: the refactor's base)")
    ap.add_argument("--new-rev", help="the new code: a revision or a folder holding audiotok/ (default: "
                    "this working tree, copied at the start)")  # fmt: skip
    ap.add_argument("--models", choices=("tiny", "full", "both"), default="tiny")
    ap.add_argument("--only", action="append", default=[], help="case names or patterns (comma-separated)")
    ap.add_argument("--no-ray", action="store_true", help="skip the --engine ray cases (slow to start)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (kept anyway on a failure)")
    ap.add_argument("--threads", type=int, default=2, help="OMP/MKL threads of every run (default 2)")
    ap.add_argument("--allow-new-keys", action="store_true",
                    help="JSON keys only the new code prints are additions, not differences")  # fmt: skip
    ap.add_argument("--compare-only", type=Path, metavar="TMP", help="compare a kept folder, run nothing")
    args = ap.parse_args()
    only = [p for arg in args.only for p in arg.split(",") if p]
    if args.list:
        for c in build_cases(long_file=True):
            tags = ", ".join([*c.sets, *(["ray"] if c.ray else [])])
            print(f"{c.name:24s} [{tags}] {c.doc}" + (f" (reads {', '.join(c.needs)})" if c.needs else ""))
            for s in c.steps:
                print(f"    audiotok {s.args}")
        return
    t_start = time.perf_counter()
    tmp = args.compare_only or run_all(args, only)
    results: list[Result] = []
    long_file = (tmp / "inputs" / "long").is_dir()
    for model_set in ("tiny", "full"):
        logs = tmp / model_set / "logs_new"
        for case in build_cases(long_file):
            if (logs / f"{case.name}.{len(case.steps) - 1}.json").is_file():
                res = compare_case(case, tmp / model_set, str(tmp), args.allow_new_keys)
                res.case = f"{model_set}:{case.name}"
                results.append(res)
    print_table(results)
    failed = [r for r in results if r.problems]
    print(f"\n{len(results)} cases, {sum(r.compared for r in results)} files compared, "
          f"{len(failed)} with differences; {time.perf_counter() - t_start:.0f} s")  # fmt: skip
    if args.keep or failed or args.compare_only:
        print(f"kept: {tmp} (SET/old, SET/new: the workspaces; SET/logs_old, SET/logs_new: each step)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed or not results else 0)


def run_all(args: argparse.Namespace, only: list[str]) -> Path:
    """Archive both versions, make the inputs and weights, run every case; return the temp folder."""
    tmp = Path(tempfile.mkdtemp(prefix="audiotok_compare_"))
    old_tree = archive(args.base, tmp / "trees" / "old")
    new = Path(args.new_rev or REPO)
    new_tree = (
        snapshot(new, tmp / "trees" / "new") if new.is_dir() else archive(args.new_rev, tmp / "trees" / "new")
    )
    for tree in (old_tree, new_tree):
        if not (tree / "audiotok" / "__main__.py").is_file():
            raise SystemExit(f"{tree}: no audiotok/__main__.py")
    print(f"old: {args.base}\nnew: {new if new.is_dir() else args.new_rev}\ntemp: {tmp}")
    places = {"in": tmp / "inputs"}
    shared = SHARED if (SHARED / "speech_music_24k_mono.wav").is_file() else None
    long_file = make_inputs(places["in"], old_tree / "examples" / "demo_chords.flac", shared)
    if shared is None:
        print(f"real recordings not found in {SHARED}: synthetic clips and the demo only")
    for model_set in ("tiny", "full") if args.models == "both" else (args.models,):
        setdir = tmp / model_set
        places["set"] = setdir / "inputs"
        setdir.mkdir()
        cases = select(build_cases(long_file), only, args.no_ray, model_set)
        print(f"\n[{model_set}] {len(cases)} cases: {', '.join(c.name for c in cases)}", flush=True)
        prepare_set(setdir, model_set, places)
        for side, tree in zip(SIDES, (old_tree, new_tree), strict=True):
            run_side(side, tree, cases, setdir, places, args.threads)
    return tmp


if __name__ == "__main__":
    main()
