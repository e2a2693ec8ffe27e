"""`audiotok dataset build|inspect` command wiring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiotok.cli import dataset as dataset_cli
from audiotok.cli.app import app
from audiotok.records import FileFailure
from audiotok.services.dataset.build import BuildSummary
from tests._token_trees import make_npq_tree

runner = CliRunner()


def _result(**kw: object) -> BuildSummary:
    base = dict(
        out_dir="ds", kind="npq", embedded=True, materialize="none", splits={"train": 2}, n_files=2,
        n_frames=10, failures=[], written=True, replaced=False, verified=None, elapsed_s=0.1,
    )  # fmt: skip
    return BuildSummary(**(base | kw))  # type: ignore[arg-type]


def test_build_passes_options_to_the_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def fake(tokens_dir: Path, out_dir: Path, **kw: object) -> BuildSummary:
        seen.update(kw, tokens_dir=tokens_dir, out_dir=out_dir)
        return _result()

    monkeypatch.setattr(dataset_cli.dataset_build, "build_dataset", fake)
    res = runner.invoke(
        app,
        ["dataset", "build", "toks", "ds", "--split-map", "train=a,valid=b", "--no-embed",
         "--materialize", "copy", "--verify", "--max-files", "5", "-r", "--workers", "2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "train: 2" in res.stdout
    assert seen["split_map"] == {"train": "a", "valid": "b"} and seen["embed"] is False
    assert (seen["materialize"], seen["verify"], seen["max_files"], seen["recursive"]) == (
        "copy",
        True,
        5,
        True,
    )


def test_build_reports_failures_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = _result(written=False, failures=[FileFailure(path="x.npq", error="bad header")])
    monkeypatch.setattr(dataset_cli.dataset_build, "build_dataset", lambda *a, **k: failed)
    res = runner.invoke(app, ["dataset", "build", "toks", "ds", "--json"])
    assert res.exit_code == 1
    assert "error: x.npq: bad header" in res.stderr
    assert json.loads(res.stdout)["written"] is False


def test_bad_option_values_are_usage_errors() -> None:
    res = runner.invoke(app, ["dataset", "build", "toks", "ds", "--materialize", "hardlink"])
    assert res.exit_code == 2 and "--materialize" in res.stderr


def test_build_then_inspect_for_real(tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "tree", 4)
    res = runner.invoke(app, ["dataset", "build", str(tmp_path / "tree"), str(tmp_path / "ds"), "-r"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["dataset", "inspect", str(tmp_path / "ds"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"] == 4
    res = runner.invoke(app, ["dataset", "inspect", str(tmp_path / "ds")])
    assert "embedded" in res.stdout and "columns: id, codes" in res.stdout
