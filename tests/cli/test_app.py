"""The root ``audiotok`` app: version, help, completion, the error table and ``main()``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import audiotok
from audiotok.cli import app as app_module
from audiotok.cli import npq as npq_cli
from audiotok.cli.app import EXIT_CODES, app, exit_code_for, format_error, main
from audiotok.errors import (
    AudiotokError,
    DeviceError,
    FormatError,
    InputError,
    ModelError,
    UsageError,
)
from tests.conftest import REPO

GROUPS = ("npq", "esf", "dataset", "audio", "models")


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"audiotok {audiotok.__version__}\n"
    assert result.stderr == ""


def test_version_is_eager(runner: CliRunner) -> None:
    # --version wins over a sub-command that would otherwise fail
    result = runner.invoke(app, ["--version", "npq", "inspect", "/no/such/file.npq"])
    assert result.exit_code == 0
    assert result.stdout == f"audiotok {audiotok.__version__}\n"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_groups(runner: CliRunner, flag: str) -> None:
    result = runner.invoke(app, [flag], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "Usage: audiotok" in result.stdout
    commands = result.stdout.split("Commands")[1]
    listed = [line.split()[1] for line in commands.splitlines() if line.startswith("│ ") and line.split()[1]]
    for group in GROUPS:
        assert group in listed
    for option in ("--version", "--verbose", "--quiet", "--show-completion", "--install-completion"):
        assert option in result.stdout


def test_no_arguments_shows_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "Usage: audiotok" in result.stdout
    assert result.exit_code in (0, 2)  # Click >= 8.2 exits 2 for no_args_is_help


@pytest.fixture
def no_shell_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like Typer's own tests: ``--show-completion`` takes the shell name instead of detecting it.

    Set in ``os.environ`` (not ``invoke(env=...)``): Typer reads it while building
    the command, before the runner applies ``env``.
    """
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")


@pytest.mark.usefixtures("no_shell_detection")
def test_show_completion_bash(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--show-completion", "bash"])
    assert result.exit_code == 0, result.output
    assert "_audiotok_completion()" in result.stdout
    assert "_AUDIOTOK_COMPLETE=complete_bash" in result.stdout
    assert "complete -o default -F _audiotok_completion audiotok" in result.stdout


@pytest.mark.usefixtures("no_shell_detection")
def test_show_completion_zsh(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--show-completion", "zsh"])
    assert result.exit_code == 0, result.output
    assert "#compdef audiotok" in result.stdout
    assert "_AUDIOTOK_COMPLETE=complete_zsh" in result.stdout


def test_usage_error_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["npq", "inspect", "--no-such-option", "x.npq"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert result.stdout == ""
    missing = runner.invoke(app, ["npq", "inspect"])  # INPUTS may be left out for --from-list
    assert isinstance(missing.exception, UsageError)
    assert format_error(missing.exception) == (
        "usage error: no INPUTS: give files, globs or folders, or --from-list"
    )


def test_unknown_group_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["nope"])
    assert result.exit_code == 2
    assert "No such command" in result.stderr


# -- the error table --------------------------------------------------------------------------------
class _CustomFormatError(FormatError):
    kind = "custom format error"


class _CustomUsageError(UsageError):
    pass


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (AudiotokError("x"), 1),
        (FormatError("x"), 1),
        (InputError("x"), 1),
        (ModelError("x"), 1),
        (DeviceError("x"), 1),
        (UsageError("x"), 2),
        (_CustomFormatError("x"), 1),
        (_CustomUsageError("x"), 2),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_exit_code_for(exc: AudiotokError, code: int) -> None:
    assert exit_code_for(exc) == code


def test_every_error_class_has_an_exit_code() -> None:
    for cls in (AudiotokError, FormatError, InputError, ModelError, DeviceError, UsageError):
        assert cls in EXIT_CODES
    assert set(EXIT_CODES.values()) <= {1, 2}


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (FormatError("bad magic", "a/b.npq"), "format error: a/b.npq: bad magic"),
        (InputError("no such file or folder", Path("x.wav")), "input error: x.wav: no such file or folder"),
        (DeviceError("CUDA is not available"), "device error: CUDA is not available"),
        (ModelError("weights not found", "dac_44khz"), "model error: dac_44khz: weights not found"),
        (UsageError("--a and --b conflict"), "usage error: --a and --b conflict"),
        (AudiotokError("something"), "error: something"),
        (_CustomFormatError("x", "p"), "custom format error: p: x"),
        (FormatError("first line\n  second\tline  ", "f.npq"), "format error: f.npq: first line second line"),
    ],
)
def test_format_error(exc: AudiotokError, line: str) -> None:
    assert format_error(exc) == line
    assert "\n" not in format_error(exc)


