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
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._loop_vs_encode import HEADER, long_file_rows, offline_env, run_rounds, table_rows  # noqa: E402
from benchmarks.bench_encode import SHARED, audiotok, run  # noqa: E402
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
    env = offline_env(hf_home, tmp, args.threads)
    model_dir = next((hf_home / "hub" / f"models--{REPO_ID.replace('/', '--')}" / "snapshots").iterdir())
    script = tmp / "anchor.py"
    script.write_text(ANCHOR)
    # the one-time OpenVINO conversion of these weights is not what is timed (README: Backends)
    run(audiotok("encode", clips, "-o", tmp / "warm", "--codec", "snac-24khz"), env)
    runs = run_rounds(
        lambda out: [sys.executable, str(script), str(model_dir), str(clips), str(out)],
        [str(clips), "--codec", "snac-24khz"], args.variant, args.rounds, env, tmp,
    )  # fmt: skip
    lines = [
        "# SNAC 24 kHz: audiotok encode vs a SNAC.encode loop (benchmarks/bench_snac.py)",
        "",
        f"24 real clips, {samples / SR:.0f} s in all (3-10 s, 24 kHz mono); full-size random SNAC 24 kHz "
        f"(spread codebooks); threads={args.threads}, {os.cpu_count()} CPUs; median of {args.rounds} "
        "round(s), start-up included.",
        "",
        *HEADER,
        *table_rows(runs, samples / SR, agreement, tmp / f"anchor{args.rounds - 1}"),
        *(long_file_rows("snac-24khz", SR, env, tmp) if args.rss else []),
    ]
    report = "\n".join(lines)
    print("\n" + report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
