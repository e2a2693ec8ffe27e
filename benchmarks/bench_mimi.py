"""Mimi: ``audiotok encode --codec mimi`` against a loop over transformers' ``MimiModel.encode``, one run.

Inputs: 24 real clips of 3-10 s (24 kHz mono, cut from ``../shared/audio``;
lengths and offsets fixed). Weights: a full-size random ``MimiModel`` with
spread codebooks (``tests/_mimi.py``), saved in the Hugging Face cache layout
(``HF_HOME``, ``HF_HUB_OFFLINE=1``). Both sides are child processes, start-up
included, with the same threads:

- anchor: one Python process loads ``MimiModel.from_pretrained`` and calls
  ``model.encode(x, num_quantizers=8)`` per file (soundfile in, ``np.save`` out);
- audiotok: ``python -m audiotok encode CLIPS -o OUT --codec mimi`` (default
  chunking, batch size and backend: the SEANet on OpenVINO, its one-time
  conversion done before the timed runs), and again with ``--batch-size 8``.

Reported: wall time, peak RSS, the speed-up over the anchor, and how many of
audiotok's codes equal the anchor's (they may differ only at quantizer
near-ties, README: Exactness). ``--rss`` adds peak RSS of a 10- and a 60-minute
file (real audio tiled). Usage::

    python benchmarks/bench_mimi.py [--threads 2] [--rounds 1] [--rss] [--out table.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._loop_vs_encode import HEADER, long_file_rows, offline_env, run_rounds, table_rows  # noqa: E402
from benchmarks.bench_encode import SHARED, audiotok, mono, run  # noqa: E402

SR = 24000
ANCHOR = """
import sys, numpy as np, soundfile as sf, torch
from pathlib import Path
from transformers import MimiModel
model = MimiModel.from_pretrained(sys.argv[1], local_files_only=True).eval()
out = Path(sys.argv[3])
with torch.inference_mode():
    for wav in sorted(Path(sys.argv[2]).glob("*.wav")):
        x, _ = sf.read(wav, dtype="float32")
        codes = model.encode(torch.from_numpy(x)[None, None], num_quantizers=8).audio_codes
        np.save(out / (wav.stem + ".npy"), codes[0].T.numpy())
"""


def make_clips(folder: Path) -> int:
    """24 clips of 3-10 s, 24 kHz mono, from the shared recordings; returns the samples in all."""
    import torch
    import torchaudio.functional as F

    speech, _ = mono(SHARED / "speech_music_24k_mono.wav")
    music, m_sr = mono(SHARED / "music_48k_stereo.wav")
    music = F.resample(torch.from_numpy(music), m_sr, SR).numpy()
    sources = [speech, music]
    folder.mkdir(parents=True)
    total = 0
    for i in range(24):
        seconds = 3.0 + 7.0 * ((i * 7) % 24) / 23  # 3 .. 10 s, mixed order
        audio = sources[i % 2]
        n = int(seconds * SR)
        start = (i * 9973) % (len(audio) - n)
        sf.write(folder / f"clip{i:02d}.wav", audio[start : start + n], SR)
        total += n
    return total


def save_model(hf_home: Path) -> None:
    """The random full-size Mimi in the Hugging Face cache, saved in a child (this process stays torch-free
    before its timed children)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from tests._mimi import save_mimi; from tests._hub import in_hub_cache;"
        "d = save_mimi(Path(sys.argv[2]) / 'mimi_src', tiny=False);"
        "in_hub_cache(d, Path(sys.argv[2]), 'kyutai/mimi')"
    )
    subprocess.run([sys.executable, "-c", code, str(REPO), str(hf_home)], check=True)


def agreement(ours: Path, anchor: Path) -> tuple[int, int]:
    """Codes of ours (``.npq``) equal to the anchor's (``.npy``): (equal, total)."""
    from audiotok.formats import npq

    same = total = 0
    for ref in sorted(anchor.glob("*.npy")):
        want = np.load(ref)
        got = np.asarray(npq.read(ours / (ref.stem + ".npq"))[0])
        same += int((got == want).sum())
        total += want.size
    return same, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--rss", action="store_true", help="also peak RSS of a 10- and a 60-minute file")
    ap.add_argument(
        "--variant",
        action="append",
        default=None,
        help="audiotok encode options of a run (default: '--batch-size 8')",
    )
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs the shared recordings in {SHARED}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_mimi_"))
    hf_home = tmp / "hf"
    save_model(hf_home)
    clips = tmp / "clips"
    samples = make_clips(clips)
    env = offline_env(hf_home, tmp, args.threads)
    model_dir = next((hf_home / "hub" / "models--kyutai--mimi" / "snapshots").iterdir())
    script = tmp / "anchor.py"
    script.write_text(ANCHOR)
    # the one-time OpenVINO conversion of these weights is not what is timed (README: Backends)
    run(audiotok("encode", clips, "-o", tmp / "warm", "--codec", "mimi"), env)
    runs = run_rounds(
        lambda out: [sys.executable, str(script), str(model_dir), str(clips), str(out)],
        [str(clips), "--codec", "mimi"], args.variant or ["--batch-size 8"], args.rounds, env, tmp,
    )  # fmt: skip
    lines = [
        "# Mimi: audiotok encode vs a MimiModel.encode loop (benchmarks/bench_mimi.py)",
        "",
        f"24 real clips, {samples / SR:.0f} s in all (3-10 s, 24 kHz mono); full-size random Mimi (spread "
        f"codebooks), 8 codebooks; threads={args.threads}, {os.cpu_count()} CPUs; median of {args.rounds} "
        "round(s), start-up included.",
        "",
        *HEADER,
        *table_rows(runs, samples / SR, agreement, tmp / f"anchor{args.rounds - 1}"),
        *(long_file_rows("mimi", SR, env, tmp) if args.rss else []),
    ]
    report = "\n".join(lines)
    print("\n" + report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
