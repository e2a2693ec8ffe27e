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


def test_export_shar_nemo_notes_each_defaulted_or_left_out_item(runner: CliRunner, tmp_path: Path) -> None:
    paths = make_npq_tree(tmp_path / "npq", 3)
    listing = tmp_path / "items.jsonl"
    rows = [
        {
            "path": f"npq/{p.parent.name}/{p.name}",
            "text": "hi",
            "speaker": "s1",
            "language": "en",
            "dataset": "X",
        }
        for p in paths[:2]
    ]
    rows[1].pop("dataset")
    rows[1].pop("speaker")
    listing.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "magpie"
    res = runner.invoke(app, ["dataset", "export", str(tmp_path / "npq"), str(out), "-f", "shar",
                              "--preset", "nemo", "--from-list", str(listing), "--json"],
                        env={"COLUMNS": "500"})  # fmt: skip
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: {paths[2]}: not in --from-list: NeMo needs a transcript; left out",
        f"note: {paths[1]}: --from-list gives no dataset, speaker: wrote dataset npq, speaker unknown",
    ]
    summary = json.loads(res.stdout)
    assert (summary["format"], summary["written"], summary["finished"]) == ("shar", 2, True)
    assert sorted(p.name for p in out.iterdir()) == ["cuts.000000.jsonl.gz", "target_codes.000000.tar"]
    index = json.loads((tmp_path / "magpie.audiotok" / "index.json").read_text())
    assert "--preset nemo --from-list" in index["identity"]["command"]
