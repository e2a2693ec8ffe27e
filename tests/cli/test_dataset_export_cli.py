"""`audiotok dataset export` command wiring: the service runs, failures are one line each and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from audiotok.cli.app import app
from tests._token_trees import make_npq_tree


def test_export_writes_parquet_and_reports(runner: CliRunner, tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "npq", 4)
    out = tmp_path / "pq"
    res = runner.invoke(app, ["dataset", "export", str(tmp_path / "npq"), str(out), "--format", "parquet",
                              "--max-shard-items", "2", "--flatten", "offsets", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["written"], summary["shards"], summary["finished"]) == (4, 2, True)
    card = (out / "README.md").read_text()
    assert "--flatten offsets" in card and "name: tokens" in card  # the command line, the stream's column


def test_a_bad_file_is_one_line_and_exit_1(runner: CliRunner, tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "npq", 3)
    bad = tmp_path / "npq" / "d0" / "zz.npq"
    bad.write_bytes(b"garbage")
    res = runner.invoke(app, ["dataset", "export", str(tmp_path / "npq"), str(tmp_path / "wds"),
                              "--format", "webdataset"], env={"COLUMNS": "500"})  # fmt: skip
    assert res.exit_code == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: ")
    assert "3 written" in res.stdout.replace("\n", " ")


def test_unknown_format_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["dataset", "export", str(tmp_path), str(tmp_path / "o"), "--format", "tfrecord"]
    )
    assert res.exit_code == 2 and "tfrecord" in res.stderr


def test_inspect_shows_an_export(runner: CliRunner, tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "npq", 3)
    out = tmp_path / "wds"
    assert (
        runner.invoke(
            app, ["dataset", "export", str(tmp_path / "npq"), str(out), "-f", "webdataset"]
        ).exit_code
        == 0
    )
    res = runner.invoke(app, ["dataset", "inspect", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert (info["format"], info["items"], info["shards"]) == ("webdataset", 3, 1)