# -- main(): the single error boundary --------------------------------------------------------------
@pytest.fixture
def failing_command(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``audiotok npq inspect x.npq`` whose service raises a FormatError."""

    def boom(*args: object, **kwargs: object) -> Iterator[object]:
        raise FormatError("header says T=4 but the payload holds 3 frames", "x.npq")

    monkeypatch.setattr(npq_cli.npq_service, "inspect_paths", boom)
    monkeypatch.setattr(sys, "argv", ["audiotok", "npq", "inspect", "x.npq"])
    monkeypatch.delenv("AUDIOTOK_DEBUG", raising=False)
    yield


@pytest.mark.usefixtures("failing_command")
def test_main_maps_audiotok_error_to_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "format error: x.npq: header says T=4 but the payload holds 3 frames\n"
    assert "Traceback" not in err


@pytest.mark.usefixtures("failing_command")
def test_main_shows_traceback_with_audiotok_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOTOK_DEBUG", "1")
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)")
    assert "in boom" in err
    assert err.endswith("format error: x.npq: header says T=4 but the payload holds 3 frames\n")


def test_main_usage_error_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def usage(*args: object, **kwargs: object) -> Iterator[object]:
        raise UsageError("--verify and --fast cannot be combined")

    monkeypatch.setattr(npq_cli.npq_service, "inspect_paths", usage)
    monkeypatch.setattr(sys, "argv", ["audiotok", "npq", "inspect", "x.npq"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert capsys.readouterr().err == "usage error: --verify and --fast cannot be combined\n"


def test_main_success_exits_0(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["audiotok", "--version"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    assert capsys.readouterr().out == f"audiotok {audiotok.__version__}\n"


def test_other_exceptions_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # a bug (not an AudiotokError) keeps its traceback
    def bug(*args: object, **kwargs: object) -> Iterator[object]:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(npq_cli.npq_service, "inspect_paths", bug)
    monkeypatch.setattr(sys, "argv", ["audiotok", "npq", "inspect", "x.npq"])
    with pytest.raises(ZeroDivisionError):
        app_module.main()


# -- python -m audiotok -----------------------------------------------------------------------------
def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("AUDIOTOK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "audiotok", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_python_m_audiotok_version() -> None:
    proc = _run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"audiotok {audiotok.__version__}\n"
    assert proc.stderr == ""


def test_python_m_audiotok_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.npq").write_bytes(b"NPQ1")
    proc = _run("npq", "inspect", "bad.npq", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["error: bad.npq: truncated header: NPQ1 needs 20 bytes, file has 4"]
    assert "Traceback" not in proc.stderr


def test_main_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> Iterator[object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(npq_cli.npq_service, "inspect_paths", interrupted)
    monkeypatch.setattr(sys, "argv", ["audiotok", "npq", "inspect", "x.npq"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 130


def test_start_up_does_not_import_codecs_or_datasets() -> None:
    """`audiotok --help`, `npq inspect` and friends must not pay for torch/datasets imports."""
    code = (
        "import sys, audiotok.cli.app\n"
        "heavy = sorted(m for m in ('torch', 'dac', 'encodec', 'datasets', 'pyarrow') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
