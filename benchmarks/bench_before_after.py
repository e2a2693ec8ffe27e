"""Speed before and after a refactor: bench_encode.py's cases run with BASE's audiotok and this tree's.

Three versions of each case run round after round in one go: the anchor (the
codec's own command, as in ``bench_encode.py``), ``python -m audiotok`` from
``git archive BASE`` (default: the refactor's base commit) and from a copy of
this working tree's ``audiotok/`` taken at the start (edits made while it runs
do not mix in). The trees, the ``PYTHONPATH`` / neutral-cwd set-up and the
import check (``audiotok.__file__`` must lie in the tree, so the editable
install cannot shadow it) come from ``compare_outputs.py``; the inputs, the
full-size random weights (saved in the codecs' own checkpoint layouts), the
anchor commands and the timing (``run``: wall time of a child process) from
``bench_encode.py``.

Same conditions for both trees: the same weights, inputs, ``OMP_NUM_THREADS``
and command lines; each tree has its own backend cache (``AUDIOTOK_CACHE_DIR``;
the cache key layout differs between the trees), warmed before the timed
rounds by one untimed run of each of its commands (this also writes the
tree's ``__pycache__``). The ``decode20`` input is one ``.npq`` written by
BASE's code, read by both. In each round the anchor runs first, then BASE and
the new tree, their order swapped every round so neither always runs second.

Cases (warm caches; ``-o`` folders of their own per version)::

  encode20  one 20 s file      dac encode         vs npq encode --mono
  encode9   9 clips (~50 s)    dac encode         vs npq encode --mono
  encode24  24 clips of 3 s    dac encode         vs npq encode --mono
  stereo    15 s stereo        dac encode (both channels as a batch) vs npq encode (Mid/Side, NPQ2)
  esf20     one 20 s file      encodec            vs esf encode
  esf24     24 clips of 3 s    a loop of encodec  vs one esf encode of the folder
  decode20  the 20 s file      dac decode         vs npq decode

Reported per case: the three medians, anchor/BASE and anchor/new (speed-ups
over the anchor), the new tree's time change against BASE in % (flagged when
more than 5 % slower), and the spread (largest (max - min) / median of the
three series, a hint of the noise). Exit 1 when a case is flagged. Usage::

    python benchmarks/bench_before_after.py [--rounds 3] [--only encode20,esf24] [--threads 2]
                                            [--out table.md] [--base REV] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_encode import (  # noqa: E402
    SHARED,
    Cmd,
    audiotok,
    dac_cli,
    encodec_anchor,
    make_inputs,
    run,
    save_in_child,
)
from benchmarks.compare_outputs import BASE, archive, environment, snapshot  # noqa: E402

SIDES = ("base", "new")
LIMIT = 5.0  # % slower than BASE that flags a case


@dataclass(frozen=True)
class Case:
    """One row: the anchor's command, and audiotok's arguments given the version's output folder."""

    name: str
    label: str
    anchor: Cmd | str
    tree: Callable[[Path], Cmd]


def build_cases(tmp: Path, inputs: dict[str, Path], threads: str, chosen: set[str]) -> list[Case]:
    """The cases of ``chosen`` (``decode20``'s ``.dac`` and ``.npq`` inputs are made by ``prepare``)."""
    o = tmp / "out"
    enc = ["npq", "encode", "--overwrite", "--threads", threads]
    encodec_bin, loop = encodec_anchor(tmp, inputs["clips24"], o / "loop")
    npq_file = tmp / "decode_in" / "speech_music_24k_mono.npq"  # written by BASE's code in prepare()
    cases = [
        Case("encode20", "20 s file, npq encode --mono vs dac encode", dac_cli("encode", inputs["20s"],
             o / "dac_20s"), lambda out: audiotok(*enc, inputs["20s"], "--mono", "-o", out)),
        Case("encode9", "9 clips, npq encode --mono vs dac encode", dac_cli("encode", inputs["clips9"],
             o / "dac_clips9"), lambda out: audiotok(*enc, inputs["clips9"], "--mono", "-o", out)),
        Case("encode24", "24 x 3 s clips, npq encode --mono vs dac encode", dac_cli("encode",
             inputs["clips24"], o / "dac_clips24"),
             lambda out: audiotok(*enc, inputs["clips24"], "--mono", "-o", out)),
        Case("stereo", "15 s stereo, npq encode M/S vs dac encode", dac_cli("encode", inputs["stereo"],
             o / "dac_stereo"), lambda out: audiotok(*enc, inputs["stereo"], "-o", out)),
        Case("esf20", "20 s file, esf encode vs encodec", f"{encodec_bin} -f {inputs['20s']} {o / 'e.ecdc'}",
             lambda out: audiotok("esf", "encode", "--overwrite", inputs["20s"], "-o", out)),
        Case("esf24", "24 clips, esf encode vs encodec loop", loop,
             lambda out: audiotok("esf", "encode", "--overwrite", inputs["clips24"], "-o", out)),
        Case("decode20", "20 s file, npq decode vs dac decode", dac_cli("decode", o / "dac_dec" /
             "speech_music_24k_mono.dac", o / "dac_wav"),
             lambda out: audiotok("npq", "decode", npq_file, "--out", out / "decoded.wav")),
    ]  # fmt: skip
    unknown = chosen - {c.name for c in cases}
    if unknown:
        names = ", ".join(c.name for c in cases)
        raise SystemExit(f"no such case: {', '.join(sorted(unknown))} (cases: {names})")
    (o / "loop").mkdir(parents=True)
    return [c for c in cases if c.name in chosen]


