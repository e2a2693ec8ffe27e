"""Tests for audiotok.services.esf.encode (tiny random EnCodec)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok import audio
from audiotok.audio.stream import FileSource, ResampledSource
from audiotok.codecs import stream
from audiotok.codecs.encodec.model import EncodecCodec
from audiotok.errors import InputError, UsageError
from audiotok.formats import ecdc
from audiotok.progress import ProgressEvent
from audiotok.services.esf import encode as esf_encode
from audiotok.sinks.ecdc import EcdcEncodeRecord
from tests._encodec import in_memory, install
from tests._records import collect, failed, records_of


def _wav(path: Path, seconds: float, sr: int = 24000, channels: int = 1, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(path, (rng.standard_normal((int(seconds * sr), channels)) * 0.1).astype(np.float32), sr)
    return path


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> esf_encode.ModelLoader:
    install(monkeypatch, tmp_path / "torch")
    return esf_encode.ModelLoader("encodec_24khz", bandwidth=6.0)


def test_batch_resume_dry_run_and_failures(tmp_path: Path, loader: esf_encode.ModelLoader) -> None:
    src = tmp_path / "in"
    _wav(src / "a.wav", 0.5)
    _wav(src / "sub" / "b.wav", 1.0, sr=16000, seed=1)
    (src / "sub" / "bad.wav").write_bytes(b"not audio")
    out = tmp_path / "out"
    planned = records_of(
        esf_encode.encode_paths, [src], outdir=out, load=loader, recursive=True, dry_run=True
    )
    assert loader.model is None
    # a dry run probes the audio, so an unreadable file fails there already (as in npq encode)
    assert sorted(r.status for r in planned) == ["failed", "planned", "planned"]
    summary, results = collect(esf_encode.encode_paths, [src], outdir=out, load=loader, recursive=True)
    fails = failed(results)
    ok = [r for r in results if isinstance(r, EcdcEncodeRecord)]
    assert len(fails) == 1 and "bad.wav" in fails[0].input
    assert (summary.files_written, summary.files_failed, summary.model) == (2, 1, "encodec_24khz")
    assert summary.audio_seconds == pytest.approx(1.5)
    assert {Path(str(r.output)).relative_to(out).as_posix(): r.n_frames for r in ok} == {
        "a.ecdc": 38,
        "sub/b.ecdc": 75,
    }
    codes, meta = ecdc.read(out / "a.ecdc")
    assert codes.shape == (38, 8) and meta.model == "encodec_24khz" and meta.audio_length == 12000
    again = records_of(esf_encode.encode_paths, [src / "a.wav"], outdir=out, load=loader)
    assert [r.status for r in again] == ["skipped"]
    report = esf_encode.list_missing([src], outdir=out, recursive=True)
    assert [Path(p).name for p in report.missing] == ["bad.wav"] and report.orphans == []
    (out / "gone.ecdc").write_bytes((out / "a.ecdc").read_bytes())
    assert [Path(p).name for p in esf_encode.list_missing([src], outdir=out, recursive=True).orphans] == [
        "gone.ecdc"
    ]
    checks = list(esf_encode.verify_outputs([str(r.output) for r in ok], loader.model, samples=None))
    assert [c.ok for c in checks] == [True, True]


def test_progress_seconds_total_is_known_up_front(tmp_path: Path, loader: esf_encode.ModelLoader) -> None:
    src = tmp_path / "in"
    _wav(src / "a.wav", 0.5)
    _wav(src / "b.wav", 2.5, sr=16000, seed=1)
    _wav(src / "c.wav", 1.0, seed=2)
    out = tmp_path / "out"
    list(esf_encode.encode_paths([src / "c.wav"], outdir=out, load=loader))  # c is skipped below
    events: list[ProgressEvent] = []
    results = records_of(
        esf_encode.encode_paths, [src], outdir=out, load=loader, chunk_s=1.0, on_progress=events.append
    )
    assert sorted(r.status for r in results) == ["skipped", "written", "written"]
    seconds = [e for e in events if e.task == "seconds"]
    # c's valid output is found while planning: skipped, never part of the total
    assert seconds[0].total == pytest.approx(3.0) and seconds[0].advance == 0  # before any work
    assert len([e for e in seconds if e.advance > 0]) >= 4  # per chunk (b has 3), not per file
    assert [e.total for e in seconds if e.total is not None] == [pytest.approx(3.0)]
    assert sum(e.advance for e in seconds) == pytest.approx(3.0)


def test_same_stem_collision_is_refused_before_any_work(
    tmp_path: Path, loader: esf_encode.ModelLoader
) -> None:
    _wav(tmp_path / "in" / "a.wav", 0.2)
    _wav(tmp_path / "in" / "a.flac", 0.2)
    with pytest.raises(UsageError) as info:
        esf_encode.encode_paths([tmp_path / "in"], outdir=tmp_path / "out", load=loader)
    assert str(tmp_path / "in" / "a.flac") in str(info.value) and str(tmp_path / "in" / "a.wav") in str(
        info.value
    )
    assert loader.model is None and not (tmp_path / "out").exists()


def test_model_option_takes_a_name_or_a_state_dict(tmp_path: Path) -> None:
    named = esf_encode.ModelLoader.from_option("encodec_48khz", bandwidth=3.0)
    assert (named.name, named.path, named.label) == ("encodec_48khz", None, "encodec_48khz")
    legacy = esf_encode.ModelLoader.from_option(None, architecture="encodec_48khz")  # --codec alone
    assert (legacy.name, legacy.path) == ("encodec_48khz", None)
    state = esf_encode.ModelLoader.from_option(str(tmp_path / "w.th"), architecture="encodec_48khz")
    assert (state.name, state.path, state.label) == (
        "encodec_48khz",
        tmp_path / "w.th",
        str(tmp_path / "w.th"),
    )
    assert esf_encode.ModelLoader.from_option(None).name == "encodec_24khz"
    with pytest.raises(UsageError, match="contradict") as info:
        esf_encode.ModelLoader.from_option("encodec_24khz", architecture="encodec_48khz")
    assert info.value.params == ("model", "architecture")


def _whole(model: EncodecCodec, x: torch.Tensor) -> np.ndarray:
    """Codes of a whole-file encode (one window) of audio ``x`` held in memory."""
    return stream.encode_source(in_memory(x, model.sample_rate), model, (8,))


def test_file_encode_matches_in_memory(tmp_path: Path, loader: esf_encode.ModelLoader) -> None:
    wav = _wav(tmp_path / "x.wav", 2.5, sr=44100)
    model = loader()
    meta = esf_encode.encode_file(wav, tmp_path / "x.ecdc", model, chunk_s=1.0, context_s=0.5, batch_size=2)
    codes, _ = ecdc.read(tmp_path / "x.ecdc")
    whole = _whole(model, audio.load(wav, sample_rate=24000, mode="mono"))
    assert meta.n_frames == whole.shape[0] == -(-(110250 * 24000 // 44100) // 320)
    assert (codes == whole).all(axis=1).mean() >= 0.9


def test_streamed_window_equals_whole_resample(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "x.wav", 1.0, sr=44100, channels=2)
    whole = audio.load(wav, sample_rate=24000, mode="mono")
    with FileSource(wav, "mono") as file:
        source = ResampledSource(file, 24000)
        part = source.read(6000, 12000)
        assert part.shape == (1, 6000)
        torch.testing.assert_close(torch.from_numpy(part), whole[:, 6000:12000], atol=1e-4, rtol=0)
        tail = source.read(23000, 25000)
        assert tail.shape == (1, 1000)  # the file ends at 24000 samples


def test_48k_stereo_scale_and_channels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path / "torch", "encodec_48khz")
    model = esf_encode.ModelLoader("encodec-48khz", bandwidth=6.0)()
    stereo = _wav(tmp_path / "s.wav", 1.2, sr=44100, channels=2)
    meta = esf_encode.encode_file(stereo, tmp_path / "s.ecdc", model, chunk_s=1.0, context_s=0.25)
    assert (meta.model, meta.fps, meta.n_codebooks, meta.n_frames) == ("encodec_48khz", 150.0, 4, 180)
    x = audio.load(stereo, sample_rate=48000)
    scale = float(np.sqrt(np.mean(np.square(audio.read(stereo).mean(axis=0, dtype=np.float64))))) + 1e-8
    whole = stream.encode_source(in_memory(x / scale, 48000), model, (4,))  # the same scale, one window
    codes, _ = ecdc.read(tmp_path / "s.ecdc")
    assert codes.shape == whole.shape and (codes == whole).all(axis=1).mean() >= 0.9
    mono = _wav(tmp_path / "m.wav", 0.5, sr=48000, channels=1)
    assert esf_encode.encode_file(mono, tmp_path / "m.ecdc", model).n_frames == 75  # duplicated to 2 channels
    three = _wav(tmp_path / "t.wav", 0.2, channels=3)
    with pytest.raises(InputError, match="takes 1 or 2 channels, file has 3"):
        esf_encode.encode_file(three, tmp_path / "t.ecdc", model)
    with pytest.raises(UsageError, match="'44khz' is a DAC model, not an EnCodec model"):
        esf_encode.ModelLoader("44khz")()
    with pytest.raises(UsageError, match="offers bandwidths"):
        esf_encode.ModelLoader("encodec_48khz", bandwidth=1.5)()


def test_verify_flags_bad_outputs(tmp_path: Path) -> None:
    meta = ecdc.EcdcMeta(n_codebooks=8, n_frames=0, model="encodec_24khz", bandwidth=6.0, audio_length=3200)
    ecdc.write(tmp_path / "short.ecdc", np.zeros((3, 8), np.int64), meta)
    ecdc.write(tmp_path / "cb.ecdc", np.zeros((10, 4), np.int64), meta)
    (tmp_path / "junk.ecdc").write_bytes(b"junk")
    got = {
        Path(v.path).name: v
        for v in esf_encode.verify_outputs([str(p) for p in sorted(tmp_path.iterdir())], None)
    }
    assert not got["short.ecdc"].ok and "expected 10" in got["short.ecdc"].detail
    assert not got["cb.ecdc"].ok and "codebooks" in got["cb.ecdc"].detail
    assert not got["junk.ecdc"].ok


@pytest.mark.slow
def test_full_size_24k_on_shared_audio(
    shared_audio: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(monkeypatch, tmp_path / "torch", tiny=False)
    loader = esf_encode.ModelLoader("encodec_24khz", bandwidth=6.0)
    src = shared_audio / "speech_music_24k_mono.wav"
    meta = esf_encode.encode_file(
        src, tmp_path / "s.ecdc", loader(), chunk_s=5.0, context_s=1.0, batch_size=4
    )
    assert (meta.n_frames, meta.n_codebooks) == (1500, 8)
    codes, _ = ecdc.read(tmp_path / "s.ecdc")
    whole = _whole(loader(), audio.load(src, sample_rate=24000, mode="mono"))
    assert (codes == whole).all(axis=1).mean() >= 0.95
