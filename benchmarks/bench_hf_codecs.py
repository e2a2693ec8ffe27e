"""XCodec2, NeuCodec, X-Codec, Higgs: ``audiotok encode --codec C`` vs a loop over the transformers class.

Inputs: 24 real clips of 3-10 s at the codec's rate (cut from ``../shared/audio``
as ``bench_mimi.py`` cuts them, resampled). Weights: a full-size random model
with spread codebooks (``tests/_hf_audio.py``), saved in the Hugging Face cache
layout (``HF_HOME``, ``HF_HUB_OFFLINE=1``). Both sides are child processes,
start-up included, with the same threads:

- anchor: one Python process loads ``AutoFeatureExtractor`` and the model class
  (``from_pretrained``) and, per file, calls ``model.encode(**extractor(audio=[x],
  sampling_rate=sr, return_tensors="pt"))`` (X-Codec and Higgs: ``encode(input_values,
  bandwidth=max)``), soundfile in, ``np.save`` out;
- audiotok: ``python -m audiotok encode CLIPS -o OUT --codec C`` (defaults; XCodec2 and
  NeuCodec: the acoustic encoder on OpenVINO, converted once before the timed runs), and
  other options (``--variant``).

Reported: wall time, peak RSS, the speed-up over the anchor, and how many of
audiotok's codes equal the anchor's (frames past ``ceil(S / hop)`` of the
anchor's, where the port gives more, are not compared). Usage::

    python benchmarks/bench_hf_codecs.py --codec xcodec2 [--threads 2] [--variant '--batch-size 4']
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

from benchmarks._loop_vs_encode import HEADER, offline_env, run_rounds, table_rows  # noqa: E402
from benchmarks.bench_encode import SHARED, audiotok, mono, run  # noqa: E402

ANCHOR = """
import sys, numpy as np, soundfile as sf, torch
from pathlib import Path
from transformers import AutoFeatureExtractor
import transformers
family, folder, clips, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
cls = {"xcodec2": "Xcodec2Model", "neucodec": "NeuCodecModel", "xcodec": "XcodecModel",
       "higgs-audio-v2": "HiggsAudioV2TokenizerModel"}[family]
model = getattr(transformers, cls).from_pretrained(folder, local_files_only=True).eval()
fe = AutoFeatureExtractor.from_pretrained(folder, local_files_only=True)
with torch.inference_mode():
    for wav in sorted(clips.glob("*.wav")):
        x, sr = sf.read(wav, dtype="float32")
        if family in ("xcodec", "higgs-audio-v2"):
            values = fe(x, sampling_rate=sr, return_tensors="pt")["input_values"]
            codes = model.encode(values, bandwidth=max(model.config.target_bandwidths)).audio_codes
        else:
            codes = model.encode(**fe(audio=[x], sampling_rate=sr, return_tensors="pt").data).audio_codes
        np.save(out / (wav.stem + ".npy"), codes[0].T.numpy())
"""


def make_clips(folder: Path, rate: int) -> int:
    """24 clips of 3-10 s at ``rate``, mono, from the shared recordings; returns the samples in all."""
    import torch
    import torchaudio.functional as F

    sources = []
    for name in ("speech_music_24k_mono.wav", "music_48k_stereo.wav"):
        audio, sr = mono(SHARED / name)
        sources.append(F.resample(torch.from_numpy(audio), sr, rate).numpy() if sr != rate else audio)
    folder.mkdir(parents=True)
    total = 0
    for i in range(24):
        seconds = 3.0 + 7.0 * ((i * 7) % 24) / 23  # 3 .. 10 s, mixed order
        audio = sources[i % 2]
        n = int(seconds * rate)
        start = (i * 9973) % (len(audio) - n)
        sf.write(folder / f"clip{i:02d}.wav", audio[start : start + n], rate)
        total += n
    return total


def save_model(family: str, hf_home: Path, repo: str) -> None:
    """The random full-size model in the Hugging Face cache, saved in a child process."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from tests._hf_audio import save_model; from tests._hub import in_hub_cache;"
        "d = save_model(sys.argv[3], Path(sys.argv[2]) / 'src', tiny=False);"
        "in_hub_cache(d, Path(sys.argv[2]), sys.argv[4])"
    )
    subprocess.run([sys.executable, "-c", code, str(REPO), str(hf_home), family, repo], check=True)


def agreement(ours: Path, anchor: Path) -> tuple[int, int]:
    """Codes of ours (``.npq``) equal to the anchor's (``.npy``, cut to our frames): (equal, total)."""
    from audiotok.formats import npq

    same = total = 0
    for ref in sorted(anchor.glob("*.npy")):
        got = np.asarray(npq.read(ours / (ref.stem + ".npq"))[0])
        want = np.load(ref)[: len(got), : got.shape[1]]
        same += int((got[: len(want)] == want).sum())
        total += got.size
    return same, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codec", default="xcodec2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--variant", action="append", default=[], help="audiotok encode options of another run")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs the shared recordings in {SHARED}")
    from audiotok.codecs import registry
    from audiotok.codecs.weights import HubWeights

    entry = registry.lookup(args.codec)
    if entry is None or not isinstance(entry.weights, HubWeights):
        raise SystemExit(f"not a transformers codec: {args.codec}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_hf_"))
    hf_home = tmp / "hf"
    save_model(entry.family, hf_home, entry.weights.repo)
    clips = tmp / "clips"
    samples = make_clips(clips, entry.sample_rate)
    env = offline_env(hf_home, tmp, args.threads)
    repo_dir = hf_home / "hub" / f"models--{entry.weights.repo.replace('/', '--')}"
    model_dir = next((repo_dir / "snapshots").iterdir())
    script = tmp / "anchor.py"
    script.write_text(ANCHOR)
    # the one-time OpenVINO conversion of these weights is not what is timed (README: Backends)
    run(audiotok("encode", clips, "-o", tmp / "warm", "--codec", args.codec), env)
    runs = run_rounds(
        lambda out: [sys.executable, str(script), entry.family, str(model_dir), str(clips), str(out)],
        [str(clips), "--codec", args.codec], args.variant, args.rounds, env, tmp,
    )  # fmt: skip
    rate = entry.sample_rate
    lines = [
        f"# {args.codec}: audiotok encode vs a transformers loop (benchmarks/bench_hf_codecs.py)",
        "",
        f"24 real clips, {samples / rate:.0f} s in all (3-10 s, {rate} Hz mono); full-size random model "
        f"(spread codebooks); threads={args.threads}, {os.cpu_count()} CPUs; median of {args.rounds} "
        "round(s), start-up included.",
        "",
        *HEADER,
        *table_rows(runs, samples / rate, agreement, tmp / f"anchor{args.rounds - 1}"),
    ]
    report = "\n".join(lines)
    print("\n" + report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