def out_dir(tmp: Path, case: Case, side: str) -> Path:
    path = tmp / "out" / f"{case.name}_{side}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_import(side: str, tree: Path, env: dict[str, str]) -> None:
    """``python -m audiotok`` run here with ``env`` must import the tree's package (as compare_outputs.py)
    and start (``--help``)."""
    where = subprocess.run([sys.executable, "-c", "import audiotok; print(audiotok.__file__)"], env=env,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    if not where.startswith(str(tree.resolve()) + os.sep):
        raise SystemExit(f"{side}: audiotok imports from {where or '(nowhere)'}, not from {tree}")
    cli = subprocess.run(audiotok("--help"), env=env, capture_output=True, text=True)
    if cli.returncode:  # e.g. a working tree copied while half-edited
        raise SystemExit(f"{side}: `python -m audiotok --help` failed:\n{cli.stderr[-2000:]}")


def prepare(tmp: Path, cases: list[Case], envs: dict[str, dict[str, str]], inputs: dict[str, Path]) -> None:
    """Untimed: each tree's backend cache warmed by one run of each of its commands; decode20's inputs."""
    names = {c.name for c in cases}
    if "decode20" in names:
        run(dac_cli("encode", inputs["20s"], tmp / "out" / "dac_dec"), envs["anchor"])
        npq_in = audiotok("npq", "encode", "--overwrite", inputs["20s"], "--mono", "-o", tmp / "decode_in")
        run(npq_in, envs["base"])
    for side in SIDES:
        t0 = time.perf_counter()
        for case in cases:
            run(case.tree(out_dir(tmp, case, side)), envs[side])
        print(f"  warmed {side}: {time.perf_counter() - t0:.0f} s", flush=True)


Times = dict[str, dict[str, list[float]]]  # case -> anchor|base|new -> wall seconds per round


def measure(tmp: Path, cases: list[Case], envs: dict[str, dict[str, str]], rounds: int) -> Times:
    """Wall times by case and version: anchor, then BASE and new (their order swapped every round)."""
    times: Times = {c.name: {"anchor": [], "base": [], "new": []} for c in cases}
    for r in range(rounds):
        order = ("anchor", *(SIDES if r % 2 == 0 else SIDES[::-1]))
        for case in cases:
            for who in order:
                cmd = case.anchor if who == "anchor" else case.tree(out_dir(tmp, case, who))
                wall, _ = run(cmd, envs[who])
                times[case.name][who].append(wall)
                print(f"  round {r + 1}: {case.name:9s} {who:6s} {wall:7.2f} s", flush=True)
    return times


def table(cases: list[Case], times: Times) -> tuple[list[str], list[str]]:
    """Markdown rows of the report, and the names of the flagged cases."""
    head = ("| case | anchor s | BASE s | new s | anchor/BASE | anchor/new | new vs BASE | spread | |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---|")  # fmt: skip
    rows, flagged = [head], []
    for case in cases:
        t = times[case.name]
        a, b, n = (statistics.median(t[k]) for k in ("anchor", "base", "new"))
        change = (n / b - 1) * 100
        spread = max((max(v) - min(v)) / statistics.median(v) for v in t.values()) * 100
        flag = f"**> {LIMIT:g} % slower**" if change > LIMIT else ""
        if flag:
            flagged.append(case.name)
        rows.append(f"| {case.name} | {a:.2f} | {b:.2f} | {n:.2f} | {a / b:.2f} | {a / n:.2f} | "
                    f"{change:+.1f} % | {spread:.0f} % | {flag} |")  # fmt: skip
    return rows, flagged


def git_head() -> str:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "audiotok"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="OMP/MKL threads (and --threads) for every tool")
    ap.add_argument("--only", default="encode20,encode9,encode24,stereo,esf20,esf24,decode20",
                    help="comma-separated cases")  # fmt: skip
    ap.add_argument("--base", default=BASE, help="the old code's revision (default: the refactor's base)")
    ap.add_argument("--out", type=Path, help="also write the report to this markdown file")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (weights, caches, outputs)")
    args = ap.parse_args()
    out_file = args.out.resolve() if args.out else None  # before bench()'s chdir
    if not (SHARED / "speech_music_24k_mono.wav").is_file():
        raise SystemExit(f"real audio not found in {SHARED}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_before_after_"))
    try:
        text, flagged = bench(args, tmp)
    finally:
        os.chdir(REPO)
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n" + text, end="")
    if out_file:
        out_file.write_text(text)
    sys.exit(1 if flagged else 0)


