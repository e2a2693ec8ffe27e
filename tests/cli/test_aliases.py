"""One spelling of each flag; older spellings work for one release but are hidden from --help."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audiotok.cli import audio as audio_cli
from audiotok.cli import dataset as dataset_cli
from audiotok.cli import esf_sidecars as esf_sidecars_cli
from audiotok.cli.app import app
from audiotok.errors import UsageError
from audiotok.records import BatchSummary
from audiotok.services.dataset.build import BuildSummary
from tests.cli.test_dataset_cli import _result

WIDE = {"COLUMNS": "200"}


@pytest.fixture
def build_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(tokens_dir: Path, out_dir: Path, **kwargs: Any) -> BuildSummary:
        calls.append(kwargs)
        return _result()

    monkeypatch.setattr(dataset_cli.dataset_build, "build_dataset", fake)
    return calls


@pytest.mark.parametrize(
    ("flags", "skip", "jobs"),
    [
        ([], False, 1),
        (["--skip-errors", "--jobs", "3"], True, 3),
        (["--skip-bad", "--workers", "3"], True, 3),  # old spellings, one more release
        (["-j", "2"], False, 2),
    ],
)
def test_dataset_build_takes_both_spellings(
    runner: CliRunner,
    tmp_path: Path,
    build_calls: list[dict[str, Any]],
    flags: list[str],
    skip: bool,
    jobs: int,
) -> None:
    result = runner.invoke(app, ["dataset", "build", str(tmp_path), str(tmp_path / "ds"), *flags])
    assert result.exit_code == 0, result.output
    assert (build_calls[-1]["skip_bad"], build_calls[-1]["workers"]) == (skip, jobs)


def test_an_old_spelling_warns_once_on_stderr(
    runner: CliRunner, tmp_path: Path, build_calls: list[dict[str, Any]]
) -> None:
    result = runner.invoke(app, ["dataset", "build", str(tmp_path), str(tmp_path / "ds"), "--workers", "3"])
    assert result.exit_code == 0 and build_calls[-1]["workers"] == 3
    assert result.stderr.splitlines() == [
        "warning: --workers is an old spelling of --jobs; it will be removed in the next release"
    ]
    quiet = runner.invoke(app, ["dataset", "build", str(tmp_path), str(tmp_path / "ds"), "--jobs", "3"])
    assert quiet.stderr == ""


@pytest.fixture
def init_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(opts: object, **kwargs: Any) -> BatchSummary:
        calls.append(kwargs)
        return BatchSummary()

    monkeypatch.setattr(esf_sidecars_cli.esf_sidecars, "init_paths", fake)
    return calls


@pytest.mark.parametrize(
    ("flags", "threads", "warned"),
    [([], 4, False), (["--io-threads", "2"], 2, False), (["--jobs", "3"], 3, True), (["-j", "1"], 1, True)],
)
def test_esf_init_threads_are_io_threads_not_jobs(
    runner: CliRunner,
    tmp_path: Path,
    init_calls: list[dict[str, Any]],
    flags: list[str],
    threads: int,
    warned: bool,
) -> None:
    result = runner.invoke(app, ["esf", "init", "--audio-root", str(tmp_path), *flags])
    assert result.exit_code == 0, result.output
    assert init_calls[-1]["jobs"] == threads
    expected = [
        "warning: --jobs is an old spelling of --io-threads here (elsewhere --jobs counts worker "
        "processes); it will be removed in the next release"
    ]
    assert result.stderr.splitlines() == (expected if warned else [])


def test_jobs_means_worker_processes_on_every_command(runner: CliRunner) -> None:
    """``-j/--jobs`` is processes wherever it is shown (as ``make -j``); threads are ``--io-threads``."""
    import typer.main

    group = typer.main.get_command(app)
    shown: list[str] = []
    for group_name, sub in group.commands.items():  # type: ignore[attr-defined]
        for name, command in getattr(sub, "commands", {}).items():
            for param in command.params:
                if "--jobs" in getattr(param, "opts", ()) and not getattr(param, "hidden", False):
                    assert "process" in (param.help or "").lower(), (group_name, name, param.help)
                    shown.append(f"{group_name} {name}")
    assert sorted(shown) == ["dataset build", "esf audit"]
    text = runner.invoke(app, ["esf", "init", "--help"], env=WIDE).stdout
    assert "--io-threads" in text and "--jobs" not in text


def test_old_and_new_spellings_must_agree(
    runner: CliRunner, tmp_path: Path, build_calls: list[dict[str, Any]]
) -> None:
    result = runner.invoke(
        app, ["dataset", "build", str(tmp_path), str(tmp_path / "ds"), "--jobs", "2", "--workers", "3"]
    )
    assert isinstance(result.exception, UsageError) and "--jobs and its old spelling --workers" in str(
        result.exception
    )
    same = runner.invoke(
        app, ["dataset", "build", str(tmp_path), str(tmp_path / "ds"), "--jobs", "2", "--workers", "2"]
    )
    assert same.exit_code == 0 and build_calls[-1]["workers"] == 2


def test_help_shows_only_the_new_spellings(runner: CliRunner) -> None:
    text = runner.invoke(app, ["dataset", "build", "--help"], env=WIDE).stdout
    assert "--skip-errors" in text and "--jobs" in text
    assert "--skip-bad" not in text and "--workers" not in text


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (
            ["npq", "encode"],
            ["--outdir", "-o", "--recursive", "--json", "--device", "--model", "--shard-index"],
        ),
        (
            ["npq", "decode"],
            ["--outdir", "-o", "--recursive", "--json", "--device", "--model", "--shard-count"],
        ),
        (["npq", "convert"], ["--outdir", "-o", "--recursive", "--json", "--model", "--shard-index"]),
        (
            ["esf", "encode"],
            ["--outdir", "-o", "--recursive", "--json", "--device", "--model", "--shard-index"],
        ),
        (["esf", "init"], ["--io-threads", "--skip-errors", "--json", "--shard-index", "--shard-count"]),
        (["esf", "add"], ["--skip-errors", "--json", "--shard-index", "--shard-count"]),
        (["audio", "normalize"], ["--outdir", "-o", "--recursive", "--json", "--shard-index"]),
        (["dataset", "build"], ["--recursive", "--jobs", "--skip-errors", "--json"]),
    ],
)
def test_the_shared_flags_are_spelled_alike(runner: CliRunner, command: list[str], flags: list[str]) -> None:
    text = runner.invoke(app, [*command, "--help"], env=WIDE).stdout
    for flag in flags:
        assert f" {flag} " in text or f" {flag}," in text or f"{flag}  " in text, (command, flag)


def test_normalize_takes_out_as_argument_or_option(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Path] = []

    def fake(inputs: list[str], outdir: Path, **kwargs: Any) -> BatchSummary:
        seen.append(outdir)
        return BatchSummary()

    monkeypatch.setattr(audio_cli.normalize_service, "normalize_paths", fake)
    for args in (
        ["x.wav", "norm"],
        ["x.wav", "-o", "norm"],
        ["x.wav", "--outdir", "norm"],
        ["x.wav", "norm", "-o", "norm"],
    ):
        assert runner.invoke(app, ["audio", "normalize", *args]).exit_code == 0
    assert seen == [Path("norm")] * 4
    missing = runner.invoke(app, ["audio", "normalize", "x.wav"])
    assert isinstance(missing.exception, UsageError) and "output folder is needed" in str(missing.exception)
