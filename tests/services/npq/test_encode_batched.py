"""npq encode across files: batched == single-file == whole-file tokens (real clips), isolation, dual mono."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.codecs.dac.cached import CachedDacCodec
from audiotok.codecs.dac.model import DacCodec
from audiotok.codecs.registry import load_codec
from audiotok.formats import npq
from audiotok.services.npq.encode import EncodeOptions, encode_file, encode_paths
from audiotok.services.runner import STRICT_ENV
from tests._records import collect, failed


class Calls:
    """Every ``DacCodec.encode`` call's batch rows and samples per row."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self.shapes)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    seen = Calls()
    original = DacCodec.encode
    cached = CachedDacCodec.encode_array  # what the batch runner calls once the encoder is cached

    def encode(self: DacCodec, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        seen.shapes.append((audio.shape[0], audio.shape[-1]))
        return original(self, audio, n_codebooks)

    def encode_array(self: CachedDacCodec, audio: np.ndarray, n_codebooks: int) -> np.ndarray:
        seen.shapes.append((audio.shape[0], audio.shape[-1]))
        return cached(self, audio, n_codebooks)

    monkeypatch.setattr(DacCodec, "encode", encode)
    monkeypatch.setattr(CachedDacCodec, "encode_array", encode_array)
    return seen


def _cut(src: Path, dst: Path, start_s: float, seconds: float, *, dual_mono: bool = False) -> Path:
    data, sr = sf.read(src, dtype="float32", always_2d=True)
    clip = data[int(start_s * sr) : int(start_s * sr) + int(seconds * sr)]
    if dual_mono:
        clip = np.repeat(clip[:, :1], 2, axis=1)  # L == R everywhere
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, clip, sr, subtype="FLOAT")
    return dst


def _clips(shared: Path, root: Path) -> list[Path]:
    """Real clips: four of one length (c: 24 kHz mono, resampled to that length), two others, one long."""
    stereo, mono = shared / "music_48k_stereo.wav", shared / "speech_music_24k_mono.wav"
    return [
        _cut(stereo, root / "a.wav", 0.0, 1.5),
        _cut(stereo, root / "b.wav", 2.0, 1.5),
        _cut(mono, root / "c.wav", 1.0, 1.5),
        _cut(stereo, root / "d.wav", 4.0, 1.2),
        _cut(stereo, root / "e.wav", 6.0, 1.5),
        _cut(
            stereo, root / "sub" / "f.wav", 5.5, 4.3
        ),  # several windows, interior ones batch with each other
        _cut(stereo, root / "g.wav", 9.0, 0.7),
    ]


def _tokens(outdir: Path, clips: list[Path], root: Path) -> dict[str, np.ndarray]:
    return {c.name: npq.read(outdir / c.relative_to(root).with_suffix(".npq"))[0] for c in clips}


def test_batched_equals_single_file_equals_whole_file_on_real_clips(
    dac_home: Path, shared_audio: Path, tmp_path: Path, calls: Calls
) -> None:
    root = tmp_path / "in"
    clips = _clips(shared_audio, root)
    opts = EncodeOptions(chunk_seconds=1.0, batch_size=1)  # not the default: 8 on OpenVINO
    single, in_order = collect(encode_paths, [str(root)], outdir=tmp_path / "one", recursive=True, opts=opts)
    one_call_per_window = len(calls.shapes)
    calls.shapes.clear()
    four = opts.model_copy(update={"batch_size": 4})
    summary, records = collect(encode_paths, [str(root)], outdir=tmp_path / "four", recursive=True, opts=four)
    assert single.files_written == summary.files_written == 7 and not failed(records)
    assert [r.input for r in records] == [r.input for r in in_order]  # plan order
    assert len(calls.shapes) < one_call_per_window
    widest = max(calls.shapes)
    assert widest[0] >= 6  # clips a, b, e (2 rows each) and c (1 row) share a call
    batched, alone = _tokens(tmp_path / "four", clips, root), _tokens(tmp_path / "one", clips, root)
    codec = load_codec("44khz")
    for clip in clips:
        whole = encode_file(
            clip, tmp_path / "whole" / f"{clip.stem}.npq", codec, EncodeOptions(chunk_seconds=60)
        )
        tokens, _ = npq.read(whole.output)
        np.testing.assert_array_equal(batched[clip.name], alone[clip.name], err_msg=clip.name)
        np.testing.assert_array_equal(batched[clip.name], tokens, err_msg=clip.name)


