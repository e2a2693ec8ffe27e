"""Time ``audiotok esf encode`` against EnCodec's own ``encodec`` command on one real file, start-up included.

Both encode ``../shared/audio/speech_music_24k_mono.wav`` (20 s, 24 kHz mono) at
6 kbps with the same randomly initialised full-size ``encodec_24khz`` state dict,
saved where ``encodec`` caches its weights (``$TORCH_HOME/hub/checkpoints``; no
download, code speed does not depend on the weight values). Runs are
interleaved, round after round, so load from other processes hits both alike;
the median wall and CPU seconds are printed, with their ratio.

``encodec`` 0.1.1 reads audio with ``torchaudio.load``, which needs torchcodec
in torchaudio >= 2.9; where torchcodec is missing the anchor runs ``encodec``'s
own ``main()`` with ``torchaudio.load`` served by soundfile (same samples; the
16-bit WAV is read in well under 0.1 s either way). The ``encodec`` console
script as installed is timed too: without torchcodec it imports, loads the
model and exits 1 at ``torchaudio.load``, before encoding anything, which is
what a bare "encodec: 2.9 s" measured (issue 10).

Usage::

    python benchmarks/bench_esf_startup.py [--rounds 3] [--threads 1]
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUDIOTOK_SHARED_AUDIO", REPO.parent / "shared" / "audio"))

ANCHOR = """
import sys
try:
    import torchcodec  # noqa: F401
except ImportError:
    import soundfile as sf
    import torch
    import torchaudio

    def _load(path, *args, **kwargs):
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(data.T.copy()), sr

    torchaudio.load = _load
from encodec.__main__ import main

sys.argv[0] = "encodec"
main()
"""


def save_model(torch_home: Path) -> Path:
    """A full-size random ``encodec_24khz`` state dict in ``torch_home``'s hub cache."""
    import warnings

    import torch
    from encodec.model import EncodecModel

    ckpt = torch_home / "hub" / "checkpoints" / "encodec_24khz-d7cc33bc.th"
    if ckpt.is_file():
        return ckpt
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = EncodecModel.encodec_model_24khz(pretrained=False)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), ckpt)
    return ckpt


def run(cmd: list[str], env: dict[str, str], *, may_fail: bool = False) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall seconds, CPU seconds, exit status) of that child."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code and not may_fail:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=1, help="OMP/MKL threads for both (1: robust on a busy box)"
    )
    ap.add_argument("--file", type=Path, default=SHARED / "speech_music_24k_mono.wav")
    args = ap.parse_args()
    if not args.file.is_file():
        raise SystemExit(f"real audio not found: {args.file}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_esf_startup_"))
    save_model(tmp / "torch_home")
    env = {**os.environ, "TORCH_HOME": str(tmp / "torch_home"), "AUDIOTOK_OFFLINE": "1",
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}  # fmt: skip
    installed = shutil.which("encodec")
    cases = {
        "encodec (its CLI)": [sys.executable, "-c", ANCHOR, "-f", "-b", "6", str(args.file),
                              str(tmp / "anchor.ecdc")],
        "audiotok esf encode": [sys.executable, "-m", "audiotok", "-q", "esf", "encode", str(args.file),
                                "-o", str(tmp / "ours"), "--overwrite", "--device", "cpu", "-b", "6"],
    }  # fmt: skip
    if installed:
        cases["encodec as installed"] = [installed, "-f", "-b", "6", str(args.file), str(tmp / "inst.ecdc")]
    walls: dict[str, list[float]] = {k: [] for k in cases}
    cpus: dict[str, list[float]] = {k: [] for k in cases}
    print(f"{args.file.name}, threads={args.threads}, rounds={args.rounds}, cpus={os.cpu_count()}")
    for r in range(args.rounds):
        for name, cmd in cases.items():
            wall, cpu, code = run(cmd, env, may_fail=name == "encodec as installed")
            walls[name].append(wall)
            cpus[name].append(cpu)
            status = (
                "" if not code else f"  exit {code}" + ("" if (tmp / "inst.ecdc").exists() else ", no output")
            )
            print(f"  round {r + 1}: {name:22} {wall:6.2f} s wall {cpu:6.2f} s CPU{status}", flush=True)
    for name in cases:
        print(f"median: {name:22} {statistics.median(walls[name]):6.2f} s wall "
              f"{statistics.median(cpus[name]):6.2f} s CPU")  # fmt: skip
    a, b = "encodec (its CLI)", "audiotok esf encode"
    wa, wb = statistics.median(walls[a]), statistics.median(walls[b])
    ca, cb = statistics.median(cpus[a]), statistics.median(cpus[b])
    print(f"audiotok / encodec: {wb / wa:.2f}x wall, {cb / ca:.2f}x CPU")


if __name__ == "__main__":
    main()
