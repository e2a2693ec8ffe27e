"""GPU check of the codecs audio LMs train on (issue 22): batched throughput, and codes GPU vs CPU.

For each codec (``mimi``, ``snac-24khz``, ``snac-32khz``, ``xcodec2``,
``neucodec``, ``xcodec-hubert-librispeech``, ``higgs-audio-v2``; ``--codecs``
picks), everything is made here, offline: a full-size random model with
spread codebooks (the tests' builders, ``tests/_mimi.py``, ``tests/_snac.py``,
``tests/_hf_audio.py``) laid out in a private Hugging Face cache
(``HF_HOME``, ``HF_HUB_OFFLINE=1``), and ``--clips`` clips of ``--seconds``
seconds (real audio from ``../shared/audio`` when there, else synthesised).
Each encode is the real command in a child process::

    python -m audiotok encode CLIPS -o OUT --codec C --device cuda --batch-size B --json

Reported per codec: x real time on the GPU (audio seconds over the command's
wall time, model loading included, interpreter start-up not), and the share
of codes of the first ``--compare`` clips equal to ``--device cpu --backend
eager`` codes (batched GPU against CPU one at a time). A codec that fails or
does not fit ``--budget-s`` is named and skipped; what was measured is printed
and written to ``--json-out`` (default ``$OUT/gpu_codecs.json`` when ``$OUT``
is set). Without CUDA it runs on the CPU and says so.

``--quick``: tiny models, 3 clips of 1 s, on the CPU: tests this script.
Run it through ``benchmarks/gpu_check.sh --codecs`` on a lent machine (carried wheels).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_AUDIO = REPO.parent / "shared" / "audio"

CODECS = (
    "mimi", "snac-24khz", "snac-32khz", "xcodec2", "neucodec", "xcodec-hubert-librispeech", "higgs-audio-v2",
)  # fmt: skip


def log(msg: str) -> None:
    print(f"[gpu_codecs {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def save_model(name: str, hf_home: Path, *, tiny: bool) -> None:
    """A random model of registry entry ``name`` (full size unless ``tiny``) in ``hf_home``'s Hub cache."""
    from audiotok.codecs import registry
    from audiotok.codecs.weights import HubWeights
    from tests._hub import in_hub_cache

    entry = registry.lookup(name)
    assert entry is not None and isinstance(entry.weights, HubWeights)
    folder = hf_home / "src" / name
    if entry.family == "mimi":
        from tests._mimi import save_mimi

        save_mimi(folder, tiny=tiny)
    elif entry.family == "snac":
        from tests import _snac

        base = _snac.SNAC_24 if entry.sample_rate == 24000 else _snac.SNAC_32
        if tiny:
            base = _snac.TINY_SNAC_24 if entry.sample_rate == 24000 else _snac.TINY_SNAC_32
        config = {**base, "sampling_rate": entry.sample_rate}
        _snac.save_snac(_snac.build_snac(config), config, folder)
    else:
        from tests._hf_audio import save_model as save_hf

        save_hf(entry.family, folder, tiny=tiny)
    in_hub_cache(folder, hf_home, entry.weights.repo)


def make_clips(folder: Path, rate: int, count: int, seconds: float) -> float:
    """``count`` mono clips at ``rate``; returns their seconds in all."""
    rng = np.random.default_rng(0)
    real = None
    speech = SHARED_AUDIO / "speech_music_24k_mono.wav"
    if speech.is_file():
        import torch
        import torchaudio.functional as F

        audio, sr = sf.read(speech, dtype="float32")
        real = F.resample(torch.from_numpy(audio), sr, rate).numpy() if sr != rate else audio
    folder.mkdir(parents=True)
    n = int(seconds * rate)
    for i in range(count):
        if real is not None and len(real) > n:
            start = (i * 9973) % (len(real) - n)
            x = real[start : start + n]
        else:
            t = np.arange(n) / rate
            x = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t * (1 + t)) + 0.03 * rng.standard_normal(n)
        sf.write(folder / f"clip{i:03d}.wav", x.astype(np.float32), rate)
    return count * n / rate