def test_a_bad_file_in_a_batch_fails_alone(
    dac_home: Path, tmp_path: Path, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "in"
    rng = np.random.default_rng(0)
    good = {n: (0.1 * rng.standard_normal((22050, 2))).astype(np.float32) for n in ("a", "c", "e")}
    root.mkdir()
    for name, x in good.items():
        sf.write(root / f"{name}.wav", x, 44100, subtype="FLOAT")
    nan = good["a"].copy()
    nan[20000, 0] = np.nan  # found while decoding, after its first block
    sf.write(root / "b.wav", nan, 44100, subtype="FLOAT")
    sf.write(
        root / "d.wav", np.full((22050, 2), 0.25, np.float32), 44100, subtype="FLOAT"
    )  # the encoder refuses
    original, cached = DacCodec.encode, CachedDacCodec.encode_array

    def refusing(self: DacCodec, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        if bool((audio == 0.25).flatten(1).all(dim=1).any()):
            raise RuntimeError("CUDA out of memory (a test)")
        return original(self, audio, n_codebooks)

    def refusing_array(self: CachedDacCodec, audio: np.ndarray, n_codebooks: int) -> np.ndarray:
        if bool((audio == 0.25).reshape(len(audio), -1).all(axis=1).any()):
            raise RuntimeError("CUDA out of memory (a test)")
        return cached(self, audio, n_codebooks)

    monkeypatch.setattr(DacCodec, "encode", refusing)
    monkeypatch.setattr(CachedDacCodec, "encode_array", refusing_array)
    monkeypatch.setenv(STRICT_ENV, "0")  # a RuntimeError becomes a failed file, as in production
    written: list[Path] = []
    write = npq.write

    def write_but_e(path: Path, *args: object, **kwargs: object) -> None:
        if Path(path).name == "e.npq":
            raise OSError(28, "No space left on device")
        write(path, *args, **kwargs)  # type: ignore[arg-type]
        written.append(Path(path))

    monkeypatch.setattr(npq, "write", write_but_e)
    opts = EncodeOptions(chunk_seconds=60, batch_size=8)
    summary, records = collect(encode_paths, [str(root)], outdir=tmp_path / "out", opts=opts)
    assert [Path(r.input).stem for r in records] == ["a", "b", "c", "d", "e"]
    reasons = {Path(r.input).stem: r.error for r in failed(records)}
    assert reasons == {
        "b": "audio holds NaN or infinite samples",
        "d": "RuntimeError: CUDA out of memory (a test)",
        "e": "OSError: [Errno 28] No space left on device",
    }
    assert sorted(p.name for p in written) == ["a.npq", "c.npq"] and summary.files_written == 2
    monkeypatch.setattr(DacCodec, "encode", original)
    for name in ("a", "c"):
        alone = encode_file(root / f"{name}.wav", tmp_path / f"{name}.npq", load_codec("44khz"), opts)
        np.testing.assert_array_equal(
            npq.read(tmp_path / "out" / f"{name}.npq")[0], npq.read(alone.output)[0]
        )


def _rows(run: Callable[[], object], calls: Calls) -> int:
    calls.shapes.clear()
    run()
    return calls.rows


def test_dual_mono_stereo_costs_about_mono(
    dac_home: Path, shared_audio: Path, tmp_path: Path, calls: Calls
) -> None:
    clip = _cut(
        shared_audio / "music_48k_stereo.wav", tmp_path / "in" / "dual.wav", 0.0, 12.0, dual_mono=True
    )
    opts = EncodeOptions(chunk_seconds=0.25)
    stereo = _rows(lambda: encode_paths([str(clip)], outdir=tmp_path / "ms", opts=opts), calls)
    as_mono = opts.model_copy(update={"mono": True})
    mono = _rows(lambda: encode_paths([str(clip)], outdir=tmp_path / "m", opts=as_mono), calls)
    assert mono == 47  # one row per window: ceil(1034 frames / 22)
    # Side: one zero window per distinct window length (first, interior, the last two), not one per window
    assert stereo <= mono + 4 and stereo <= 1.1 * mono
    ms, header = npq.read(tmp_path / "ms" / "dual.npq")
    assert isinstance(header, npq.Npq2Header)
    np.testing.assert_array_equal(ms[:, :9], npq.read(tmp_path / "m" / "dual.npq")[0])  # Mid = L = mono
