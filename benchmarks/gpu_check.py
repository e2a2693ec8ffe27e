"""GPU throughput check of ``audiotok npq encode`` (issue 10): speed, token agreement, peak memory.

Run through ``benchmarks/gpu_check.sh`` (which installs carried wheels first) or
directly, with audiotok's dependencies importable. Everything is made here: a
full-size, randomly initialised DAC 44.1 kHz model saved with DAC's own
``save()`` into a private ``$HOME/.cache/descript/dac`` (no download; speed does
not depend on weight values), 200 synthesised 10 s mono clips (or clips cut
from real audio with ``--audio``) and one synthesised 10-minute stereo file.
Every encode is the real command, ``audiotok npq encode --device cuda
--batch-size N --precision P --json``, in a child process, which records
``torch.cuda.max_memory_allocated`` on exit. The summary gives:

- x real time (audio seconds / wall seconds, from the command's own summary;
  model loading included, interpreter start-up not) of the 200 clips, per
  precision, and of the 10-minute stereo file (Mid/Side, NPQ2);
- token agreement (``audiotok.device.token_agreement``) of each precision's
  codes with CPU eager fp32 codes of a few clips;
- peak GPU memory of each run.

``N`` is ``--batch-size``, or with ``auto`` what ``audiotok.device.batch_size_for``
gives for the memory one window row took in a probe encode. Fallbacks: no CUDA
runs on the CPU (say so); a run whose files fail for lack of memory is run again
with half the batch; an audiotok without ``--precision`` runs without it; steps
that no longer fit in ``--budget-s`` are skipped and named, and whatever was
measured is printed (and written to ``--json-out``, default ``$OUT/gpu_check.json``
when ``$OUT`` is set) even when the check is stopped.

``--quick``: a tiny DAC, 4 clips of 1 s, a 6 s stereo file: the whole check in
a minute on a laptop CPU, to test this script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED_AUDIO = REPO.parent / "shared" / "audio"
SR = 44100
DAC_FILE = "weights_44khz_8kbps_0.0.1.pth"
TINY = {"encoder_dim": 4, "decoder_dim": 64}

#: Runs the real CLI entry point and writes the CUDA peak to argv[1] at exit.
CHILD = """
import atexit, json, sys
peak_file = sys.argv.pop(1)

def _peak():
    peak = 0
    mods = sys.modules
    if "torch" in mods and mods["torch"].cuda.is_available() and mods["torch"].cuda.is_initialized():
        torch = mods["torch"]
        peak = max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
    with open(peak_file, "w") as fh:
        json.dump({"peak_bytes": int(peak)}, fh)

atexit.register(_peak)
sys.argv[0] = "audiotok"
from audiotok.cli.app import main
main()
"""


@dataclass
class Run:
    """One ``npq encode`` run."""

    label: str
    device: str
    precision: str
    batch_size: int
    files: int = 0
    failed: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0  # the command's own summary: after imports, model load included
    process_s: float = 0.0  # the whole child process, interpreter start-up included
    real_time: float = 0.0
    peak_bytes: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Everything measured, printed at the end and written as JSON."""

    env: dict[str, Any] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    agreement: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_s: float = 0.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- inputs ------------------------------------------------------------------------------------


def save_dac(path: Path, *, tiny: bool, seed: int = 0) -> Path:
    """A randomly initialised DAC 44.1 kHz saved with DAC's own ``save()`` (as tests/dac_helpers.py)."""
    import dac
    import torch

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = dac.DAC(**(TINY if tiny else {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path), package=False)
    return path


def _synth(n: int, channels: int, rng: np.random.Generator, start: int = 0) -> np.ndarray:
    """Chords of a few harmonics with a slow tremolo, plus noise: ``[n, channels]`` float32."""
    t = (start + np.arange(n)) / SR
    out = np.empty((n, channels), dtype=np.float32)
    for c in range(channels):
        f0 = rng.uniform(90, 400)
        x = sum((0.3 / k) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) for k in (1, 2, 3, 5))
        x = x * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 3) * t))
        out[:, c] = x + 0.03 * rng.standard_normal(n)
    return out


