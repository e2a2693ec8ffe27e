"""The cases, inputs, random weights and JSON comparison of ``compare_outputs.py`` (byte identity).

A case is a few ``audiotok`` commands run in the case's own folder (its cwd) of
one workspace. Placeholders in a command: ``{in}`` the shared input folder,
``{set}`` the model set's own inputs (``.dac`` files made by DAC's CLI with
the set's weights). ``../CASE/...`` reads another case's outputs; such a case
runs first (it is added to ``--only`` by itself). Nothing here imports
audiotok: the weights and inputs are the same bytes for both versions.

This file also runs as a script (in a child process, so that the harness never
imports torch): ``python _compare_cases.py weights HOME TORCH_HOME tiny|full``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

#: Where audiotok and the codec libraries look for weights, below ``$HOME`` / ``$TORCH_HOME``.
DAC_FILE = Path(".cache/descript/dac/weights_44khz_8kbps_0.0.1.pth")
ENCODEC_FILES = {"24": Path("hub/checkpoints/encodec_24khz-d7cc33bc.th"),
                 "48": Path("hub/checkpoints/encodec_48khz-7e698e3e.th")}  # fmt: skip
TINY_DAC = {"encoder_dim": 4, "decoder_dim": 64}  # tests/dac_helpers.py's TINY
#: Wall times, left out of the JSON records compared.
WALL_KEYS = frozenset({"wall_s", "wall_seconds", "real_time_factor", "elapsed_s"})
PRODUCER = '''"""Even frames 1, odd frames 0 (times --opt scale=...)."""

import numpy as np

NAME = "parity"


def produce(path, T, options):
    return {"parity": float(options.get("scale", 1)) * (np.arange(T) % 2 == 0)}
'''


@dataclass(frozen=True)
class Step:
    """One ``audiotok`` command: its arguments, how its stdout is compared, its expected exit status.

    ``out``: ``json`` (JSON Lines, compared as objects without wall times), ``text`` (exact), or
    ``ignore`` (human output with timings). ``unordered``: records compared as a sorted list.
    """

    args: str
    out: str = "json"
    rc: int = 0
    unordered: bool = False


@dataclass(frozen=True)
class Case:
    """Steps run in order in the folder ``work/NAME``; ``copy`` (src, dst) pairs are copied there first."""

    name: str
    doc: str
    steps: tuple[Step, ...]
    copy: tuple[tuple[str, str], ...] = ()
    ray: bool = False
    sets: tuple[str, ...] = ("tiny", "full")

    @property
    def needs(self) -> list[str]:
        """The cases whose outputs this one reads (``../CASE/`` in a command or a copy)."""
        text = " ".join([s.args for s in self.steps] + [src for src, _ in self.copy])
        return sorted(set(re.findall(r"\.\./([\w.-]+)/", text)) - {self.name})


def J(args: str, **kw: Any) -> Step:
    """A step with ``--json`` (most are)."""
    return Step(args + " --json", **kw)


def C(name: str, doc: str, *steps: Step, **kw: Any) -> Case:
    return Case(name, doc, steps, **kw)


ENC = "npq encode {in}/clips -r -o out"
RAY = "--engine ray --workers 2 --cpus-per-worker 1"
ADD = (
    "esf add --audio-root ecdc -p const --const scene_id=7 -p lin --lin pos=0:1 "
    "-p from_filename --filename-regex '(?P<name>take)(?P<value>\\d+)' "
    "-p from_audio --audio-dir ../audio-normalize/norm -p parity --producers-dir {in}/producers --opt scale=2"
)
NPQ_OUT, ECDC = "../npq-encode-folder/out", "../esf-sidecars/ecdc"
TINY = ("tiny",)


def build_cases(long_file: bool) -> list[Case]:
    """Every case, in run order (a case only reads cases before it). ``long_file``: the 20 s recording.

    EnCodec is full size in both model sets (the CLI builds the released architecture), so its cases
    run in the tiny set only; so do the DAC cases whose logic does not depend on the model's size.
    """
    long = [Step("npq encode {in}/long/speech_music_24k_mono.wav -o long", out="ignore")] if long_file else []
    return [
        C("warmup", "cold cache: the first DAC encode (converted, checked) and decode",
          J("npq encode {in}/demo.flac -o enc"),
          J("npq decode enc/demo.npq -o dec")),
        C("warmup-esf", "cold cache: EnCodec 24 kHz's entries at 6, 1.5 and 12 kbps",
          J("esf encode {in}/demo.flac -o e6"),
          J("esf encode {in}/demo.flac -o e1 -b 1.5"),
          J("esf encode {in}/demo.flac -o e12 -b 12"), sets=TINY),
        C("npq-encode-default", "README: the demo clip written beside it (NPQ2 9+4), its header; 20 s mono",
          Step("npq encode demo.flac", out="ignore"), J("npq inspect demo.npq"), *long,
          copy=(("{in}/demo.flac", "demo.flac"),)),
        C("npq-encode-folder", "a folder of clips, mirrored tree; --from-list",
          J(ENC), J("npq encode --from-list {in}/list.txt -o listed")),
        C("npq-encode-chunk05", "--chunk-seconds 0.5", J(ENC + " --chunk-seconds 0.5")),
        C("npq-encode-mono4", "--mono --codebooks 4 (NPQ1), inspected with --verify",
          J(ENC + " --mono --codebooks 4"), J("npq inspect out -r --verify"), sets=TINY),
        C("npq-encode-ms83", "NPQ2 8 + 3, inspected with --verify, decoded eagerly",
          J(ENC + " --mid-codebooks 8 --side-codebooks 3"), J("npq inspect out -r --verify"),
          J("npq decode out -r -o wav --backend eager"), sets=TINY),
        C("npq-encode-eager", "--backend eager (auto: OpenVINO)", J(ENC + " --backend eager")),
        C("npq-encode-batch1", "--batch-size 1 (OpenVINO: 8)", J(ENC + " --batch-size 1"), sets=TINY),
        C("npq-encode-resume", "--dry-run, shard 1 of 2, then the rest (resume skips), --overwrite",
          J(ENC + " --dry-run"),
          J(ENC + " --shard-index 1 --shard-count 2"),
          J(ENC),
          J("npq encode {in}/demo.flac -o out --overwrite"), sets=TINY),
        C("npq-encode-ray", "--engine ray, 2 actors", J(f"{ENC} {RAY}", unordered=True), ray=True),
        C("npq-decode", "decode the folder: -o, --sample-rate 48000, --out, --backend eager",
          J(f"npq decode {NPQ_OUT} -r -o wav"),
          J(f"npq decode {NPQ_OUT} -r -o wav48 --sample-rate 48000"),
          Step(f"npq decode {NPQ_OUT}/b/mono22k.npq --out one.wav", out="ignore"),
          Step(f"npq decode {NPQ_OUT}/a/take1.npq --out eager.wav --backend eager", out="ignore")),
        C("npq-inspect", "npq inspect --json, --verify, the table",
          J(f"npq inspect {NPQ_OUT} -r"),
          J(f"npq inspect {NPQ_OUT} -r --verify"),
          Step(f"npq inspect {NPQ_OUT} -r", out="text")),
        C("npq-convert", "DAC CLI .dac files (python -m dac encode) to NPQ1; --channel 1 of a stereo one",
          J("npq convert {set}/dac/mono22k.dac -o out"),
          J("npq convert {set}/dac/demo.dac -o ch1 --channel 1")),
        C("dataset-npq", "dataset build of the NPQ folder (--valid-fraction, --split-map, copies), inspect",
          J(f"dataset build {NPQ_OUT} hf_npq --recursive --valid-fraction 0.5 --seed 0"),
          J("dataset inspect hf_npq"),
          J(f"dataset build {NPQ_OUT} hf_map -r --split-map train=a,valid=b"),
          J(f"dataset build {NPQ_OUT} hf_copy -r --no-embed --materialize copy")),
        C("audio-normalize", "README: audio normalize music norm --recursive; --keep-channels --clip clip",
          J("audio normalize {in}/music norm --recursive"),
          J("audio normalize {in}/music keep -r --sample-rate 0 --keep-channels --clip clip"), sets=TINY),
        C("esf-encode-24k", "EnCodec 24 kHz, default 6 kbps, on the normalised folder",
          J("esf encode ../audio-normalize/norm ecdc --recursive"), sets=TINY),
        C("esf-encode-bandwidth", "--bandwidth 1.5 and 12",
          J("esf encode {in}/esf -o b1 -r --bandwidth 1.5"),
          J("esf encode {in}/esf -o b12 -r --bandwidth 12"), sets=TINY),
        C("esf-encode-chunks", "--chunk-seconds / --context-seconds / --batch-size variants",
          J("esf encode {in}/esf -o c2 -r --chunk-seconds 2 --context-seconds 0.5"),
          J("esf encode {in}/esf -o c1 -r --chunk-seconds 1 --context-seconds 0"),
          J("esf encode {in}/esf -o c3 -r --chunk-seconds 3 --context-seconds 2 --batch-size 2"), sets=TINY),
        C("esf-encode-verify", "--verify, then a resumed run and --list-missing",
          J("esf encode {in}/esf -o out -r --verify --verify-samples 3"),
          J("esf encode {in}/esf -o out -r"),
          Step("esf encode {in}/esf -o out -r --list-missing", out="ignore"), sets=TINY),
        C("esf-encode-eager", "--backend eager (auto: OpenVINO)",
          J("esf encode {in}/esf -o out -r --backend eager"), sets=TINY),
        C("esf-encode-48k", "--model encodec_48khz on stereo input, 6 and 12 kbps",
          J("esf encode {in}/stereo48 -o out -r --model encodec_48khz"),
          J("esf encode {in}/stereo48 -o b12 -r --model encodec_48khz -b 12 --chunk-seconds 2"), sets=TINY),
        C("esf-encode-ray", "--engine ray, 2 actors",
          J(f"esf encode {{in}}/esf -o out -r {RAY}", unordered=True), ray=True, sets=TINY),
        C("esf-sidecars", "README: esf init, add (const, lin, from_filename, from_audio, a plugin), audit",
          J("esf init --audio-root ecdc"),
          J(ADD),
          J("esf audit --audio-root ecdc --require pos,scene_id --verify-ranges"),
          Step("esf audit --audio-root ecdc --export-csv bad.csv --fail-on none --require x", out="ignore"),
          J("esf init --audio-root ecdc --cond-root cond --dtype float32"),
          J("esf add --audio-root ecdc --cond-root cond --dtype float32 -p lin --lin pos=1:0"),
          Step("esf inspect ecdc/a/take1.ecdc", out="text"),
          copy=(("../esf-encode-24k/ecdc", "ecdc"),), sets=TINY),
        C("dataset-ecdc", "dataset build of the ESF folder (--verify; --no-embed: links), inspect",
          J(f"dataset build {ECDC} hf_ds --recursive --verify"),
          J("dataset inspect hf_ds"),
          Step("dataset inspect hf_ds", out="text"),
          J(f"dataset build {ECDC} hf_link -r --no-embed"), sets=TINY),
    ]  # fmt: skip


def _normalise(value: object, tmp: str) -> object:
    """A JSON value without wall-time keys, the temp folder's path replaced by ``<TMP>``."""
    if isinstance(value, dict):
        return {k: _normalise(v, tmp) for k, v in value.items() if k not in WALL_KEYS}
    if isinstance(value, list):
        return [_normalise(v, tmp) for v in value]
    return value.replace(tmp, "<TMP>") if isinstance(value, str) else value


