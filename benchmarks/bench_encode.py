"""Benchmark audiotok's encode and decode against the codecs' own command-line tools, side by side.

Everything runs in one go, with the same randomly initialised full-size models
saved in the real checkpoint layouts (DAC 44.1 kHz by DAC's own ``save()`` in a
temporary ``$HOME/.cache/descript/dac``; EnCodec 24 kHz as a state dict in
``$TORCH_HOME/hub/checkpoints``): no download, and code speed does not depend
on the weight values. Anchor and audiotok runs alternate, round after round, so
load from other processes hits both alike; medians are reported, with ratios.
All inputs are real recordings from ``../shared/audio`` (cut into clips here).

Cases (the targets of the throughput issue):
  encode  one 20 s file / 9 clips (~50 s) / 24 clips of 3 s: ``python -m dac encode``
          vs ``audiotok npq encode --mono`` (default backend, warm cache; eager too)
  stereo  15 s stereo: Mid/Side (NPQ2) vs ``--mono``; a dual-mono (L == R) 20 s file vs ``--mono``
  cache   one 20 s file with an empty backend cache (conversion + check) vs warm, start-up included
          (``esf`` has its own: EnCodec's encoder converted on an empty cache)
  esf     one 20 s file: the ``encodec`` command vs ``audiotok esf encode``; 24 clips: a shell loop
          of ``encodec`` (one file per run) vs one ``audiotok esf encode`` of the folder (the command
          is encodec's own ``main()`` with audio read by soundfile, see bench_esf_startup.py)
  decode  the 20 s file: ``python -m dac decode`` vs ``audiotok npq decode``, wall time and peak RSS
  tokens  audiotok's default path vs DAC's own ``model.encode`` on the same samples (% equal)
  rss     peak RSS of ``npq encode`` (Mid/Side) on long synthetic stereo (tiny model: growth)

Peak RSS per child comes from ``os.wait4`` (this process imports no torch before
its children run, so their ``ru_maxrss`` is not this process's). Usage::

    python benchmarks/bench_encode.py [--rounds 2] [--threads 2] [--only encode,esf] [--skip-rss]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUDIOTOK_SHARED_AUDIO", REPO.parent / "shared" / "audio"))
sys.path.insert(0, str(REPO))

from benchmarks.bench_esf_startup import ANCHOR  # noqa: E402  (encodec's main(), audio via soundfile)

Cmd = list[str]


def run(cmd: Cmd | str, env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd`` (a shell line when a str); return (wall seconds, peak RSS in MiB of the largest child)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, shell=isinstance(cmd, str), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"failed: {cmd}\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def audiotok(*args: str | Path) -> Cmd:
    return [sys.executable, "-m", "audiotok", "-q", *map(str, args)]


def dac_cli(verb: str, src: Path, out: Path) -> Cmd:
    return [sys.executable, "-m", "dac", verb, str(src), "--output", str(out), "--device", "cpu",
            "--model_type", "44khz"]  # fmt: skip


def mono(path: Path) -> tuple[np.ndarray, int]:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return audio.mean(axis=1), sr


def make_inputs(tmp: Path) -> dict[str, Path]:
    """Real clips: the 20 s file, 9 clips (~50 s), 24 clips of 3 s, 15 s stereo and a dual-mono file."""
    speech, s_sr = mono(SHARED / "speech_music_24k_mono.wav")
    music, m_sr = mono(SHARED / "music_48k_stereo.wav")
    mp3, p_sr = mono(SHARED / "music_44k_stereo.mp3")
    sources = [(speech, s_sr, "speech"), (music, m_sr, "music"), (mp3, p_sr, "mp3")]
    nine, short = tmp / "clips9", tmp / "clips24"
    nine.mkdir()
    short.mkdir()
    for audio, sr, name in sources:  # 3 consecutive pieces of each recording
        for i, piece in enumerate(np.array_split(audio, 3)):
            sf.write(nine / f"{name}{i}.wav", piece, sr)
    n = 0
    for audio, sr, name in sources * 3:  # 3 s clips at 1.5 s steps, 24 in all
        for start in np.arange(0, len(audio) / sr - 3, 1.5):
            if n < 24 and not (short / f"{name}_{start:.1f}.wav").exists():
                sf.write(
                    short / f"{name}_{start:.1f}.wav", audio[int(start * sr) : int((start + 3) * sr)], sr
                )
                n += 1
    dual = tmp / "dual_mono.wav"
    sf.write(dual, np.stack([speech, speech], axis=1), s_sr)
    return {"20s": SHARED / "speech_music_24k_mono.wav", "clips9": nine, "clips24": short,
            "stereo": SHARED / "music_48k_stereo.wav", "dual": dual}  # fmt: skip


def encodec_anchor(tmp: Path, clips: Path, out: Path) -> tuple[str, str]:
    """The ``encodec`` command (written to ``tmp``; torchaudio.load needs torchcodec, absent here) and a
    shell loop of it over ``clips``' WAV files into ``out``."""
    anchor = tmp / "encodec_cli.py"
    anchor.write_text(ANCHOR)
    encodec_bin = f"{sys.executable} {anchor}"
    loop = " && ".join(
        f"{encodec_bin} -f {c} {out / (c.stem + '.ecdc')}" for c in sorted(clips.glob("*.wav"))
    )
    return encodec_bin, loop


