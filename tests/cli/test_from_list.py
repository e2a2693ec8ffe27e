"""``--from-list``: lists of input files (paths.FileList), in the planner and on every per-file command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audiotok.cli._errors import format_error
from audiotok.cli.app import app, main
from audiotok.errors import UsageError
from audiotok.paths import FileList, expand_inputs, read_file_list
from audiotok.services import runner


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_lines_json_lines_comments_and_blanks(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(
        '# a comment\n\na/one.wav\n  b/two.flac  \n{"path": "c/three.wav", "speaker": 7}\n# end\n',
        encoding="utf-8",
    )
    assert read_file_list(listing) == [(3, "a/one.wav"), (4, "b/two.flac"), (5, "c/three.wav")]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"path": "a.wav"', "line 2: not valid JSON"),
        ('{"file": "a.wav"}', 'line 2: a JSON line needs a non-empty string "path"'),
        ('{"path": ""}', 'line 2: a JSON line needs a non-empty string "path"'),
        ('{"path": 3}', 'line 2: a JSON line needs a non-empty string "path"'),
    ],
)
def test_a_bad_line_is_a_usage_error_naming_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    listing = tmp_path / "list.jsonl"
    listing.write_text(f'{{"path": "ok.wav"}}\n{line}\n', encoding="utf-8")
    with pytest.raises(UsageError) as info:
        read_file_list(listing)
    assert info.value.path == str(listing)
    assert info.value.reason.startswith(why)
    assert "\n" not in format_error(info.value)
    assert format_error(info.value).startswith(f"usage error: {listing}: line 2: ")


def test_an_unreadable_list_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the list of inputs"):
        read_file_list(tmp_path / "nope.txt")


def test_paths_are_relative_to_the_list_and_mirrored_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    one, two = _touch(corpus / "a" / "one.wav"), _touch(corpus / "b" / "two.txt")
    outside = _touch(tmp_path / "elsewhere" / "three.wav")
    (corpus / "a" / "sub").mkdir()
    listing = corpus / "files.txt"
    listing.write_text(f"a/one.wav\n{two}\n{outside}\nmissing.wav\na/sub\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    files, unmatched = expand_inputs([FileList(Path("corpus/files.txt"))], suffixes=(".wav",))
    assert [(str(f.path), str(f.relative)) for f in files] == [
        (str(Path("corpus/a/one.wav")), "a/one.wav"),  # relative: spelled from the list's folder
        (str(two), "b/two.txt"),  # absolute, below the list: mirrored below it; any suffix (named)
        (str(outside), str(outside.relative_to(outside.anchor))),  # elsewhere: its whole path
    ]
    assert [(u.arg, u.reason) for u in unmatched] == [
        (str(Path("corpus/missing.wav")), "no such file; listed in corpus/files.txt, line 4"),
        (str(Path("corpus/a/sub")), "a folder (a list names files); listed in corpus/files.txt, line 5"),
    ]
    assert one.is_file()


def test_lists_and_positional_inputs_combine_without_duplicates(tmp_path: Path) -> None:
    a, b = _touch(tmp_path / "in" / "a.wav"), _touch(tmp_path / "in" / "b.wav")
    listing = tmp_path / "in" / "list.txt"
    listing.write_text("a.wav\nb.wav\n", encoding="utf-8")
    batch = runner.plan(
        [str(a), FileList(listing)], suffixes=(".wav",), outdir=tmp_path / "out", out_suffix=".npq"
    )
    assert [item.path for item in batch.items] == [a, b]
    assert [item.dst for item in batch.items] == [tmp_path / "out" / "a.npq", tmp_path / "out" / "b.npq"]


def _npq_list(tmp_path: Path, write_npq: Any) -> Path:
    write_npq(tmp_path / "data" / "x" / "one.npq", seq_len=4, vocab_sizes=(1024,) * 2)
    write_npq(tmp_path / "data" / "two.npq", seq_len=4, vocab_sizes=(1024,) * 2)
    listing = tmp_path / "data" / "list.jsonl"
    listing.write_text(
        "\n".join(json.dumps({"path": p}) for p in ("x/one.npq", "two.npq", "gone.npq")) + "\n",
        encoding="utf-8",
    )
    return listing


def test_npq_inspect_from_list(runner: CliRunner, tmp_path: Path, write_npq: Any) -> None:
    listing = _npq_list(tmp_path, write_npq)
    result = runner.invoke(app, ["npq", "inspect", "--from-list", str(listing), "--json"])
    assert result.exit_code == 1  # the missing listed file
    records = [json.loads(line) for line in result.stdout.splitlines()][:-1]
    assert [(r["input"], r["status"]) for r in records] == [
        (str(tmp_path / "data" / "gone.npq"), "failed"),
        (str(tmp_path / "data" / "x" / "one.npq"), "read"),
        (str(tmp_path / "data" / "two.npq"), "read"),
    ]
    assert f"listed in {listing}, line 3" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["npq", "encode", "--dry-run"],
        ["npq", "decode"],
        ["npq", "convert"],
        ["esf", "encode", "--dry-run"],
        ["audio", "normalize", "-o", "out"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_every_per_file_command_takes_a_list(
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A bad line stops each command before any work: one line, exit 2 (through ``main()``)."""
    listing = tmp_path / "list.txt"
    listing.write_text('ok.wav\n{"path": 1}\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["audiotok", *command, "--from-list", str(listing)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    why = 'a JSON line needs a non-empty string "path" (--from-list)'
    assert err == f"usage error: {listing}: line 2: {why}\n"


@pytest.mark.usefixtures("dac_home")
def test_npq_encode_dry_run_from_list_mirrors_below_the_list(runner: CliRunner, tmp_path: Path) -> None:
    from tests.dac_helpers import write_audio

    write_audio(tmp_path / "c" / "a" / "s.wav", 0.1)
    write_audio(tmp_path / "c" / "t.wav", 0.1, channels=1)
    listing = tmp_path / "c" / "list.txt"
    listing.write_text("a/s.wav\nt.wav\n", encoding="utf-8")
    result = runner.invoke(
        app, ["npq", "encode", "--from-list", str(listing), "-o", str(tmp_path / "o"), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    outputs = [json.loads(line).get("output") for line in result.stdout.splitlines()][:-1]
    assert outputs == [str(tmp_path / "o" / "a" / "s.npq"), str(tmp_path / "o" / "t.npq")]