def _real_audio(folder: Path) -> np.ndarray | None:
    """The files of ``folder``, mixed to mono, at 44.1 kHz, one after another (``None`` if none)."""
    import torch
    import torchaudio.functional as AF

    pieces = []
    for path in sorted(folder.glob("*.wav")) + sorted(folder.glob("*.flac")):
        data, sr = sf.read(path, dtype="float32", always_2d=True)
        mono = torch.from_numpy(data.mean(axis=1))
        pieces.append(AF.resample(mono, sr, SR).numpy() if sr != SR else mono.numpy())
    return np.concatenate(pieces) if pieces else None


def make_clips(folder: Path, count: int, seconds: float, audio: Path | None) -> str:
    """``count`` mono clips of ``seconds`` in ``folder``; returns where they came from."""
    folder.mkdir(parents=True, exist_ok=True)
    n = int(seconds * SR)
    rng = np.random.default_rng(0)
    real = _real_audio(audio) if audio is not None and audio.is_dir() else None
    for i in range(count):
        if real is not None:  # cut at spread offsets, wrapping around
            start = (i * 7919 * SR // 10) % len(real)
            x = np.resize(np.roll(real, -start), n)[:, None]
        else:
            x = _synth(n, 1, rng)
        sf.write(folder / f"clip{i:04d}.wav", x, SR, subtype="PCM_16")
    return f"cut from {audio}" if real is not None else "synthesised"


def make_long_stereo(path: Path, seconds: float) -> None:
    rng = np.random.default_rng(1)
    block = SR * 10
    total = int(seconds * SR)
    with sf.SoundFile(path, "w", samplerate=SR, channels=2, subtype="PCM_16") as fh:
        for start in range(0, total, block):
            fh.write(_synth(min(block, total - start), 2, rng, start))


# -- runs --------------------------------------------------------------------------------------


class Budget:
    def __init__(self, seconds: float) -> None:
        self.t0, self.seconds = time.perf_counter(), seconds

    @property
    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.t0)


def npq_encode(
    inputs: list[Path],
    out: Path,
    *,
    device: str,
    precision: str,
    batch_size: int,
    chunk_seconds: float,
    env: dict[str, str],
    timeout: float,
    label: str,
    use_precision: list[bool],
) -> Run:
    """``audiotok npq encode`` in a child process; halves the batch on out-of-memory failures."""
    run = Run(label, device, precision, batch_size)
    while True:
        shutil.rmtree(out, ignore_errors=True)
        peak_file = out.parent / f".{out.name}.peak.json"
        cmd = [sys.executable, "-c", CHILD, str(peak_file), "npq", "encode", *map(str, inputs),
               "-o", str(out), "--device", device, "--batch-size", str(run.batch_size),
               "--chunk-seconds", str(chunk_seconds), "--overwrite", "--json"]  # fmt: skip
        if use_precision[0]:
            cmd += ["--precision", precision]
        if device == "cpu":
            cmd += ["--backend", "eager"]  # the reference is eager PyTorch, whatever is installed
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max(timeout, 1.0))
        run.process_s = time.perf_counter() - t0
        if proc.returncode == 2 and "--precision" in proc.stderr and use_precision[0]:
            use_precision[0] = False  # an audiotok from before --precision: every run in fp32
            run.notes.append("this audiotok has no --precision: ran in its default precision")
            run.precision = "default"
            continue
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        summary = next((x for x in reversed(lines) if "real_time_factor" in x), None)
        if summary is None:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{label}: npq encode exited {proc.returncode}: {tail}")
        errors = [x.get("error") or "" for x in lines if x.get("status") == "failed"]
        oom = any("out of memory" in e.lower() for e in errors)
        if oom and run.batch_size > 1:
            run.notes.append(f"out of memory at --batch-size {run.batch_size}")
            run.batch_size //= 2
            continue
        run.files = int(summary.get("files_written", 0))
        run.failed = int(summary.get("files_failed", 0))
        run.audio_s = float(summary.get("audio_seconds", 0.0))
        run.wall_s = float(summary.get("wall_seconds", 0.0))
        run.real_time = float(summary.get("real_time_factor", 0.0))
        with contextlib.suppress(OSError, ValueError):
            run.peak_bytes = int(json.loads(peak_file.read_text())["peak_bytes"])
        warning = [w for w in proc.stderr.splitlines() if w.startswith("warning:")]
        run.notes += sorted(set(warning))
        if errors:
            run.notes.append(f"{len(errors)} failed, e.g. {errors[0][:160]}")
        return run


