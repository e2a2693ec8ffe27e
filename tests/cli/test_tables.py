"""Tables on an 80-column terminal: whole file names, columns of least value dropped first."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from audiotok.cli._tables import Col, FitTable
from audiotok.cli.app import app
from audiotok.cli.npq import INSPECT_COLUMNS
from tests._token_trees import make_esf_tree, make_npq_tree

NARROW = {"COLUMNS": "80"}
NAME = "example_recording_take_01.npq"


def _render(table: FitTable, width: int = 80) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue().splitlines()


def _fits(lines: list[str], width: int = 80) -> None:
    assert lines and max(map(len, lines)) <= width, "\n".join(lines)
    assert not [line for line in lines if "…" in line], "\n".join(lines)


def _inspect_row(name: str) -> tuple[str, ...]:
    return (
        name,
        "NPQ2 v1",
        "stereo-ms",
        "9+4",
        "86.1328",
        "860",
        "9.98",
        "1024x9,512x4",
        "uint16",
        "123456",
        "0.0",
        "dac-44khz",
    )


def test_at_80_columns_the_file_name_stays_whole_and_minor_columns_go() -> None:
    table = FitTable(*INSPECT_COLUMNS)
    for i in range(3):
        table.add_row(*_inspect_row(f"corpus/{i}/{NAME}"))
    lines = _render(table)
    _fits(lines)
    assert sum(f"corpus/0/{NAME}" in line for line in lines) == 1
    header = lines[1]
    for kept in ("file", "format", "K", "seconds"):
        assert f" {kept} " in header
    for dropped in ("kbps", "bytes", "dtype", "vocab", "mode"):  # the highest `drop` first
        assert f" {dropped} " not in header
    wide = _render(table, 200)
    assert all(f" {c.header} " in wide[1] for c in INSPECT_COLUMNS) and len(wide) == 7


def test_a_name_longer_than_the_terminal_folds_without_losing_a_character() -> None:
    long_name = "/".join(["a_rather_long_folder_name"] * 4) + "/" + NAME
    table = FitTable(*INSPECT_COLUMNS)
    table.add_row(*_inspect_row(long_name))
    table.add_row(*_inspect_row("short.npq"))
    lines = _render(table)
    _fits(lines)
    cells = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert "".join(cells[:-1]) == long_name and cells[-1] == "short.npq"


def test_one_file_that_does_not_fit_is_shown_vertically() -> None:
    table = FitTable(*INSPECT_COLUMNS)
    table.add_row(*_inspect_row(NAME))
    lines = _render(table)
    _fits(lines)
    assert [line.split()[0] for line in lines] == [c.header for c in INSPECT_COLUMNS]  # every field
    assert lines[0].split() == ["file", NAME] and lines[-1].split() == ["codec", "dac-44khz"]


def test_cells_are_text_not_markup() -> None:
    table = FitTable(Col("file", wrap=True), Col("n"))
    table.add_row("take [bold]1[/bold].npq", "1")
    assert "take [bold]1[/bold].npq" in "\n".join(_render(table))


# -- every table of the CLI at 80 columns ----------------------------------------------------------


@pytest.fixture
def npq_files(tmp_path: Path, write_npq: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (NAME, "take_02.npq"):
        write_npq(Path(name), seq_len=860, vocab_sizes=(1024,) * 9 + (512,) * 4, k_mid=9)
    return tmp_path


@pytest.mark.usefixtures("npq_files")
@pytest.mark.parametrize("names", [[NAME], [NAME, "take_02.npq"]])
def test_npq_inspect_at_80_columns_shows_the_whole_name(runner: CliRunner, names: list[str]) -> None:
    result = runner.invoke(app, ["npq", "inspect", *names], env=NARROW)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    _fits(lines)
    assert sum(NAME in line for line in lines) == 1


def test_dataset_and_esf_tables_at_80_columns(runner: CliRunner, tmp_path: Path) -> None:
    split = "a_split_with_a_long_descriptive_name"
    make_npq_tree(tmp_path / "npq" / "x", 3, folders=1)
    build = ["dataset", "build", str(tmp_path / "npq"), str(tmp_path / "ds"), "-r", "--split-map"]
    assert runner.invoke(app, [*build, f"{split}=x"]).exit_code == 0
    result = runner.invoke(app, ["dataset", "inspect", str(tmp_path / "ds")], env=NARROW)
    _fits(result.stdout.splitlines())  # one split: shown vertically
    assert result.stdout.splitlines()[0].split() == ["split", split]

    (codes,) = make_esf_tree(tmp_path / "esf", 1, d=2)
    args = ["esf", "add", "--audio-root", str(tmp_path / "esf"), "-p", "const"]
    assert runner.invoke(app, [*args, "--const", "a_feature_with_a_long_descriptive_name=1"]).exit_code == 0
    result = runner.invoke(app, ["esf", "inspect", str(codes)], env=NARROW)
    _fits(result.stdout.splitlines())
    assert sum("a_feature_with_a_long_descriptive_name" in line for line in result.stdout.splitlines()) == 1

    (codes.parent / f"{codes.stem}.cond.json").write_text(json.dumps({"schema_version": 1}))
    result = runner.invoke(app, ["esf", "audit", "--audio-root", str(tmp_path / "esf")], env=NARROW)
    _fits(result.stdout.splitlines())
    assert result.exit_code == 1 and "1 with issues" in result.stdout


@pytest.mark.usefixtures("dac_home")
def test_models_list_at_80_columns(runner: CliRunner) -> None:
    result = runner.invoke(app, ["models", "list"], env=NARROW)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    _fits(lines)
    paths = "".join(line.split("│")[4].strip() for line in lines if line.startswith("│"))
    assert "~/.cache/descript/dac/weights_44khz_8kbps_0.0.1.pth" in paths  # folded, whole, from ~
