"""CLI: npq encode / npq decode (service monkeypatched where cli/npq.py imports it, plus one real run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audiotok.cli import npq as npq_cli
from audiotok.cli.app import app
from audiotok.records import FileRecord
from audiotok.services.npq.encode import EncodeSummary
from tests.dac_helpers import write_audio

runner = CliRunner()


def _summary(failed: int = 0) -> EncodeSummary:
    return EncodeSummary(
        files_written=1,
        files_failed=failed,
        audio_seconds=1800.0,
        wall_seconds=60.0,
        real_time_factor=30.0,
        model="44khz",
        weights_sha256="ab" * 32,
    )


def test_encode_passes_options_and_prints_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}

    def fake(inputs: list[str], **kwargs: Any) -> EncodeSummary:
        calls.update(kwargs, inputs=inputs)
        return _summary()

    monkeypatch.setattr(npq_cli.npq_encode, "encode_paths", fake)
    result = runner.invoke(
        app,
        [
            "npq",
            "encode",
            "music/**/*.mp3",
            "--outdir",
            "o",
            "--side-codebooks",
            "3",
            "--chunk-seconds",
            "2",
            "--shard-index",
            "1",
            "--shard-count",
            "4",
            "--device",
            "cpu",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert calls["inputs"] == ["music/**/*.mp3"]
    assert calls["opts"].side_codebooks == 3 and calls["opts"].chunk_seconds == 2.0
    assert calls["shard"] == (1, 4) and calls["outdir"] == Path("o")
    assert "1 ok, 0 skipped, 0 failed" in result.stdout
    assert "30.00x real time" in result.stdout


def test_encode_counts_mono_inputs_in_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        npq_cli.npq_encode,
        "encode_paths",
        lambda inputs, **kwargs: _summary().model_copy(update={"files_written": 3, "files_mono": 2}),
    )
    text = runner.invoke(app, ["npq", "encode", "x"])
    assert text.exit_code == 0 and text.stderr == ""
    assert text.stdout.startswith("3 ok, 0 skipped, 0 failed; 2 mono → NPQ1; 0.500 h of audio")
    assert len(text.stdout.splitlines()) == 1  # one line, however narrow the terminal
    assert json.loads(runner.invoke(app, ["npq", "encode", "x", "--json"]).stdout)["files_mono"] == 2
    monkeypatch.setattr(npq_cli.npq_encode, "encode_paths", lambda inputs, **kwargs: _summary())
    assert "mono" not in runner.invoke(app, ["npq", "encode", "x"]).stdout  # none: nothing said


def test_encode_failure_exits_1_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(inputs: list[str], on_record: Any, **kwargs: Any) -> EncodeSummary:
        on_record(FileRecord(input="bad.wav", output="bad.npq", status="failed", error="cannot decode audio"))
        return _summary(failed=1)

    monkeypatch.setattr(npq_cli.npq_encode, "encode_paths", fake)
    result = runner.invoke(app, ["npq", "encode", "x", "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {
        "input": "bad.wav",
        "output": "bad.npq",
        "status": "failed",
        "error": "cannot decode audio",
    }
    assert lines[-1]["files_failed"] == 1 and lines[-1]["weights_sha256"] == "ab" * 32
    assert "error: bad.wav: cannot decode audio" in result.stderr
    text = runner.invoke(app, ["npq", "encode", "x"])
    assert text.exit_code == 1
    assert text.stderr == "error: bad.wav: cannot decode audio\n"  # the failure: once, on stderr
    assert text.stdout.startswith("1 ok, 0 skipped, 1 failed; ") and "bad.wav" not in text.stdout


def test_encode_then_decode_for_real(dac_home: Path, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "a" / "take1.wav", 0.5, sr=48000)
    result = runner.invoke(app, ["npq", "encode", str(tmp_path / "in"), "-r", "-o", str(tmp_path / "npq")])
    assert result.exit_code == 0, result.output
    npq_file = tmp_path / "npq" / "a" / "take1.npq"
    assert npq_file.is_file()
    check = runner.invoke(app, ["npq", "inspect", str(npq_file), "--verify", "--json"])
    assert check.exit_code == 0 and json.loads(check.stdout.splitlines()[0])["format"] == "NPQ2"
    out = tmp_path / "take1.wav"
    dec = runner.invoke(app, ["npq", "decode", str(npq_file), "--out", str(out), "--json"])
    assert dec.exit_code == 0, dec.output
    info, summary = (json.loads(line) for line in dec.stdout.splitlines())
    assert (info["input"], info["output"], info["status"]) == (str(npq_file), str(out), "written")
    assert (info["channels"], info["sample_rate"], info["samples"]) == (2, 44100, 44 * 512)
    assert (summary["files_written"], summary["model"]) == (1, "44khz")


def test_decode_missing_input_exits_1(dac_home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["npq", "decode", str(tmp_path / "nope.npq")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr


def _real_clips(src: Path, folder: Path, spans: list[tuple[float, float]]) -> list[Path]:
    """WAV clips ``folder/c{i}.wav`` cut from the real recording ``src`` at ``(start_s, seconds)`` spans."""
    import soundfile as sf

    audio, sr = sf.read(src, dtype="float32")
    folder.mkdir(parents=True, exist_ok=True)
    clips = [folder / f"c{i}.wav" for i in range(len(spans))]
    for clip, (start, seconds) in zip(clips, spans, strict=True):
        sf.write(clip, audio[int(start * sr) : int(start * sr) + int(seconds * sr)], sr)
    return clips


def test_backends_write_identical_npq_files_and_name_the_backend(
    dac_home: Path, tmp_path: Path, shared_audio: Path
) -> None:
    """The default (OpenVINO on this CPU) and eager write the same bytes; the summary says which ran."""
    pytest.importorskip("openvino")
    (clip,) = _real_clips(shared_audio / "music_48k_stereo.wav", tmp_path, [(0.0, 3.0)])
    summaries = {}
    for backend in ("eager", "auto", "openvino"):
        out = tmp_path / backend
        result = runner.invoke(
            app, ["npq", "encode", str(clip), "-o", str(out), "--backend", backend, "--json"]
        )
        assert result.exit_code == 0, result.output
        summaries[backend] = json.loads(result.stdout.splitlines()[-1])
    assert {k: v["backend"] for k, v in summaries.items()} == {
        "eager": "eager",
        "auto": "openvino",
        "openvino": "openvino",
    }
    eager = (tmp_path / "eager" / "c0.npq").read_bytes()
    assert (tmp_path / "auto" / "c0.npq").read_bytes() == eager
    assert (tmp_path / "openvino" / "c0.npq").read_bytes() == eager
    decoded = runner.invoke(app, ["npq", "decode", str(tmp_path / "eager" / "c0.npq"), "--json"])
    assert decoded.exit_code == 0 and json.loads(decoded.stdout.splitlines()[-1])["backend"] == "openvino"


def test_openvino_groups_windows_by_length_with_the_codes_of_one_window_per_call(
    dac_home: Path, tmp_path: Path, shared_audio: Path
) -> None:
    """OpenVINO's default batch (one length's windows back to back) writes the bytes of ``--batch-size 1``."""
    pytest.importorskip("openvino")
    from audiotok.codecs.sizing import SAME_LENGTH_GROUP

    clips = tmp_path / "clips"  # full and half windows, several files
    spans = [(float(i), s) for i, s in enumerate((2.5, 3.0, 4.2, 5.0, 3.0, 6.1))]
    _real_clips(shared_audio / "speech_music_24k_mono.wav", clips, spans)
    outs = {}
    for name, extra in (("grouped", []), ("single", ["--batch-size", "1"])):
        outs[name] = tmp_path / name
        result = runner.invoke(
            app,
            ["npq", "encode", str(clips), "-o", str(outs[name]), "--backend", "openvino", "--mono", *extra],
        )
        assert result.exit_code == 0, result.output
    assert SAME_LENGTH_GROUP > 1
    for npq_file in sorted(outs["single"].glob("*.npq")):
        assert (outs["grouped"] / npq_file.name).read_bytes() == npq_file.read_bytes(), npq_file.name
    assert len(list(outs["grouped"].glob("*.npq"))) == 6


def test_unknown_backend_is_a_usage_error_naming_the_flag(tmp_path: Path) -> None:
    from audiotok.cli._options import BACKEND_NAMES
    from audiotok.codecs.backends import BACKENDS

    assert BACKEND_NAMES == BACKENDS
    for command in (["npq", "encode", "a.wav"], ["npq", "decode", "a.npq"], ["esf", "encode", "a.wav"]):
        result = runner.invoke(app, [*command, "--backend", "fast"])
        assert result.exit_code == 2, command
        assert "--backend" in result.stderr and "'fast'" in result.stderr