def encode(
    clips: Path, out: Path, name: str, env: dict[str, str], *extra: str
) -> tuple[float, dict[str, Any]]:
    """Run ``audiotok encode``; (wall seconds, its JSON summary)."""
    cmd = [
        sys.executable,
        "-m",
        "audiotok",
        "encode",
        str(clips),
        "-o",
        str(out),
        "--codec",
        name,
        "--json",
        *extra,
    ]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-400:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def agreement(a: Path, b: Path) -> float:
    """Share of equal codes over the ``.npq`` files of ``b`` found in ``a``."""
    from audiotok.formats import npq

    same = total = 0
    for f in sorted(b.glob("*.npq")):
        x, y = np.asarray(npq.read(a / f.name)[0]), np.asarray(npq.read(f)[0])
        same += int((x == y).sum())
        total += y.size
    return same / total if total else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch-size", default="16")
    ap.add_argument("--compare", type=int, default=4, help="clips also encoded on the CPU")
    ap.add_argument("--budget-s", type=float, default=540.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    import torch

    cuda = torch.cuda.is_available() and not args.quick
    device = "cuda" if cuda else "cpu"
    if not cuda:
        log("no CUDA device (or --quick): everything runs on the CPU")
    if args.quick:
        args.clips, args.seconds, args.compare = 3, 1.0, 2
    tmp = Path(tempfile.mkdtemp(prefix="gpu_codecs_"))
    hf_home = tmp / "hf"
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "AUDIOTOK_OFFLINE": "1",
           "AUDIOTOK_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(REPO)}  # fmt: skip
    env.pop("HF_HUB_CACHE", None)
    os.environ.update({k: env[k] for k in ("HF_HOME", "HF_HUB_OFFLINE")})
    from audiotok.codecs import registry

    results: list[dict[str, Any]] = []
    for name in args.codecs.split(","):
        left = args.budget_s - (time.perf_counter() - t_start)
        if left < 30:
            results.append({"codec": name, "skipped": f"budget: {left:.0f} s left"})
            log(f"{name}: skipped, {left:.0f} s of the budget left")
            continue
        row: dict[str, Any] = {"codec": name, "device": device}
        try:
            entry = registry.lookup(name)
            assert entry is not None, f"no codec {name}"
            t0 = time.perf_counter()
            save_model(name, hf_home, tiny=args.quick)
            row["model_s"] = round(time.perf_counter() - t0, 1)
            clips = tmp / name / "clips"
            seconds = make_clips(clips, entry.sample_rate, args.clips, args.seconds)
            wall, summary = encode(
                clips, tmp / name / "gpu", name, env, "--device", device, "--batch-size", args.batch_size
            )
            row.update(seconds=seconds, wall_s=round(wall, 2), x_real_time=round(seconds / wall, 1))
            row["files_ok"] = summary.get("files_ok", summary.get("ok"))
            few = tmp / name / "few"
            few.mkdir()
            for f in sorted(clips.glob("*.wav"))[: args.compare]:
                (few / f.name).symlink_to(f)
            encode(
                few,
                tmp / name / "cpu",
                name,
                env,
                "--device",
                "cpu",
                "--backend",
                "eager",
                "--batch-size",
                "1",
            )
            row["codes_equal_to_cpu"] = round(agreement(tmp / name / "gpu", tmp / name / "cpu"), 6)
            equal = row["codes_equal_to_cpu"]
            log(f"{name}: {row['x_real_time']}x real time on {device}, codes equal to CPU {equal:.4%}")
        except Exception as exc:  # one codec's failure is a row of the report, not the end of the check
            row["error"] = " ".join(str(exc).split())[:400]
            log(f"{name}: failed: {row['error']}")
        results.append(row)
    report = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "clips": args.clips,
              "seconds": args.seconds, "batch_size": args.batch_size, "codecs": results}  # fmt: skip
    print(json.dumps(report, indent=2))
    out = args.json_out or (Path(os.environ["OUT"]) / "gpu_codecs.json" if os.environ.get("OUT") else None)
    if out is not None:
        out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
