"""``audiotok encode`` and ``audiotok decode``: any codec into any container, and back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audiotok.cli import encode as encode_cli
from audiotok.cli.app import app, format_error
from audiotok.errors import UsageError
from audiotok.formats import npq
from audiotok.services.encode import EncodeRunSummary
from tests._encodec import install
from tests.dac_helpers import write_audio


@pytest.mark.usefixtures("dac_home")
def test_encode_then_decode_a_folder(runner: CliRunner, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "a.wav", 0.5, channels=2)
    write_audio(tmp_path / "in" / "sub" / "b.wav", 0.3, channels=1, seed=1)
    out = tmp_path / "out"
    args = [
        "encode",
        str(tmp_path / "in"),
        "-r",
        "-o",
        str(out),
        "--codec",
        "dac-44khz",
        "--backend",
        "eager",
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    *records, summary = (json.loads(line) for line in result.stdout.splitlines())
    assert [r["status"] for r in records] == ["written", "written"]
    assert summary["codec"] == "dac-44khz" and summary["sink"] == "npq" and summary["files_mono"] == 1
    assert npq.read_header(out / "a.npq").format == "NPQ2" and (out / "tokens.json").is_file()
    decoded = runner.invoke(
        app, ["decode", str(out), "-r", "-o", str(tmp_path / "wav"), "--backend", "eager"]
    )
    assert decoded.exit_code == 0, decoded.output
    assert "a.wav: 2 ch, 44100 Hz" in decoded.stdout and (tmp_path / "wav" / "sub" / "b.wav").is_file()


def test_options_reach_the_service(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake(inputs: list[str], **kwargs: Any) -> EncodeRunSummary:
        seen.update(kwargs)
        return EncodeRunSummary(files_written=1, codec="encodec-24khz", sink="ecdc", exact_chunking=False)

    monkeypatch.setattr(encode_cli.encode_service, "encode_paths", fake)
    args = ["encode", "x.wav", "--codec", "encodec-24khz", "--to", "npq", "--mono", "--codebooks", "4"]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    opts = seen["opts"]
    assert (seen["sink"], seen["codec"].model, opts.stereo, opts.codebooks) == (
        "npq",
        "encodec-24khz",
        "downmix",
        4,
    )
    assert "note: encodec-24khz's chunked codes only nearly equal its whole-file encode" in result.stdout
    bad = runner.invoke(app, ["encode", "x.wav", "--stereo", "both"])
    assert bad.exit_code == 2 and "mid-side or downmix" in bad.output


def test_a_refusal_is_one_line_before_any_work(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch, tmp_path / "torch", "encodec_24khz")
    write_audio(tmp_path / "in" / "a.wav", 0.3, sr=24000)
    args = ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--codec", "encodec-24khz"]
    result = runner.invoke(app, [*args, "--to", "ecdc", "--stereo", "mid-side"])
    assert isinstance(result.exception, UsageError)  # main() prints it as one line, exit status 2
    assert format_error(result.exception) == (
        "usage error: ecdc holds one coded channel, not Mid and Side; "
        "mix stereo down (--mono) or write --to npq"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("dac_home")
def test_encode_to_webdataset_writes_shards_and_a_rerun_skips(runner: CliRunner, tmp_path: Path) -> None:
    write_audio(tmp_path / "in" / "a.wav", 0.3, channels=2)
    write_audio(tmp_path / "in" / "sub" / "b.wav", 0.2, channels=1, seed=1)
    out = tmp_path / "wds"
    args = ["encode", str(tmp_path / "in"), "-r", "-o", str(out), "--codec", "dac-44khz",
            "--backend", "eager", "--to", "webdataset", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    *records, summary = (json.loads(line) for line in result.stdout.splitlines())
    assert [r["status"] for r in records] == ["written", "written"] and summary["sink"] == "webdataset"
    assert {r["shard"] for r in records} == {str(out / "shard-000000.tar")}
    assert sorted(p.name for p in out.iterdir()) == [".audiotok", "audiotok.json", "shard-000000.tar"]
    again = runner.invoke(app, args)
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()[:-1]] == ["skipped", "skipped"]
