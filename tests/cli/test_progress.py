"""The progress row: audio seconds with a known total, real-time factor, ETA; off when not wanted."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from audiotok.cli import _console
from audiotok.cli import npq as npq_cli
from audiotok.cli._console import audio_amount, progress, quiet_progress
from audiotok.cli.app import app
from audiotok.progress import ProgressEvent, ProgressFn
from audiotok.services.npq.encode import EncodeSummary

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def terminal() -> Iterator[tuple[Console, io.StringIO]]:
    out = io.StringIO()
    yield Console(file=out, force_terminal=True, width=160, color_system=None), out


def _last_frame(out: io.StringIO) -> str:
    """The last row drawn (the row is transient: erased by control codes, which are stripped here)."""
    rows = [r for r in ANSI.sub("", out.getvalue()).replace("\r", "\n").splitlines() if r.strip()]
    return rows[-1]


def test_seconds_row_shows_audio_files_real_time_factor_and_eta(
    terminal: tuple[Console, io.StringIO],
) -> None:
    console, out = terminal
    clock = Clock()
    with progress("Encoding", console=console, get_time=clock) as on_progress:
        on_progress(ProgressEvent("files", total=3))
        on_progress(ProgressEvent("seconds", total=9.0))
        for _ in range(2):  # 1.5 audio seconds per wall second
            clock.now += 1.0
            on_progress(ProgressEvent("seconds", advance=1.5, item="music/[live] take1.wav"))
        on_progress(ProgressEvent("files", advance=1, item="music/[live] take1.wav"))
    frame = _last_frame(out)
    assert frame.startswith("Encoding ")
    for part in (
        "3.0/9.0 s audio",
        "1/3 files",
        "1.5× real time",
        " 0:00:02 ",  # elapsed
        "ETA 0:00:04",  # 6 audio seconds left at 1.5x
        "music/[live] take1.wav",
    ):
        assert part in frame, (part, frame)


def test_files_row_when_no_seconds_total(terminal: tuple[Console, io.StringIO]) -> None:
    console, out = terminal
    with progress("Inspecting", console=console) as on_progress:
        on_progress(ProgressEvent("files", total=4))
        on_progress(ProgressEvent("files", advance=1, item="a.npq"))
    frame = _last_frame(out)
    assert "1/4 files" in frame and "real time" not in frame and "audio" not in frame


@pytest.mark.parametrize(
    ("done", "total", "text"),
    [(1.25, 9.0, "1.2/9.0 s audio"), (65.0, 3725.0, "1:05/1:02:05 audio"), (7.0, None, "0:07 audio")],
)
def test_audio_amount(done: float, total: float | None, text: str) -> None:
    assert audio_amount(done, total) == text


def _drive(on_progress: ProgressFn) -> None:
    on_progress(ProgressEvent("seconds", total=2.0))
    on_progress(ProgressEvent("seconds", advance=1.0, item="a.wav"))


def test_disabled_and_quiet_draw_nothing(terminal: tuple[Console, io.StringIO]) -> None:
    console, out = terminal
    with progress("Encoding", enabled=False, console=console) as on_progress:  # --json
        _drive(on_progress)
    with quiet_progress(True), progress("Encoding", console=console) as on_progress:  # --quiet
        _drive(on_progress)
    assert out.getvalue() == ""


def test_not_a_terminal_draws_nothing() -> None:
    out = io.StringIO()
    with progress("Encoding", console=Console(file=out)) as on_progress:
        _drive(on_progress)
    assert out.getvalue() == ""


def test_encode_command_shows_progress_on_a_terminal_but_not_with_quiet(
    monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    err = io.StringIO()
    monkeypatch.setattr(_console, "err_console", Console(file=err, force_terminal=True, width=160))

    def fake(inputs: list[str], on_progress: ProgressFn, **kwargs: Any) -> EncodeSummary:
        _drive(on_progress)
        return EncodeSummary(files_written=1, wall_seconds=1.0, real_time_factor=1.0, model="44khz")

    monkeypatch.setattr(npq_cli.npq_encode, "encode_paths", fake)
    assert runner.invoke(app, ["npq", "encode", "x"]).exit_code == 0
    assert "1.0/2.0 s audio" in ANSI.sub("", err.getvalue())
    err.truncate(0)
    err.seek(0)
    for flags in (["-q", "npq", "encode", "x"], ["npq", "encode", "x", "--json"]):
        assert runner.invoke(app, flags).exit_code == 0
    assert err.getvalue() == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stdout_is_a_terminal", [True, False])
def test_results_printed_meanwhile_go_above_the_row_or_to_stdout(
    monkeypatch: pytest.MonkeyPatch, terminal: tuple[Console, io.StringIO], stdout_is_a_terminal: bool
) -> None:
    err_console, err = terminal
    stdout = _Tty() if stdout_is_a_terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    with progress("Decoding", console=err_console) as on_progress:
        _drive(on_progress)
        _console.console.print("wav/a.wav: 1 ch", markup=False)
    if stdout_is_a_terminal:  # the same terminal: the line is drawn above the row, not over it
        assert stdout.getvalue() == ""
        assert "wav/a.wav: 1 ch\n" in ANSI.sub("", err.getvalue())
    else:  # a file or a pipe: stdout as always
        assert stdout.getvalue() == "wav/a.wav: 1 ch\n"
        assert "wav/a.wav" not in err.getvalue()