def bench(args: argparse.Namespace, tmp: Path) -> tuple[str, list[str]]:
    """Trees, weights, inputs, warm caches, the timed rounds; the markdown report and the flagged cases."""
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    trees = {"base": archive(args.base, tmp / "trees" / "base"), "new": snapshot(REPO, tmp / "trees" / "new")}
    new_desc = f"working tree at {git_head()}, copied at the start"
    cwd = tmp / "cwd"  # neutral: `python -m` puts the cwd first on sys.path
    cwd.mkdir()
    os.chdir(cwd)
    threads = str(args.threads)
    envs = {side: {**environment(tmp, trees[side], args.threads),  # HOME=tmp/home: the weights below
                   "AUDIOTOK_CACHE_DIR": str(tmp / f"cache_{side}")} for side in SIDES}  # fmt: skip
    envs["anchor"] = {k: v for k, v in envs["base"].items() if k not in ("PYTHONPATH", "AUDIOTOK_CACHE_DIR")}
    for side in SIDES:  # before the slow set-up: a tree caught half-edited fails here
        check_import(side, trees[side], envs[side])
    # weights in this process's child (bench_encode: this one never imports torch before its children)
    save_in_child(tmp / "home" / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth",
                  tmp / "home" / "torch")  # fmt: skip
    inputs = make_inputs(tmp)
    cases = build_cases(tmp, inputs, threads, {x for x in args.only.split(",") if x})
    print(f"BASE: {args.base}\nnew:  {new_desc}\ntemp: {tmp}\n"
          f"threads={threads} rounds={args.rounds} cpus={os.cpu_count()}; full-size models, random weights",
          flush=True)  # fmt: skip
    prepare(tmp, cases, envs, inputs)
    times = measure(tmp, cases, envs, args.rounds)
    rows, flagged = table(cases, times)
    minutes = (time.perf_counter() - t_start) / 60
    report = [
        "# audiotok speed before and after (benchmarks/bench_before_after.py)",
        "",
        f"BASE `{args.base}`; new: {new_desc}. Median wall time of {args.rounds} round(s), interleaved "
        f"(anchor, then BASE and new, their order swapped every round); warm backend caches, one per tree; "
        f"threads={threads}, {os.cpu_count()} CPUs, load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end; {minutes:.0f} min in all.",
        "",
        "anchor/X: speed-up over the codec's own command; new vs BASE: time change (+ is slower), "
        f"flagged above +{LIMIT:g} %; spread: largest (max - min) / median of the three series.",
        "",
        *rows,
        "",
        *(f"- {case.name}: {case.label}" for case in cases),
        "",
        f"Flagged: {', '.join(flagged)}." if flagged else f"No case is over {LIMIT:g} % slower than BASE.",
    ]
    return "\n".join(report) + "\n", flagged


if __name__ == "__main__":
    main()
