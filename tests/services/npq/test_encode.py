"""npq encode service: NPQ2 Mid/Side, NPQ1 mono, resume, mirroring, failures, shards (tiny DAC)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotok import audio
from audiotok.codecs.registry import load_codec
from audiotok.errors import UsageError
from audiotok.formats import npq
from audiotok.progress import ProgressEvent
from audiotok.services.npq.encode import EncodeOptions, encode_file, encode_paths
from audiotok.services.npq.inspect import inspect_file
from tests._records import collect, failed
from tests.dac_helpers import write_audio


def test_stereo_becomes_npq2_mid_side(dac_home: Path, tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "in" / "song.wav", 1.0, sr=48000)
    summary = encode_paths([str(tmp_path / "in")], outdir=tmp_path / "out")
    assert (summary.files_ok, summary.files_failed) == (1, 0)
    out = tmp_path / "out" / "song.npq"
    tokens, header = npq.read(out)
    assert isinstance(header, npq.Npq2Header)
    assert (header.k_mid, header.k_side) == (9, 4)
    assert header.token_rate == 86.1328125
    assert header.seq_len == math.ceil(44100 / 512)  # 1 s at 44.1 kHz
    assert header.orig_bitrate_kbps == pytest.approx(wav.stat().st_size * 8 / 1000, rel=1e-6)
    assert inspect_file(out, verify=True).verified
    assert summary.weights_sha256 and len(summary.weights_sha256) == 64
    # Mid and Side columns are the codes of (L + R) / 2 and (L - R) / 2
    codec = load_codec("44khz")
    ms = audio.load(wav, sample_rate=44100, mode="mid-side")
    codes = codec.encode(ms[:, None], 9).numpy()
    np.testing.assert_array_equal(tokens[:, :9], codes[0].T)
    np.testing.assert_array_equal(tokens[:, 9:], codes[1, :4].T)


def test_mono_input_and_mono_option_give_npq1(dac_home: Path, tmp_path: Path) -> None:
    mono = write_audio(tmp_path / "mono.wav", 0.5, channels=1)
    stereo = write_audio(tmp_path / "stereo.flac", 0.5)
    codec = load_codec("44khz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a mono input is expected: no warning (counted in the summary)
        first = encode_file(mono, tmp_path / "a.npq", codec, EncodeOptions(codebooks=5))
    second = encode_file(stereo, tmp_path / "b.npq", codec, EncodeOptions(mono=True, codebooks=9))
    assert (first.format, first.n_codebooks, second.format, second.n_codebooks) == ("NPQ1", 5, "NPQ1", 9)
    tokens, _ = npq.read(tmp_path / "b.npq")
    mix = audio.load(stereo, sample_rate=44100, mode="mono")
    np.testing.assert_array_equal(tokens, codec.encode(mix[None], 9)[0].numpy().T)


def test_mono_inputs_are_counted_in_the_summary_not_warned(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "m1.wav", 0.2, channels=1)
    write_audio(tmp_path / "in" / "m2.wav", 0.2, channels=1, seed=1)
    write_audio(tmp_path / "in" / "s.wav", 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = encode_paths([str(tmp_path / "in")], outdir=tmp_path / "out")
        again = encode_paths([str(tmp_path / "in")], outdir=tmp_path / "out")  # skipped, still mono
        mixed = encode_paths([str(tmp_path / "in")], outdir=tmp_path / "mix", opts=EncodeOptions(mono=True))
    assert (summary.files_ok, summary.files_mono) == (3, 2)
    assert (again.files_skipped, again.files_mono) == (3, 2)
    assert (mixed.files_ok, mixed.files_mono) == (3, 0)  # --mono asked for it: nothing to count
    assert summary.model_dump()["files_mono"] == 2  # in the --json summary record
    assert (summary.files_written, summary.audio_seconds) == (3, pytest.approx(0.6))


def _seconds(events: list[ProgressEvent]) -> tuple[list[float], float]:
    """The totals sent for ``seconds``, in order, and the sum of its advances."""
    totals = [e.total for e in events if e.task == "seconds" and e.total is not None]
    return totals, sum(e.advance for e in events if e.task == "seconds")


def test_progress_seconds_total_is_known_up_front(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "a.wav", 0.5, sr=48000, channels=1)
    write_audio(tmp_path / "in" / "b.flac", 1.25, sr=44100)
    write_audio(tmp_path / "in" / "c.wav", 0.75, sr=16000)
    events: list[ProgressEvent] = []
    summary = encode_paths(
        [str(tmp_path / "in")],
        outdir=tmp_path / "out",
        opts=EncodeOptions(chunk_seconds=0.25),
        on_progress=events.append,
    )
    assert summary.files_ok == 3
    seconds = [e for e in events if e.task == "seconds"]
    assert seconds[0].total == pytest.approx(2.5) and seconds[0].advance == 0  # before any work
    assert len([e for e in seconds if e.advance > 0]) > 3  # per chunk, not per file
    assert all(e.item for e in seconds[1:])
    totals, advanced = _seconds(events)
    assert totals == [pytest.approx(2.5)] and advanced == pytest.approx(2.5)
    files = [e for e in events if e.task == "files"]
    assert files[0].total == 3 and sum(e.advance for e in files) == 3


def test_progress_skipped_and_failed_files_leave_the_total(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "a.wav", 0.5)
    write_audio(tmp_path / "in" / "b.wav", 1.0, seed=1)
    write_audio(tmp_path / "in" / "c.wav", 0.25, channels=3)  # fails: 3 channels
    (tmp_path / "in" / "d.wav").write_bytes(b"RIFF\x00\x00")  # fails: unreadable, duration unknown
    encode_paths([str(tmp_path / "in" / "a.wav")], outdir=tmp_path / "out")
    events: list[ProgressEvent] = []
    summary = encode_paths([str(tmp_path / "in")], outdir=tmp_path / "out", on_progress=events.append)
    assert (summary.files_ok, summary.files_skipped, summary.files_failed) == (1, 1, 2)
    totals, advanced = _seconds(events)
    assert totals[0] == pytest.approx(1.75)  # a + b + c; d cannot be probed
    assert totals[-1] == pytest.approx(1.0) and advanced == pytest.approx(1.0)  # only b was encoded


def test_chunked_equals_whole_file(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "long.wav", 4.0, sr=48000)
    whole = encode_paths(
        [str(tmp_path / "long.wav")], outdir=tmp_path / "w", opts=EncodeOptions(chunk_seconds=60)
    )
    chunked = encode_paths(
        [str(tmp_path / "long.wav")],
        outdir=tmp_path / "c",
        opts=EncodeOptions(chunk_seconds=0.5, batch_size=3),
    )
    assert whole.files_ok == chunked.files_ok == 1
    a, _ = npq.read(tmp_path / "w" / "long.npq")
    b, _ = npq.read(tmp_path / "c" / "long.npq")
    np.testing.assert_array_equal(a, b)


def test_resume_skips_valid_outputs_and_overwrite_reencodes(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "a.wav", 0.3)
    write_audio(tmp_path / "in" / "b.wav", 0.3, seed=1)
    out = tmp_path / "out"
    assert encode_paths([str(tmp_path / "in")], outdir=out).files_ok == 2
    (out / "b.npq").write_bytes(b"NPQ1 broken")  # an invalid leftover is re-encoded
    again = encode_paths([str(tmp_path / "in")], outdir=out)
    assert (again.files_ok, again.files_skipped) == (1, 1)
    assert npq.read_header(out / "b.npq").format == "NPQ2"
    other_k = encode_paths([str(tmp_path / "in")], outdir=out, opts=EncodeOptions(side_codebooks=2))
    assert other_k.files_ok == 2  # other settings do not validate
    forced = encode_paths(
        [str(tmp_path / "in")], outdir=out, opts=EncodeOptions(side_codebooks=2, overwrite=True)
    )
    assert (forced.files_ok, forced.files_skipped) == (2, 0)


def test_mirrored_outdir_and_failure_isolation(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "x" / "take1.wav", 0.3)
    write_audio(tmp_path / "in" / "y" / "take1.wav", 0.3, seed=2)
    write_audio(tmp_path / "in" / "z" / "surround.wav", 0.3, channels=3)
    (tmp_path / "in" / "z" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    summary, seen = collect(encode_paths, [str(tmp_path / "in" / "**" / "*.wav")], outdir=tmp_path / "out")
    assert (summary.files_ok, summary.files_failed) == (2, 2)
    assert (tmp_path / "out" / "x" / "take1.npq").is_file()
    assert (tmp_path / "out" / "y" / "take1.npq").is_file()
    reasons = {Path(f.input).name: f.error for f in failed(seen)}
    assert "use `mono`" in str(reasons["surround.wav"])
    assert "cannot decode" in str(reasons["broken.wav"])
    assert len(seen) == 4
    assert {r.output for r in failed(seen)} == {
        str(tmp_path / "out" / "z" / n) for n in ("surround.npq", "broken.npq")
    }


def test_same_stem_collision_is_refused_before_any_work(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "a.flac", 0.3)
    write_audio(tmp_path / "in" / "a.wav", 0.3)
    with pytest.raises(UsageError) as info:
        encode_paths([str(tmp_path / "in")], outdir=tmp_path / "out")
    assert str(tmp_path / "in" / "a.flac") in str(info.value) and str(tmp_path / "in" / "a.wav") in str(
        info.value
    )
    assert not (tmp_path / "out").exists()


def test_shards_partition_and_dry_run_writes_nothing(dac_home: Path, tmp_path: Path) -> None:
    for i in range(6):
        write_audio(tmp_path / "in" / f"f{i}.wav", 0.1, seed=i)
    out = tmp_path / "out"
    counts = [
        encode_paths([str(tmp_path / "in")], outdir=out, shard=(i, 3), dry_run=True).files_ok
        for i in range(3)
    ]
    assert sum(counts) == 6
    assert not out.exists()


def test_too_many_codebooks_is_usage_error(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", 0.1)
    with pytest.raises(UsageError, match="`mid_codebooks` 12") as info:
        encode_paths([str(tmp_path / "a.wav")], outdir=tmp_path, opts=EncodeOptions(mid_codebooks=12))
    assert info.value.param == "mid_codebooks"


def test_runs_on_a_requested_device(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", 0.2)
    summary = encode_paths([str(tmp_path / "a.wav")], outdir=tmp_path / "o", device=torch.device("cpu"))
    assert summary.files_ok == 1


def test_empty_and_non_finite_audio_fail_with_reasons(dac_home: Path, tmp_path: Path) -> None:
    import soundfile as sf

    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "empty.wav", np.zeros((0, 2), dtype=np.float32), 44100)
    bad = np.full((4410, 2), 0.1, dtype=np.float32)
    bad[100, 1] = np.nan
    sf.write(tmp_path / "in" / "nan.wav", bad, 44100, subtype="FLOAT")
    _, records = collect(encode_paths, [str(tmp_path / "in")], outdir=tmp_path / "out")
    reasons = {Path(f.input).name: f.error for f in failed(records)}
    assert reasons == {"empty.wav": "audio has zero length", "nan.wav": "audio holds NaN or infinite samples"}
    assert not (tmp_path / "out" / "nan.npq").exists()