def probe_batch_size(device: str, chunk_seconds: float, max_batch: int) -> tuple[int, str]:
    """Batch size for ``device`` from one probe encode's peak memory per window sample."""
    import torch

    from audiotok import device as dl
    from audiotok.codecs import registry

    dev = torch.device(device)
    if dev.type != "cuda":
        return 1, "1 (not CUDA)"
    codec = registry.load_codec("44khz", family="dac", device=dev)
    ctx = codec.encoder_context_frames
    frames = max(1, round(chunk_seconds * codec.frame_rate))
    window = (frames + ctx.before + ctx.after) * codec.hop_length
    rows = 2
    x = np.zeros((rows, 1, window), dtype=np.float32)
    torch.cuda.synchronize(dev)
    base = torch.cuda.memory_allocated(dev)
    dl.reset_peak_memory(dev)
    with dl.precision("fp32", dev):
        codec.encode(dl.to_device(x, dev), codec.n_codebooks)
    torch.cuda.synchronize(dev)
    per_sample = (dl.peak_memory(dev) - base) / (rows * window)
    del codec
    torch.cuda.empty_cache()
    n = dl.batch_size_for(dev, window, per_sample * 1.25, max_batch=max_batch)
    return n, f"{n} ({per_sample:.0f} B per window sample, {window} samples per window)"


def read_codes(folder: Path) -> dict[str, np.ndarray]:
    from audiotok.formats import npq

    return {p.name: npq.read(p)[0].astype(np.int64) for p in sorted(folder.rglob("*.npq"))}


