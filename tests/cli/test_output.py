"""One output sink: the same record keys in every per-file command's --json, collisions refused, --quiet."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from audiotok.cli.app import app, main
from audiotok.formats import npq
from audiotok.records import BatchSummary, FileRecord
from tests._encodec import install
from tests.dac_helpers import write_audio
from tests.services.esf.test_sidecars import make_codes

RECORD_KEYS = ("input", "output", "status", "error")


def _wav(path: Path, seconds: float = 0.2, sr: int = 24000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.05 * np.sin(np.arange(int(seconds * sr)) / 7)).astype(np.float32), sr)
    return path


def _npq_encode(tmp: Path) -> list[str]:
    write_audio(tmp / "in" / "a.wav", 0.2)
    return ["npq", "encode", str(tmp / "in"), "-o", str(tmp / "out")]


def _npq_decode(tmp: Path) -> list[str]:
    tokens = np.zeros((10, 9), np.uint16)
    (tmp / "in").mkdir()
    npq.write(
        tmp / "in" / "a.npq",
        tokens,
        npq.Npq1Header(token_rate=86.1328125, seq_len=10, vocab_sizes=(1024,) * 9),
    )
    return ["npq", "decode", str(tmp / "in"), "-o", str(tmp / "out")]


def _esf_encode(tmp: Path) -> list[str]:
    _wav(tmp / "in" / "a.wav")
    return ["esf", "encode", str(tmp / "in"), str(tmp / "out"), "--device", "cpu"]


def _esf_init(tmp: Path) -> list[str]:
    make_codes(tmp / "c" / "a.ecdc", 10)
    return ["esf", "init", "--audio-root", str(tmp / "c")]


def _esf_add(tmp: Path) -> list[str]:
    make_codes(tmp / "c" / "a.ecdc", 10)
    return ["esf", "add", "--audio-root", str(tmp / "c"), "-p", "const", "--const", "x=1", "--create-missing"]


def _normalize(tmp: Path) -> list[str]:
    _wav(tmp / "in" / "a.wav")
    return ["audio", "normalize", str(tmp / "in"), "-o", str(tmp / "out")]


COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "npq encode": _npq_encode,
    "npq decode": _npq_decode,
    "esf encode": _esf_encode,
    "esf init": _esf_init,
    "esf add": _esf_add,
    "audio normalize": _normalize,
}


@pytest.fixture
def models(dac_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tiny random DAC and EnCodec weights in temporary caches."""
    install(monkeypatch, tmp_path / "torch")


@pytest.mark.usefixtures("models")
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_json_record_names_input_output_and_status(
    runner: CliRunner, tmp_path: Path, command: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    args = COMMANDS[command](work)
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    *records, summary = lines
    assert records, result.stdout
    for record in records:
        assert tuple(record)[:4] == RECORD_KEYS, record
        assert record["status"] == "written" and record["error"] is None
        assert Path(record["output"]).is_file()
        FileRecord.model_validate({k: record[k] for k in RECORD_KEYS})
    base = BatchSummary.model_validate({k: v for k, v in summary.items() if k in BatchSummary.model_fields})
    assert base.files_written == len(records)  # commands add their own counts (files_mono) after these


def _same_stem(tmp: Path) -> tuple[Path, Path]:
    return _wav(tmp / "in" / "a.wav"), write_audio(tmp / "in" / "a.flac", 0.2, sr=24000, channels=1)


@pytest.mark.parametrize(
    "args",
    [
        ["npq", "encode", "{in}", "-o", "{out}"],
        ["esf", "encode", "{in}", "{out}", "--device", "cpu"],
        ["audio", "normalize", "{in}", "{out}"],
    ],
    ids=["npq encode", "esf encode", "audio normalize"],
)
def test_two_inputs_for_one_output_are_refused_before_writing(
    dac_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    wav, flac = _same_stem(tmp_path)
    out = tmp_path / "out"
    argv = [a.format(**{"in": tmp_path / "in", "out": out}) for a in args]
    monkeypatch.setattr(sys, "argv", ["audiotok", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage error: ") and len(err.splitlines()) == 1
    assert str(flac) in err and str(wav) in err
    assert not out.exists()


def test_failures_go_to_stderr_with_flags_and_to_json(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    make_codes(tmp_path / "c" / "a.ecdc", 5)
    args = ["esf", "add", "--audio-root", str(tmp_path / "c"), "-p", "const", "--const", "a=1"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'c' / 'a.ecdc'}: no sidecar (run `esf init` or use --create-missing)"
    ]
    record, summary = (json.loads(line) for line in result.stdout.splitlines())
    assert record["status"] == "failed" and record["error"].endswith("use --create-missing)")
    assert summary["files_failed"] == 1
    human = runner.invoke(app, args)
    assert human.stdout == "0 written, 0 skipped, 1 failed\n"


def test_quiet_prints_only_errors(runner: CliRunner, tmp_path: Path, write_npq: Any) -> None:
    write_npq(tmp_path / "a.npq")
    (tmp_path / "b.npq").write_bytes(b"")
    loud = runner.invoke(app, ["npq", "inspect", str(tmp_path)], env={"COLUMNS": "300"})
    assert "a.npq" in loud.stdout
    quiet = runner.invoke(app, ["-q", "npq", "inspect", str(tmp_path)])
    assert quiet.exit_code == 1 and quiet.stdout == ""
    assert quiet.stderr.startswith(f"error: {tmp_path / 'b.npq'}: truncated header")
    scripted = runner.invoke(app, ["-q", "npq", "inspect", str(tmp_path), "--json"])  # --json still prints
    assert len(scripted.stdout.splitlines()) == 3