def _first_difference(old: list[Any], new: list[Any]) -> str:
    if len(old) != len(new):
        return f"{len(old)} records vs {len(new)}"
    i, a, b = next((i, a, b) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b)
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k, "<absent>") != b.get(k, "<absent>"))
        return f"record {i}: " + "; ".join(
            f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}" for k in keys
        )
    return f"record {i}: {a!r} -> {b!r}"


def compare_json(old: str, new: str, tmp: str, unordered: bool, allow_new_keys: bool) -> tuple[str, set[str]]:
    """Two steps' JSON Lines stdout: a one-line difference ("" if none) and the keys only ``new`` has.

    Records are compared normalised (:func:`_normalise`), as sorted lists where ``unordered``. With
    ``allow_new_keys``, top-level keys that no old record has are dropped from the new records.
    """
    try:
        a, b = (
            [_normalise(json.loads(x), tmp) for x in text.splitlines() if x.strip()] for text in (old, new)
        )
    except json.JSONDecodeError as exc:
        return f"stdout is not JSON Lines ({exc})", set()
    seen = {k for r in a if isinstance(r, dict) for k in r}
    added = {k for r in b if isinstance(r, dict) for k in r} - seen
    if allow_new_keys:
        b = [{k: v for k, v in r.items() if k not in added} if isinstance(r, dict) else r for r in b]
    if unordered:
        a, b = (sorted(r, key=lambda x: json.dumps(x, sort_keys=True)) for r in (a, b))
    return ("" if a == b else f"JSON differs, {_first_difference(a, b)}"[:400]), added


