"""A failed file is reported once: its ``error:`` line on stderr, then only a count in the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiotok.cli.app import app

#: Per-file commands and their arguments around one input that does not exist (``MISSING``).
COMMANDS = {
    "npq decode": ["npq", "decode", "MISSING.npq"],
    "npq convert": ["npq", "convert", "MISSING.dac"],
    "npq inspect": ["npq", "inspect", "MISSING.npq"],
    "esf encode": ["esf", "encode", "MISSING.wav", "out"],
    "audio normalize": ["audio", "normalize", "MISSING.wav", "out"],
}


@pytest.mark.usefixtures("dac_home")
def test_npq_encode_of_a_missing_input_says_it_once(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    result = runner.invoke(app, ["npq", "encode", str(missing), "--backend", "eager", "--device", "cpu"])
    assert result.exit_code == 1
    assert result.stderr == f"error: {missing}: no such file or folder\n"
    # nothing encoded: no speed, no model hash, and no second list of the failures
    assert result.stdout == "0 ok, 0 skipped, 1 failed\n"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_other_commands_say_it_once(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, COMMANDS[command])
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if "MISSING" in line] == [
        f"error: {COMMANDS[command][2]}: no such file or folder"
    ]
    assert "MISSING" not in result.stdout and "real time" not in result.stdout


def test_dataset_build_of_a_missing_folder_is_one_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["dataset", "build", str(tmp_path / "MISSING"), str(tmp_path / "ds")])
    assert result.exit_code == 1 and result.stdout == ""  # CliRunner skips main(): the error is raised
    assert str(result.exception) == f"{tmp_path / 'MISSING'}: no such folder"
