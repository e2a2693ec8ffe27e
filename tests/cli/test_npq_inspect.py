"""``audiotok npq inspect``: table, JSON Lines, bad files, --verify, --recursive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audiotok.cli import npq as npq_cli
from audiotok.cli.app import app
from audiotok.records import FileRecord, ReadSummary
from audiotok.services.npq.inspect import NpqInspectRecord
from tests import npq_bytes as nb

WIDE = {"COLUMNS": "200"}  # rich reads COLUMNS on every render; keeps table cells whole


@pytest.fixture
def files(tmp_path: Path, write_npq: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = ``tmp_path`` with ``mono.npq`` (NPQ1), ``ms.npq`` (NPQ2 9+4), ``old.npq`` (v0a)."""
    monkeypatch.chdir(tmp_path)
    write_npq(Path("mono.npq"), seq_len=860, vocab_sizes=(1024,) * 9, orig_bitrate_kbps=128.0)
    write_npq(Path("ms.npq"), seq_len=10, vocab_sizes=(1024,) * 9 + (512,) * 4, k_mid=9)
    Path("old.npq").write_bytes(nb.v0a([[1, 2]] * 3, [1024, 1024], fps=50.0, bitrate=64.0))
    return tmp_path


def _json_lines(stdout: str) -> list[dict[str, Any]]:
    """The per-file records; the summary object that ends the output is checked and left out."""
    objs = [json.loads(line) for line in stdout.splitlines()]
    summary = ReadSummary.model_validate(objs[-1])
    assert summary.files_read + summary.files_failed == len(objs) - 1 and summary.files_written == 0
    return objs[:-1]


@pytest.mark.usefixtures("files")
def test_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["npq", "inspect", "mono.npq", "ms.npq", "old.npq"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if ".npq" in line}
    assert set(rows) == {"mono.npq", "ms.npq", "old.npq"}
    cells = {name: [c.strip() for c in line.split("│")[1:-1]] for name, line in rows.items()}
    assert cells["mono.npq"] == [
        "mono.npq", "NPQ1 v1", "mono", "9", "86.1328", "860", "9.98", "1024", "uint16",
        str(21 + 36 + 860 * 9 * 2), "128.0", "-",  # no tokens.json above these files: no codec
    ]  # fmt: skip
    assert cells["ms.npq"][1:4] == ["NPQ2 v1", "stereo-ms", "9+4"]
    assert cells["ms.npq"][7] == "1024x9,512x4"  # runs of equal codebook sizes
    assert cells["old.npq"][1:6] == ["NPQ0 (v0a)", "mono", "2", "50.0000", "3"]
    assert result.stdout.splitlines()[-1] == "3 read, 0 failed"  # read, not "written": nothing is
    verified = runner.invoke(app, ["npq", "inspect", "mono.npq", "ms.npq", "--verify"], env=WIDE)
    assert verified.stdout.splitlines()[-1] == "2 checked (every token in range), 0 failed"


def test_json_lines(runner: CliRunner, files: Path) -> None:
    result = runner.invoke(app, ["npq", "inspect", "--json", str(files)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    objs = _json_lines(result.stdout)
    assert [o["input"] for o in objs] == [str(files / n) for n in ("mono.npq", "ms.npq", "old.npq")]
    assert all((o["output"], o["status"], o["error"]) == (None, "read", None) for o in objs)
    mono, ms, old = objs
    assert mono["format"] == "NPQ1" and mono["seq_len"] == 860 and mono["n_codebooks"] == 9
    assert mono["bytes"] == (files / "mono.npq").stat().st_size
    assert (ms["format"], ms["mode"], ms["k_mid"], ms["k_side"]) == ("NPQ2", "stereo-ms", 9, 4)
    assert (old["format"], old["version"], old["layout"]) == ("NPQ0", None, "v0a")
    for obj in objs:
        assert NpqInspectRecord.model_validate(obj).input == obj["input"]


def test_bad_file_among_good_ones(runner: CliRunner, files: Path) -> None:
    Path("broken.npq").write_bytes(nb.npq1([[1, 2]], [1024, 1024])[:-3])
    result = runner.invoke(app, ["npq", "inspect", "mono.npq", "broken.npq", "ms.npq"], env=WIDE)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: broken.npq: short payload: header says T=1 K=2 uint16 = 4 bytes, file has 1"
    ]
    assert "mono.npq" in result.stdout and "ms.npq" in result.stdout
    assert "broken.npq" not in result.stdout


def test_bad_file_among_good_ones_json(runner: CliRunner, files: Path) -> None:
    Path("broken.npq").write_bytes(b"RIFF....WAVEfmt ")
    result = runner.invoke(app, ["npq", "inspect", "--json", "."])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: broken.npq: not an NPQ file (magic 'RIFF', expected 'NPQ1' or 'NPQ2')"
    ]
    objs = _json_lines(result.stdout)  # one object per file, the failure included
    assert [o["input"] for o in objs] == ["broken.npq", "mono.npq", "ms.npq", "old.npq"]
    assert [o["status"] for o in objs] == ["failed", "read", "read", "read"]
    assert str(FileRecord.model_validate(objs[0]).error).startswith("not an NPQ file")
    assert all("format" in o for o in objs[1:])