def _excerpt(src: Path, dest: Path, start: float, seconds: float) -> None:
    info = sf.info(src)
    audio, sr = sf.read(src, start=int(start * info.samplerate), frames=int(seconds * info.samplerate),
                        dtype="float32", always_2d=True)  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dest, audio, sr)


def _synth(dest: Path, seconds: float, sr: int, channels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    cols = [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.05 * rng.standard_normal(t.size)
            for c in range(channels)]  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dest, np.stack(cols, axis=1).astype(np.float32), sr)


def make_inputs(dest: Path, demo: Path, shared: Path | None) -> bool:
    """Write the shared inputs under ``dest``; return whether the 20 s recording is there (``long/``).

    ``demo.flac``; ``music/{a,b}/take1.flac`` (README) and ``music/c/take2.wav``; ``clips/`` (DAC): the
    demo, a 0.7 s stereo and a 3 s 22.05 kHz mono synthetic clip, 4 s excerpts of the real recordings
    and 3 s of the MP3 (kept as MP3); ``esf/`` (EnCodec 24 kHz, about 11 s in all): 4 s of the demo,
    a 0.05 s clip (the PyTorch path of a warm cache), the mono and the MP3 clips; ``stereo48/``
    (EnCodec 48 kHz); ``producers/parity.py`` (an ``esf add`` plugin).
    """
    for rel in ("demo.flac", "music/a/take1.flac", "music/b/take1.flac", "clips/a/take1.flac"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(demo, dest / rel)
    _excerpt(demo, dest / "esf/a/demo_4s.flac", 2.0, 4.0)
    _synth(dest / "clips/short_stereo.wav", 0.7, 44100, 2, seed=1)
    _synth(dest / "clips/b/mono22k.wav", 3.0, 22050, 1, seed=2)
    _synth(dest / "esf/blip_24k.wav", 0.05, 24000, 1, seed=3)
    _synth(dest / "stereo48/synth48.wav", 2.5, 48000, 2, seed=4)
    listed = [
        "# --from-list",
        "clips/a/take1.flac",
        "",
        '{"path": "clips/short_stereo.wav", "n": 1}',
        "music/b/take1.flac",
    ]
    (dest / "list.txt").write_text("\n".join(listed) + "\n")
    (dest / "producers").mkdir()
    (dest / "producers/parity.py").write_text(PRODUCER)
    if shared is None:
        _synth(dest / "music/c/take2.wav", 3.0, 24000, 1, seed=5)
        _synth(dest / "esf/b/mono22k.wav", 3.0, 22050, 1, seed=2)
        return False
    _excerpt(shared / "speech_music_24k_mono.wav", dest / "clips/b/speech_4s.wav", 6.0, 4.0)
    _excerpt(shared / "speech_music_24k_mono.wav", dest / "esf/b/speech_3s.wav", 12.0, 3.0)
    _excerpt(shared / "speech_music_24k_mono.wav", dest / "music/c/take2.wav", 2.0, 3.0)
    _excerpt(shared / "music_48k_stereo.wav", dest / "clips/c/music48_4s.flac", 3.0, 4.0)
    _excerpt(shared / "music_48k_stereo.wav", dest / "stereo48/music48_3s.wav", 8.0, 3.0)
    audio, sr = sf.read(shared / "music_44k_stereo.mp3", frames=3 * 44100, dtype="float32")
    sf.write(dest / "clips/c/song.mp3", audio, sr, format="MP3")
    (dest / "esf/c").mkdir()
    shutil.copyfile(dest / "clips/c/song.mp3", dest / "esf/c/song.mp3")
    (dest / "long").mkdir()
    shutil.copyfile(shared / "speech_music_24k_mono.wav", dest / "long/speech_music_24k_mono.wav")
    return True


def _spread_codebooks(model: Any, seed: int) -> None:
    """EnCodec codebooks from encoded noise (like k-means init; tests/_encodec.py), so codes vary.

    Spread wide enough that OpenVINO's encoder passes audiotok's check at every bandwidth (with half
    this spread, 12 kbps had float near-ties: 99.94 % equal codes, and ran eagerly).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = torch.randn(1, model.channels, 4 * model.sample_rate, generator=gen) * 0.1
        res = model.encoder(x)[0].T  # [T, D]
        for layer in model.quantizer.vq.layers:
            book = layer._codebook
            idx = torch.randint(0, res.shape[0], (book.embed.shape[0],), generator=gen)
            book.embed.copy_(res[idx] + torch.randn(book.embed.shape, generator=gen) * res.std())
            book.inited.fill_(1)
            res = res - book.embed[book.encode(res)]


def make_weights(home: Path, torch_home: Path, tiny: bool) -> None:
    """Seeded random DAC 44.1 kHz (tiny or full size; DAC's own ``save()``) and EnCodec 24/48 kHz (full
    size: audiotok's CLI builds the released architecture) where the libraries look for them."""
    import warnings

    import dac
    import torch
    from encodec.model import EncodecModel

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dac.DAC(**(TINY_DAC if tiny else {}))
    (home / DAC_FILE).parent.mkdir(parents=True, exist_ok=True)
    model.save(str(home / DAC_FILE), package=False)
    for seed, (key, rel) in enumerate(ENCODEC_FILES.items()):
        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            codec = getattr(EncodecModel, f"encodec_model_{key}khz")(pretrained=False)
        _spread_codebooks(codec, seed)
        (torch_home / rel).parent.mkdir(parents=True, exist_ok=True)
        torch.save(codec.state_dict(), torch_home / rel)


if __name__ == "__main__":
    if sys.argv[1:2] == ["weights"]:
        make_weights(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "tiny")