def agreement(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    from audiotok.device import token_agreement

    names = sorted(set(a) & set(b))
    if not names:
        return float("nan")
    return token_agreement(np.concatenate([a[k] for k in names]), np.concatenate([b[k] for k in names]))


# -- report ------------------------------------------------------------------------------------


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n else "-"


def render(report: Report) -> str:
    env = report.env
    lines = [
        "",
        "== audiotok GPU check ==",
        f"device {env.get('device_name', '?')}; torch {env.get('torch', '?')}; "
        f"audiotok {env.get('audiotok', '?')}",
        f"model: DAC 44.1 kHz, {env.get('model', '?')}; clips {env.get('clips', '?')}; "
        f"batch size {env.get('batch_size', '?')}",
    ]
    lines.append("x real time = audio s / wall s (the command's own summary: model load in, start-up out);")
    lines.append("proc s = the whole `audiotok npq encode` process, interpreter start-up included")
    lines.append(
        f"{'run':34} {'prec':>7} {'batch':>5} {'audio s':>8} {'wall s':>7} {'proc s':>7} {'x real time':>11}"
        "  peak GPU"
    )
    for r in report.runs:
        lines.append(
            f"{r.label:34} {r.precision:>7} {r.batch_size:>5} {r.audio_s:8.0f} {r.wall_s:7.1f} "
            f"{r.process_s:7.1f} {r.real_time:11.1f}  {_gib(r.peak_bytes)}"
            + (f"  ({r.failed} failed)" if r.failed else "")
        )
        lines += [f"    note: {n}" for n in r.notes]
    if report.agreement:
        lines.append("token agreement with CPU eager fp32 (same clips, all codebooks):")
        lines += [f"    {k:20} {v:.4f}" for k, v in report.agreement.items()]
    peaks = [r.peak_bytes for r in report.runs]
    if any(peaks):
        lines.append(f"peak GPU memory (torch.cuda.max_memory_allocated), largest run: {_gib(max(peaks))}")
    lines += [f"skipped: {s}" for s in report.skipped]
    lines += [f"note: {n}" for n in report.notes]
    lines.append(f"total {report.total_s:.0f} s")
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny model and sizes (a CPU test of this script)")
    ap.add_argument("--device", default="auto", help="auto (CUDA if present), cuda, cuda:N or cpu")
    ap.add_argument("--batch-size", default="auto", help="N, or auto (fill the GPU's free memory)")
    ap.add_argument("--max-batch", type=int, default=64, help="upper bound for --batch-size auto")
    ap.add_argument("--precisions", default="fp32,bf16,tf32", help="comma-separated, most wanted first")
    ap.add_argument("--clips", type=int, help="number of mono clips (default 200; --quick 4)")
    ap.add_argument("--clip-seconds", type=float, help="seconds per clip (default 10; --quick 1)")
    ap.add_argument("--long-seconds", type=float, help="length of the stereo file (default 600; --quick 6)")
    ap.add_argument("--chunk-seconds", type=float, default=10.0, help="npq encode --chunk-seconds")
    ap.add_argument("--agreement-clips", type=int, default=4, help="clips also encoded on the CPU")
    ap.add_argument("--audio", type=Path, help="cut the clips from this folder's WAV/FLAC files")
    ap.add_argument("--budget-s", type=float, default=420.0, help="skip steps that would end later")
    ap.add_argument("--work", type=Path, help="scratch folder (default: a new temporary one, removed)")
    ap.add_argument("--json-out", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    clips_n = args.clips or (4 if args.quick else 200)
    clip_s = args.clip_seconds or (1.0 if args.quick else 10.0)
    long_s = args.long_seconds or (6.0 if args.quick else 600.0)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    json_out = args.json_out or (
        Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else None
    )
    if args.audio is None and args.quick and SHARED_AUDIO.is_dir():
        args.audio = SHARED_AUDIO

    budget = Budget(args.budget_s)
    report = Report()
    work = args.work or Path(tempfile.mkdtemp(prefix="audiotok_gpu_check_"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))  # `timeout` in gpu_check.sh: report, then stop
    try:
        _check(args, report, budget, work, clips_n, clip_s, long_s, precisions)
        return 0
    except SystemExit:
        report.notes.append("stopped at the time limit (SIGTERM): the steps above are all that ran")
        raise
    except Exception as exc:
        report.notes.append(f"stopped: {type(exc).__name__}: {exc}")
        return 1
    finally:
        report.total_s = time.perf_counter() - budget.t0
        print(render(report), flush=True)
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(asdict(report), indent=1))
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def _check(
    args: argparse.Namespace,
    report: Report,
    budget: Budget,
    work: Path,
    clips_n: int,
    clip_s: float,
    long_s: float,
    precisions: list[str],
) -> None:
    import torch

    import audiotok
    from audiotok.device import select_device

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dev = select_device(args.device)
    report.notes += [str(w.message) for w in caught]
    device = str(dev)
    report.env = {
        "torch": torch.__version__,
        "audiotok": audiotok.__version__,
        "device": device,
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU",
        "model": "tiny, random weights" if args.quick else "full size, random weights",
    }
    log(f"[gpu_check] {report.env}")

    # a private DAC cache: the children and the probe load "44khz" from it, never from the network
    home = work / "home"
    save_dac(home / ".cache" / "descript" / "dac" / DAC_FILE, tiny=args.quick)
    os.environ.update(HOME=str(home), AUDIOTOK_OFFLINE="1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

    t0 = time.perf_counter()
    clips = work / "clips"
    origin = make_clips(clips, clips_n, clip_s, args.audio)
    long_wav = work / "long_stereo.wav"
    make_long_stereo(long_wav, long_s)
    sample = sorted(clips.glob("*.wav"))[: args.agreement_clips]
    report.env["clips"] = f"{clips_n} x {clip_s:g} s mono ({origin}); stereo file {long_s:g} s"
    log(f"[gpu_check] inputs made in {time.perf_counter() - t0:.1f} s")

    if args.batch_size == "auto":
        batch, how = probe_batch_size(device, args.chunk_seconds, args.max_batch)
    else:
        batch, how = int(args.batch_size), f"{args.batch_size} (given)"
    report.env["batch_size"] = how
    use_precision = [True]
    codes: dict[str, dict[str, np.ndarray]] = {}

    def step(label: str, inputs: list[Path], out: str, precision: str, *, dev_name: str = device,
             batch_size: int = batch, need_s: float = 0.0) -> Run | None:  # fmt: skip
        if budget.left < need_s:
            report.skipped.append(f"{label} {precision} (needs ~{need_s:.0f} s, {budget.left:.0f} s left)")
            log(f"[gpu_check] skip {label} {precision}")
            return None
        log(f"[gpu_check] {label} {precision} batch {batch_size} on {dev_name} ...")
        run = npq_encode(
            inputs, work / out, device=dev_name, precision=precision, batch_size=batch_size,
            chunk_seconds=args.chunk_seconds, env=env, timeout=budget.left, label=label,
            use_precision=use_precision,
        )  # fmt: skip
        report.runs.append(run)
        log(f"[gpu_check]   {run.real_time:.1f}x real time, {run.wall_s:.1f} s, peak {_gib(run.peak_bytes)}")
        return run

    first, *others = precisions
    clips_label = f"{clips_n} clips x {clip_s:g} s mono"
    long_label = f"{long_s:g} s stereo (Mid/Side)"
    base = step(clips_label, [clips], f"clips_{first}", first)
    assert base is not None
    codes[first] = read_codes(work / f"clips_{first}")
    per_clip_run = base.process_s
    longest = step(
        long_label, [long_wav], f"long_{first}", first, need_s=per_clip_run * long_s / (clips_n * clip_s)
    )
    cpu = step(f"CPU eager, {len(sample)} clips", sample, "cpu_fp32", "fp32", dev_name="cpu", batch_size=1,
               need_s=30.0)  # fmt: skip
    if cpu is not None:
        codes_cpu = read_codes(work / "cpu_fp32")
        report.agreement[f"{device} {first}"] = agreement(codes[first], codes_cpu)
    for precision in others:
        if step(clips_label, [clips], f"clips_{precision}", precision, need_s=per_clip_run * 1.2) is None:
            continue
        codes[precision] = read_codes(work / f"clips_{precision}")
        if cpu is not None:
            report.agreement[f"{device} {precision}"] = agreement(codes[precision], codes_cpu)
        report.agreement[f"{device} {precision} vs {first}"] = agreement(codes[precision], codes[first])
    if len(precisions) > 1 and longest is not None:
        best = max((r for r in report.runs if r.label == clips_label), key=lambda r: r.real_time)
        if best.precision != first:
            step(
                long_label,
                [long_wav],
                f"long_{best.precision}",
                best.precision,
                need_s=longest.process_s * 1.2,
            )
    if batch > 1:
        step(clips_label, [clips], "clips_batch1", first, batch_size=1, need_s=per_clip_run * 3)
    for name in list(work.glob("*.wav")):
        name.unlink()  # the long file: 100 MB


if __name__ == "__main__":
    sys.exit(main())