@pytest.mark.usefixtures("files")
def test_missing_input(runner: CliRunner) -> None:
    result = runner.invoke(app, ["npq", "inspect", "--json", "nope.npq", "mono.npq", "*.none"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: nope.npq: no such file or folder",
        "error: *.none: glob matched no files",
    ]
    assert [o["input"] for o in _json_lines(result.stdout)] == ["nope.npq", "*.none", "mono.npq"]


@pytest.mark.usefixtures("files")
def test_verify(runner: CliRunner) -> None:
    Path("oor.npq").write_bytes(nb.npq2([[0, 1, 2], [3, 4, 512]], [1024, 1024, 512], 2))
    plain = runner.invoke(app, ["npq", "inspect", "--json", "oor.npq", "ms.npq"])
    assert plain.exit_code == 0, plain.output
    assert [o["verified"] for o in _json_lines(plain.stdout)] == [None, None]

    result = runner.invoke(app, ["npq", "inspect", "--json", "--verify", "oor.npq", "ms.npq"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["error: oor.npq: codebook 2: token 512 outside [0, 512)"]
    objs = _json_lines(result.stdout)
    assert objs[1]["input"] == "ms.npq" and objs[1]["verified"] is True


def test_recursive(runner: CliRunner, files: Path, write_npq: Any) -> None:
    write_npq(files / "sub" / "deep.npq", seq_len=2)
    flat = runner.invoke(app, ["npq", "inspect", "--json", "."])
    assert "sub/deep.npq" not in flat.stdout
    for flag in ("-r", "--recursive"):
        deep = runner.invoke(app, ["npq", "inspect", "--json", flag, "."])
        assert deep.exit_code == 0, deep.output
        assert [o["input"] for o in _json_lines(deep.stdout)][-1] == "sub/deep.npq"


@pytest.mark.usefixtures("files")
def test_glob(runner: CliRunner) -> None:
    result = runner.invoke(app, ["npq", "inspect", "--json", "m*.npq"])
    assert result.exit_code == 0, result.output
    assert [o["input"] for o in _json_lines(result.stdout)] == ["mono.npq", "ms.npq"]


def test_renders_what_the_service_returns(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    info = NpqInspectRecord(
        input="x.npq", format="NPQ2", version=1, mode="stereo-ms", n_codebooks=3, k_mid=2, k_side=1,
        token_rate=75.0, seq_len=150, duration_s=2.0, vocab_sizes=[4, 4, 4], dtype="uint8",
        bytes=486, orig_bitrate_kbps=6.0,
    )  # fmt: skip
    calls: list[dict[str, Any]] = []

    def fake(inputs: list[str], on_record: Any, **kwargs: Any) -> ReadSummary:
        calls.append({"inputs": inputs, **kwargs})
        on_record(info)
        return ReadSummary(files_read=1)

    monkeypatch.setattr(npq_cli.npq_service, "inspect_paths", fake)
    result = runner.invoke(app, ["npq", "inspect", "--json", "-r", "--verify", "x.npq"])
    assert result.exit_code == 0, result.output
    first, summary = result.stdout.splitlines()
    assert NpqInspectRecord.model_validate_json(first) == info
    assert ReadSummary.model_validate_json(summary).files_read == 1
    assert calls[0]["inputs"] == ["x.npq"]
    assert (calls[0]["recursive"], calls[0]["verify"]) == (True, True)
    table = runner.invoke(app, ["npq", "inspect", "x.npq"], env=WIDE)
    assert "2+1" in table.stdout and "2.00" in table.stdout and "6.0" in table.stdout
    assert calls[1]["verify"] is False


def test_all_bad_prints_no_table(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.npq").write_bytes(b"")
    result = runner.invoke(app, ["npq", "inspect", "a.npq"])
    assert result.exit_code == 1
    assert result.stdout == "0 read, 1 failed\n"  # no table; the failure itself is on stderr
    assert result.stderr == "error: a.npq: truncated header: magic needs 4 bytes, file has 0\n"