def save_in_child(weights: Path, torch_home: Path | None = None, tiny: bool = False) -> None:
    """Save the random DAC (and EnCodec) in a child process, so that this one never imports torch
    before its timed children: a forked child's ``ru_maxrss`` starts at its parent's RSS."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from tests.dac_helpers import TINY, save_dac; from benchmarks.bench_encode import save_encodec;"
        "save_dac(Path(sys.argv[2]), seed=0, **(TINY if sys.argv[4] == '1' else {}));"
        "sys.argv[3] and save_encodec(Path(sys.argv[3]))"
    )
    args = [str(REPO), str(weights), str(torch_home or ""), "1" if tiny else "0"]
    subprocess.run([sys.executable, "-c", code, *args], check=True)


def save_encodec(torch_home: Path) -> None:
    import torch
    from encodec.model import EncodecModel

    torch.manual_seed(0)
    model = EncodecModel._get_model(
        [1.5, 3.0, 6.0, 12.0, 24.0], 24_000, 1, causal=True, model_norm="weight_norm",
        audio_normalize=False, name="encodec_24khz",
    )  # fmt: skip
    path = torch_home / "hub" / "checkpoints" / "encodec_24khz-d7cc33bc.th"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def token_agreement(npq_path: Path, wav: Path, weights: Path) -> float:
    """Share of tokens in ``npq_path`` equal to DAC's own ``model.encode`` of the same resampled samples."""
    import dac
    import torch

    from audiotok.audio import probe
    from audiotok.audio.stream import FileSource, ResampledSource
    from audiotok.formats import npq

    model = dac.DAC.load(str(weights)).eval()
    info = probe(wav)
    with FileSource(wav, "mono", info) as src:
        res = ResampledSource(src, 44100)
        x = torch.from_numpy(res.read(0, res.length)).reshape(1, 1, -1)
    with torch.inference_mode():
        _, codes, *_ = model.encode(model.preprocess(x, 44100))
    ours, _ = npq.read(npq_path)  # [T, K]
    theirs = codes[0].T.numpy()
    return float((ours == theirs[: len(ours)]).mean()) if ours.shape == theirs.shape else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="OMP/MKL threads for every tool")
    ap.add_argument("--only", default="encode,stereo,cache,esf,decode,tokens", help="comma-separated cases")
    ap.add_argument("--rss-minutes", type=float, nargs=2, default=(10.0, 60.0))
    ap.add_argument("--skip-rss", action="store_true")
    args = ap.parse_args()
    if not (SHARED / "speech_music_24k_mono.wav").is_file():
        raise SystemExit(f"real audio not found in {SHARED}")
    only = set(args.only.split(","))

    tmp = Path(tempfile.mkdtemp(prefix="bench_encode_"))
    home = tmp / "home"
    weights = home / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth"
    # in a child: this process stays small, so the RSS of the children it forks is theirs alone
    # (a forked child's ru_maxrss starts at its parent's RSS, before its exec)
    save_in_child(weights, home / "torch")
    threads = str(args.threads)
    env = {**os.environ, "HOME": str(home), "TORCH_HOME": str(home / "torch"), "AUDIOTOK_OFFLINE": "1",
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "AUDIOTOK_CACHE_DIR": str(tmp / "cache")}  # fmt: skip
    inputs = make_inputs(tmp)
    o = tmp / "out"
    enc = ["npq", "encode", "--overwrite", "--threads", threads]
    encodec_bin, loop = encodec_anchor(tmp, inputs["clips24"], o / "loop")

    # warm the backend cache once (the one-time cost is its own case below): the conversion, and
    # the compiled model of each window length these inputs use (OpenVINO compiles one per length)
    for key in ("20s", "clips9", "clips24"):
        run(audiotok(*enc, inputs[key], "--mono", "-o", o / "warm"), env)
    if "esf" in only:  # EnCodec 24 kHz's OpenVINO encoder too (its one-time cost: the esf-cold case)
        run(audiotok("esf", "encode", "--overwrite", inputs["20s"], "-o", o / "esf_warm"), env)
    cold_env = lambda: {**env, "AUDIOTOK_CACHE_DIR": tempfile.mkdtemp(dir=tmp)}  # noqa: E731

    cases: dict[str, tuple[str, Callable[[], tuple[Cmd | str, dict[str, str]]]]] = {}

    def case(
        group: str, name: str, cmd: Cmd | str, env_fn: Callable[[], dict[str, str]] = lambda: env
    ) -> None:
        cases[name] = (group, lambda: (cmd, env_fn()))

    for key in ("20s", "clips9", "clips24"):
        case("encode", f"{key}: dac encode", dac_cli("encode", inputs[key], o / f"dac_{key}"))
        case(
            "encode", f"{key}: audiotok --mono", audiotok(*enc, inputs[key], "--mono", "-o", o / f"at_{key}")
        )
        case("encode", f"{key}: audiotok --mono eager",
             audiotok(*enc, inputs[key], "--mono", "--backend", "eager", "-o", o / f"ate_{key}"))  # fmt: skip
    case("stereo", "stereo: audiotok M/S", audiotok(*enc, inputs["stereo"], "-o", o / "ms"))
    case("stereo", "stereo: audiotok --mono", audiotok(*enc, inputs["stereo"], "--mono", "-o", o / "msm"))
    case("stereo", "dual-mono: audiotok M/S", audiotok(*enc, inputs["dual"], "-o", o / "dm"))
    case("stereo", "dual-mono: audiotok --mono", audiotok(*enc, inputs["dual"], "--mono", "-o", o / "dmm"))
    case("cache", "20s: cold cache", audiotok(*enc, inputs["20s"], "--mono", "-o", o / "cold"), cold_env)
    case("cache", "20s: warm cache", audiotok(*enc, inputs["20s"], "--mono", "-o", o / "warm"))
    (o / "loop").mkdir(parents=True, exist_ok=True)
    case("esf", "20s: encodec", f"{encodec_bin} -f {inputs['20s']} {o / 'e20.ecdc'}")
    esf = ["esf", "encode", "--overwrite"]
    case("esf", "20s: audiotok esf", audiotok(*esf, inputs["20s"], "-o", o / "esf20"))
    case("esf", "20s: audiotok esf, cold cache",
         audiotok(*esf, inputs["20s"], "-o", o / "esf20c"), cold_env)  # fmt: skip
    case("esf", "24 clips: encodec loop", loop)
    case("esf", "24 clips: audiotok esf", audiotok(*esf, inputs["clips24"], "-o", o / "esf24"))
    if "decode" in only:
        run(dac_cli("encode", inputs["20s"], o / "dac_dec"), env)
        run(audiotok(*enc, inputs["20s"], "--mono", "-o", o / "at_dec"), env)
        dac_file = next((o / "dac_dec").glob("*.dac"))
        case("decode", "20s: dac decode", dac_cli("decode", dac_file, o / "dac_wav"))
        npq_file = o / "at_dec" / "speech_music_24k_mono.npq"
        run(audiotok("npq", "decode", npq_file, "--out", o / "warm.wav"), env)  # converts the decoder once
        case("decode", "20s: audiotok decode", audiotok("npq", "decode", npq_file, "--out", o / "at.wav"))

    chosen = {k: v for k, v in cases.items() if v[0] in only}
    times: dict[str, list[float]] = {k: [] for k in chosen}
    rss: dict[str, float] = {}
    print(f"threads={threads} rounds={args.rounds} cpus={os.cpu_count()}; full-size models, random weights")
    for r in range(args.rounds):
        for name, (_, make) in chosen.items():
            cmd, case_env = make()
            wall, peak = run(cmd, case_env)
            times[name].append(wall)
            rss[name] = max(rss.get(name, 0.0), peak)
            print(f"  round {r + 1}: {name:34s} {wall:7.2f} s  {peak:6.0f} MiB", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}

    print("\nmedian wall time (s): anchor / audiotok = speed-up, or audiotok cost ratio  (target)")
    rows = [
        ("20s: dac encode", "20s: audiotok --mono", "20 s file vs dac encode", ">= 3"),
        ("clips9: dac encode", "clips9: audiotok --mono", "9 clips vs dac encode", ">= 3"),
        ("clips24: dac encode", "clips24: audiotok --mono", "24 x 3 s clips vs dac encode", ">= 3"),
        ("20s: dac encode", "20s: audiotok --mono eager", "20 s file, eager backend", ""),
        ("clips24: dac encode", "clips24: audiotok --mono eager", "24 x 3 s clips, eager backend", ""),
        ("stereo: audiotok M/S", "stereo: audiotok --mono", "stereo M/S cost / mono", "<= 2.05"),
        ("dual-mono: audiotok M/S", "dual-mono: audiotok --mono", "dual-mono M/S cost / mono", "<= 1.1"),
        ("20s: cold cache", "20s: warm cache", "cold cache cost / warm", "one-time"),
        ("20s: dac encode", "20s: warm cache", "warm 20 s file (start-up incl.) vs dac", ">= 2"),
        ("20s: encodec", "20s: audiotok esf", "esf 20 s file vs encodec", ">= 1"),
        ("20s: audiotok esf, cold cache", "20s: audiotok esf", "esf cold cache cost / warm", "one-time"),
        ("24 clips: encodec loop", "24 clips: audiotok esf", "esf 24 clips vs encodec loop", ">= 3"),
        ("20s: dac decode", "20s: audiotok decode", "decode 20 s vs dac decode", ">= 2"),
    ]
    for a, b, label, target in rows:
        if a in med and b in med:
            ratio = med[a] / med[b]
            shown = f"{ratio:.2f}"  # cost rows: audiotok's own two runs, first over second
            print(f"  {label:40s} {med[a]:7.2f} / {med[b]:7.2f} -> {shown}  ({target})")
    if "20s: audiotok --mono" in med:
        print(f"  audiotok --mono on the 20 s file: {20.0 / med['20s: audiotok --mono']:.2f}x real time "
              "(start-up incl.; target >= 1.3)")  # fmt: skip
    if "20s: dac decode" in rss:
        theirs, ours_rss = rss["20s: dac decode"], rss["20s: audiotok decode"]
        print(f"  decode peak RSS: dac {theirs:.0f} MiB, audiotok {ours_rss:.0f} MiB (target: no higher)")
    if not args.skip_rss:
        rss_case(tmp, env, weights, args.rss_minutes)
    if "tokens" in only:  # last: it loads DAC in this process
        run(audiotok(*enc, inputs["20s"], "--mono", "-o", o / "tok"), env)
        share = token_agreement(o / "tok" / "speech_music_24k_mono.npq", inputs["20s"], weights)
        print(f"  tokens equal to DAC's own model.encode (20 s file): {share:.4%}  (target >= 99.9 %)")
    print(f"\nscratch: {tmp}")


