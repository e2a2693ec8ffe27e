"""SNAC 24 kHz: ``audiotok encode --codec snac-24khz`` against a loop over ``SNAC.encode``, one run.

Inputs: 24 real clips of 3-10 s (24 kHz mono, cut from ``../shared/audio``,
the clips of ``bench_mimi.py``). Weights: a full-size random SNAC 24 kHz
with spread codebooks (``tests/_snac.py``), saved in the Hugging Face cache
layout (``HF_HOME``, ``HF_HUB_OFFLINE=1``). Both sides are child processes,
start-up included, with the same threads:

- anchor: one Python process loads ``SNAC.from_pretrained(folder)`` and calls
  ``model.encode(x)`` per file (soundfile in, ``np.save`` out);
- audiotok: ``python -m audiotok encode CLIPS -o OUT --codec snac-24khz``
  (defaults: ``--backend auto``, OpenVINO, converted once before the timed
  runs), and with other options (``--variant``).

Reported: wall time, peak RSS, the speed-up over the anchor, and how many of
audiotok's codes equal the anchor's (rows past a file's end, codes of
``SNAC.encode``'s padding alone, are not compared). ``--rss`` adds peak RSS of a
10- and a 60-minute file (real audio tiled). Usage::

    python benchmarks/bench_snac.py [--threads 2] [--rounds 1] [--variant '--backend eager'] [--rss]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_encode import SHARED, audiotok, mono, run  # noqa: E402
from benchmarks.bench_mimi import make_clips  # noqa: E402

SR = 24000
REPO_ID = "hubertsiuzdak/snac_24khz"
ANCHOR = """
import sys, numpy as np, soundfile as sf, torch
from pathlib import Path
from snac import SNAC
model = SNAC.from_pretrained(sys.argv[1]).eval()
out = Path(sys.argv[3])
with torch.inference_mode():
    for wav in sorted(Path(sys.argv[2]).glob("*.wav")):
        x, _ = sf.read(wav, dtype="float32")
        levels = model.encode(torch.from_numpy(x)[None, None])
        np.savez(out / (wav.stem + ".npz"), *[level[0].numpy() for level in levels])
"""


def save_model(hf_home: Path) -> None:
    """The random full-size SNAC 24 kHz in the Hugging Face cache, saved in a child (this process stays
    torch-free before its timed children)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from tests._snac import SNAC_24, build_snac, save_snac; from tests._hub import in_hub_cache;"
        "d = save_snac(build_snac(SNAC_24), SNAC_24, Path(sys.argv[2]) / 'snac_src');"
        f"in_hub_cache(d, Path(sys.argv[2]), {REPO_ID!r})"
    )
    subprocess.run([sys.executable, "-c", code, str(REPO), str(hf_home)], check=True)


def agreement(ours: Path, anchor: Path) -> tuple[int, int]:
    """Our codes (``.npq`` rows) equal to the anchor's (``.npz`` levels, cut to our rows): (equal, total)."""
    from audiotok.formats import npq
    from audiotok.tokens import TokenLayout

    layout = TokenLayout((4096,) * 3, (4, 2, 1))
    same = total = 0
    for ref in sorted(anchor.glob("*.npz")):
        with np.load(ref) as z:
            want = [z[f"arr_{i}"] for i in range(3)]
        got = layout.from_rows(np.asarray(npq.read(ours / (ref.stem + ".npq"))[0]))
        for g, w in zip(got, want, strict=True):
            same += int((g == w[: len(g)]).sum())
            total += len(g)
    return same, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help="audiotok encode options of another run, e.g. '--backend eager'",
    )
    ap.add_argument("--rss", action="store_true", help="also peak RSS of a 10- and a 60-minute file")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs the shared recordings in {SHARED}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_snac_"))
    hf_home = tmp / "hf"
    save_model(hf_home)
    clips = tmp / "clips"
    samples = make_clips(clips)
    threads = str(args.threads)
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "AUDIOTOK_OFFLINE": "1",
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "AUDIOTOK_CACHE_DIR": str(tmp / "cache")}  # fmt: skip
    env.pop("HF_HUB_CACHE", None)
    model_dir = next((hf_home / "hub" / f"models--{REPO_ID.replace('/', '--')}" / "snapshots").iterdir())
    script = tmp / "anchor.py"
    script.write_text(ANCHOR)
    variants = {"audiotok": []} | {f"audiotok {v}": v.split() for v in args.variant}
    # the one-time OpenVINO conversion of these weights is not what is timed (README: Backends)
    run(audiotok("encode", clips, "-o", tmp / "warm", "--codec", "snac-24khz"), env)
    times: dict[str, list[float]] = {"anchor": [], **{name: [] for name in variants}}
    rss: dict[str, float] = {}
    outs: dict[str, Path] = {}
    for r in range(args.rounds):
        anchor_out = tmp / f"anchor{r}"
        anchor_out.mkdir()
        cmds = {"anchor": [sys.executable, str(script), str(model_dir), str(clips), str(anchor_out)]}
        for i, (name, extra) in enumerate(variants.items()):
            outs[name] = tmp / f"ours{i}_{r}"
            cmds[name] = audiotok("encode", clips, "-o", outs[name], "--codec", "snac-24khz", *extra)
        for name, cmd in cmds.items():
            wall, peak = run(cmd, env)
            times[name].append(wall)
            rss[name] = max(rss.get(name, 0.0), peak)
            print(f"round {r + 1}: {name:32s} {wall:7.2f} s  {peak:6.0f} MiB", flush=True)
    base = statistics.median(times["anchor"])
    lines = [
        "# SNAC 24 kHz: audiotok encode vs a SNAC.encode loop (benchmarks/bench_snac.py)",
        "",
        f"24 real clips, {samples / SR:.0f} s in all (3-10 s, 24 kHz mono); full-size random SNAC 24 kHz "
        f"(spread codebooks); threads={threads}, {os.cpu_count()} CPUs; median of {args.rounds} round(s), "
        "start-up included.",
        "",
        "| run | wall s | x real time | vs anchor | peak RSS MiB | codes equal to the anchor's |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in times:
        t = statistics.median(times[name])
        eq = "-"
        if name in outs:
            same, total = agreement(outs[name], tmp / f"anchor{args.rounds - 1}")
            eq = f"{100 * same / total:.4f} % ({total - same} of {total} differ)"
        lines.append(
            f"| {name} | {t:.2f} | {samples / SR / t:.1f} | {base / t:.2f}x | {rss[name]:.0f} | {eq} |"
        )
    if args.rss:
        for minutes in (10, 60):
            long = tmp / f"long{minutes}.wav"
            speech, _ = mono(SHARED / "speech_music_24k_mono.wav")
            sf.write(
                long, np.tile(speech, int(np.ceil(minutes * 60 * SR / len(speech))))[: minutes * 60 * SR], SR
            )
            cmd = audiotok("encode", long, "-o", tmp / f"long_out{minutes}", "--codec", "snac-24khz")
            wall, peak = run(cmd, env)
            lines.append(
                f"| one {minutes}-minute file | {wall:.1f} | {minutes * 60 / wall:.1f} | - | {peak:.0f} | - |"
            )
            long.unlink()
    report = "\n".join(lines)
    print("\n" + report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
