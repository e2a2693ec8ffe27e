"""`audiotok npq convert`: .dac files to .npq from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from audiotok.cli.app import app
from audiotok.formats import npq
from tests.dac_helpers import save_dac_file


def test_convert_json_and_a_bad_file(tmp_path: Path) -> None:
    save_dac_file(tmp_path / "good.dac", t=20)
    save_dac_file(tmp_path / "stereo.dac", channels=2, t=20)
    result = CliRunner().invoke(app, ["npq", "convert", str(tmp_path), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["output"]).name for r in rows[:-1] if r["status"] == "written"] == ["good.npq"]
    assert [r["status"] for r in rows[:-1]] == ["written", "failed"]
    assert (rows[-1]["files_written"], rows[-1]["files_failed"]) == (1, 1)
    assert "stereo.dac: holds 2 separately encoded channels" in result.stderr
    header = npq.read_header(tmp_path / "out" / "good.npq")
    assert header.format == "NPQ1" and header.token_rate == 86.1328125


def test_convert_one_channel(tmp_path: Path) -> None:
    save_dac_file(tmp_path / "stereo.dac", channels=2, t=20)
    result = CliRunner().invoke(app, ["npq", "convert", str(tmp_path / "stereo.dac"), "--channel", "0"])
    assert result.exit_code == 0, result.output
    assert "T=20 K=9" in result.stdout
    assert (tmp_path / "stereo.npq").is_file()


def test_convert_of_an_unknown_dac_version_warns_once_and_converts(tmp_path: Path) -> None:
    save_dac_file(tmp_path / "new.dac", t=20, dac_version="9.9.9")
    result = CliRunner().invoke(app, ["npq", "convert", str(tmp_path / "new.dac")])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {tmp_path / 'new.dac'}: dac_version '9.9.9' is not one audiotok knows (1.0.0); "
        "read with the 1.0.0 layout, whose fields it has"
    ]
    assert npq.read_header(tmp_path / "new.npq").seq_len == 20