def make_long_stereo(path: Path, minutes: float, sr: int = 44100) -> None:
    rng = np.random.default_rng(0)
    block = sr * 10
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for start in range(0, int(minutes * 60 * sr), block):
            t = (start + np.arange(block)) / sr
            left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(block)
            right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(block)
            f.write(np.stack([left, right], axis=1).astype(np.float32))


def rss_case(tmp: Path, env: dict[str, str], weights: Path, minutes: tuple[float, float]) -> None:
    """Peak RSS: full-size on 30 s of stereo, then the tiny model's growth over ``minutes``."""
    print("\npeak RSS of `npq encode` (Mid/Side) on synthetic 44.1 kHz stereo")
    short = tmp / "short.wav"
    make_long_stereo(short, 0.5)
    tiny_home = tmp / "tiny_home"
    save_in_child(tiny_home / ".cache" / "descript" / "dac" / weights.name, tiny=True)
    tiny_env = {**env, "HOME": str(tiny_home)}
    # every measured run on a warm backend cache: a run that converts the encoder peaks far higher
    # (and a cold short run subtracted from a warm long one gave a negative estimate)
    for e in (env, tiny_env):
        run(audiotok("npq", "encode", short, "-o", tmp / "r_warm", "--overwrite"), e)
    _, full_short = run(audiotok("npq", "encode", short, "-o", tmp / "r0", "--overwrite"), env)
    _, tiny_short = run(audiotok("npq", "encode", short, "-o", tmp / "r1", "--overwrite"), tiny_env)
    tiny = {}
    for m in minutes:
        path = tmp / f"long_{m:g}min.wav"
        make_long_stereo(path, m)
        _, tiny[m] = run(audiotok("npq", "encode", path, "-o", tmp / "r2", "--overwrite"), tiny_env)
        print(f"  tiny model, {m:4g} min: {tiny[m]:.0f} MiB")
        path.unlink()
    lo, hi = minutes
    flat = tiny[hi] / tiny[lo]
    print(f"  full-size, 30 s: {full_short:.0f} MiB; tiny 30 s: {tiny_short:.0f} MiB")
    print(f"  tiny {hi:g} / {lo:g} min: {flat:.3f}x (flat)")
    print(
        f"  estimated full-size peak for {hi:g} min: {full_short + tiny[hi] - tiny_short:.0f} MiB (<= 1536)"
    )


if __name__ == "__main__":
    main()
