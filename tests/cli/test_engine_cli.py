"""``--engine`` and the Ray options on the command line, with or without Ray installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from audiotok.cli.app import main
from tests.conftest import REPO


@pytest.mark.parametrize(
    "command",
    [["npq", "encode", "x.wav"], ["npq", "decode", "x.npq"], ["esf", "encode", "x.wav"]],
    ids=lambda c: " ".join(c[:2]),
)
def test_engine_ray_without_ray_is_one_line_saying_how_to_install_it(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["audiotok", *command, "--engine", "ray"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "usage error: --engine ray needs Ray, which is not installed: pip install 'audiotok[ray]'\n"
    )


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        (["--workers", "2"], "--workers"),
        (["--ray-address", "auto", "--gpus-per-worker", "1"], "--ray-address, --gpus-per-worker"),
    ],
)
def test_ray_options_need_engine_ray(
    options: list[str],
    flags: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["audiotok", "npq", "encode", "x.wav", *options])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert capsys.readouterr().err == f"usage error: {flags} only apply with --engine ray\n"


def test_an_unknown_engine_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["audiotok", "npq", "encode", "x.wav", "--engine", "spark"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert "must be local or ray, not 'spark'" in capsys.readouterr().err


def test_other_commands_never_import_ray(tmp_path: Path) -> None:
    """Start-up and a local run import no Ray (it is imported for ``--engine ray`` only)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from audiotok.cli.app import app\n"
        "for args in (['--help'], ['npq', 'encode', '--help'], ['npq', 'inspect', 'none.npq']):\n"
        "    CliRunner().invoke(app, args)\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert out.stdout.strip() == "[]"
