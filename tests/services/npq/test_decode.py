"""npq decode service: lengths, channels, L = M + S / R = M - S, model inference, chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.codecs.registry import load_codec
from audiotok.errors import FormatError, UsageError
from audiotok.formats import npq
from audiotok.progress import ProgressEvent
from audiotok.services.npq.decode import DecodeRecord, decode_file, decode_paths, infer_model
from tests._records import collect, failed


def _npq(path: Path, t: int, ks: tuple[int, ...], fps: float = 86.1328125, seed: int = 0) -> Path:
    tokens = np.random.default_rng(seed).integers(0, 1024, size=(t, sum(ks)), dtype=np.uint16)
    vocab = (1024,) * sum(ks)
    header: npq.Npq1Header | npq.Npq2Header
    if len(ks) == 1:
        header = npq.Npq1Header(token_rate=fps, seq_len=t, vocab_sizes=vocab)
    else:
        header = npq.Npq2Header(k_mid=ks[0], k_side=ks[1], token_rate=fps, seq_len=t, vocab_sizes=vocab)
    npq.write(path, tokens, header)
    return path


def test_npq2_decodes_to_stereo_left_right(dac_home: Path, tmp_path: Path) -> None:
    src = _npq(tmp_path / "s.npq", 40, (9, 4))
    codec = load_codec("44khz")
    result = decode_file(src, tmp_path / "s.wav", codec, chunk_seconds=60)
    audio, sr = sf.read(tmp_path / "s.wav", always_2d=True)
    assert (result.channels, result.samples, sr, audio.shape) == (2, 40 * 512, 44100, (40 * 512, 2))
    tokens, _ = npq.read(src)
    codes = torch.from_numpy(tokens.astype(np.int64).T)
    mid = codec.decode(codes[None, :9])[0, 0].numpy()
    side = codec.decode(codes[None, 9:])[0, 0].numpy()
    np.testing.assert_allclose(audio[:, 0], np.clip(mid + side, -1, 1), atol=2 / 32768)
    np.testing.assert_allclose(audio[:, 1], np.clip(mid - side, -1, 1), atol=2 / 32768)


def test_chunked_decode_matches_whole(dac_home: Path, tmp_path: Path) -> None:
    src = _npq(tmp_path / "m.npq", 300, (9,))
    codec = load_codec("44khz")
    decode_file(src, tmp_path / "whole.wav", codec, chunk_seconds=60)
    decode_file(src, tmp_path / "chunk.wav", codec, chunk_seconds=0.5)
    whole, _ = sf.read(tmp_path / "whole.wav")
    chunk, _ = sf.read(tmp_path / "chunk.wav")
    assert whole.shape == chunk.shape == (300 * 512,)
    np.testing.assert_allclose(chunk, whole, atol=2 / 32768)


def test_resampled_output_and_model_inference(dac_home: Path, tmp_path: Path) -> None:
    _npq(tmp_path / "in" / "a.npq", 20, (9,))
    _npq(tmp_path / "in" / "b.npq", 20, (9,), fps=75.0)  # 24khz: not cached -> fails alone
    summary, seen = collect(decode_paths, [str(tmp_path / "in")], outdir=tmp_path / "out", sample_rate=16000)
    failures = failed(seen)
    assert [Path(f.input).name for f in failures] == ["b.npq"]
    assert "weights_24khz_8kbps_0.0.4.pth" in str(failures[0].error)
    [ok] = [r for r in seen if isinstance(r, DecodeRecord)]
    assert (ok.input, ok.output, ok.status) == (
        str(tmp_path / "in" / "a.npq"),
        str(tmp_path / "out" / "a.wav"),
        "written",
    )
    assert (summary.files_written, summary.files_failed, summary.model) == (1, 1, "44khz")
    assert summary.audio_seconds == pytest.approx(20 * 512 / 44100)
    info = sf.info(tmp_path / "out" / "a.wav")
    assert (info.channels, info.samplerate, info.frames) == (1, 16000, -(-20 * 512 * 16000 // 44100))
    header = npq.read_header(tmp_path / "in" / "b.npq")
    assert infer_model(header) == "24khz"
    assert infer_model(npq.read_header(_npq(tmp_path / "k.npq", 2, (12,)))) == "44khz-16kbps"


def test_mismatched_model_and_bad_options(dac_home: Path, tmp_path: Path) -> None:
    src = _npq(tmp_path / "b.npq", 5, (9,), fps=50.0)
    with pytest.raises(FormatError, match="does not match model 44khz"):
        decode_file(src, tmp_path / "b.wav", load_codec("44khz"))
    with pytest.raises(UsageError, match="`out` and `outdir` exclude each other"):
        decode_paths([str(src)], out=tmp_path / "x.wav", outdir=tmp_path)
    _npq(tmp_path / "c.npq", 5, (9,))
    with pytest.raises(UsageError, match="exactly one"):
        decode_paths([str(tmp_path / "*.npq")], out=tmp_path / "x.wav", model="44khz")


def test_progress_seconds_total_is_known_up_front(dac_home: Path, tmp_path: Path) -> None:
    _npq(tmp_path / "in" / "a.npq", 40, (9,))
    _npq(tmp_path / "in" / "b.npq", 100, (9, 4))
    (tmp_path / "in" / "bad.npq").write_bytes(b"NPQ1")
    events: list[ProgressEvent] = []
    summary = decode_paths([str(tmp_path / "in")], outdir=tmp_path / "out", on_progress=events.append)
    assert summary.files_failed == 1
    seconds = [e for e in events if e.task == "seconds"]
    expected = 140 * 512 / 44100
    assert seconds[0].total == pytest.approx(expected) and seconds[0].advance == 0  # before any work
    assert sum(e.advance for e in seconds) == pytest.approx(expected)
    assert [e.total for e in seconds if e.total is not None] == [pytest.approx(expected)]
    assert {e.item for e in seconds[1:]} == {str(tmp_path / "in" / n) for n in ("a.npq", "b.npq")}
