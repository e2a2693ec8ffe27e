"""Warnings and log records on stderr: one line each, third-party noise only with -v."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audiotok.cli import npq as npq_cli
from audiotok.cli._diagnostics import warning_line
from audiotok.cli.app import app
from audiotok.codecs.backends import available
from audiotok.errors import AudiotokWarning, DeviceFallbackWarning
from audiotok.records import BatchSummary
from tests.conftest import REPO
from tests.dac_helpers import write_audio

TORCH_FILE = os.path.join("venv", "lib", "site-packages", "torch", "jit", "_script.py")


def test_audiotok_warning_carries_its_path() -> None:
    w = AudiotokWarning("sample rate\n  changed", "music/a.wav")
    assert (w.path, w.reason, str(w)) == (
        "music/a.wav",
        "sample rate changed",
        "music/a.wav: sample rate changed",
    )
    assert str(DeviceFallbackWarning("no CUDA; using the CPU")) == "no CUDA; using the CPU"


@pytest.mark.parametrize(
    ("message", "category", "line"),
    [
        (AudiotokWarning("clipped", Path("x.wav")), AudiotokWarning, "warning: x.wav: clipped"),
        (DeviceFallbackWarning("no CUDA"), DeviceFallbackWarning, "warning: no CUDA"),
        (
            "`torch.jit.script` is\ndeprecated.",
            FutureWarning,
            f"warning: {os.path.join('torch', 'jit', '_script.py')}:1491: FutureWarning: "
            "`torch.jit.script` is deprecated.",
        ),
    ],
)
def test_warning_line(message: Warning | str, category: type[Warning], line: str) -> None:
    assert warning_line(message, category, TORCH_FILE, 1491) == line


@pytest.fixture
def warning_command(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``npq inspect x.npq`` whose service warns twice: audiotok about a file, torch about itself."""

    def warns(*args: object, **kwargs: object) -> BatchSummary:
        warnings.warn(AudiotokWarning("header is from an older writer", "x.npq"), stacklevel=2)
        warnings.warn_explicit(
            "`torch.jit.script` is deprecated.", FutureWarning, TORCH_FILE, 1491, module="torch.jit._script"
        )
        warnings.warn_explicit("old API", DeprecationWarning, "dac/nn/layers.py", 18, module="dac.nn.layers")
        logging.getLogger("audiotok.services.npq.inspect").info("read %d headers", 1)
        return BatchSummary()

    monkeypatch.setattr(npq_cli.npq_service, "inspect_paths", warns)
    monkeypatch.setattr(sys, "warnoptions", [])  # as without python -W / PYTHONWARNINGS
    yield


@pytest.mark.usefixtures("warning_command")
def test_warnings_are_one_line_and_third_party_noise_is_silenced(runner: CliRunner) -> None:
    result = runner.invoke(app, ["npq", "inspect", "x.npq"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["warning: x.npq: header is from an older writer"]


@pytest.mark.usefixtures("warning_command")
def test_verbose_shows_third_party_warnings_and_info_one_line_each(runner: CliRunner) -> None:
    result = runner.invoke(app, ["-v", "npq", "inspect", "x.npq"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: x.npq: header is from an older writer",
        f"warning: {os.path.join('torch', 'jit', '_script.py')}:1491: FutureWarning: "
        "`torch.jit.script` is deprecated.",
        "warning: dac/nn/layers.py:18: DeprecationWarning: old API",
        "info: read 1 headers",
    ]


@pytest.mark.usefixtures("warning_command")
def test_quiet_shows_no_warnings(runner: CliRunner) -> None:
    result = runner.invoke(app, ["-q", "npq", "inspect", "x.npq"])
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.usefixtures("warning_command")
def test_running_a_command_leaves_warnings_and_logging_as_they_were(runner: CliRunner) -> None:
    logger = logging.getLogger("audiotok")
    before = (warnings.showwarning, list(warnings.filters), list(logger.handlers), logger.level)
    before_propagate = logger.propagate
    assert runner.invoke(app, ["-v", "npq", "inspect", "x.npq"]).exit_code == 0
    assert (warnings.showwarning, list(warnings.filters), list(logger.handlers), logger.level) == before
    assert logger.propagate == before_propagate


def test_encode_in_a_fresh_process_prints_no_warnings(dac_home: Path, tmp_path: Path) -> None:
    """The real run: importing dac warns (``torch.jit.script`` is deprecated); mono input is expected.

    With an empty backend cache, all it says on stderr is the one-time OpenVINO conversion (the
    default ``--backend auto`` on the CPU): before it starts, why and where it is cached, and its
    time once done; nothing else.
    """
    write_audio(tmp_path / "in" / "a.wav", 0.3, channels=1)
    write_audio(tmp_path / "in" / "b.wav", 0.3, channels=1, seed=1)
    write_audio(tmp_path / "in" / "c.flac", 0.3)
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "AUDIOTOK_CACHE_DIR": str(tmp_path / "c")}
    for name in ("AUDIOTOK_DEBUG", "PYTHONWARNINGS"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-m", "audiotok", "npq", "encode", "in", "-o", "out"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    said = proc.stderr.splitlines()
    if available("openvino"):
        assert said[0] == (
            "warning: converting dac-44khz's encoder for OpenVINO (once for these weights; "
            f"this takes a while; cached in {tmp_path / 'c' / 'backends'})"
        )
        assert re.fullmatch(r"warning: converted dac-44khz's encoder for OpenVINO in \d+\.\d s", said[1])
        said = said[2:]
    assert said == []
    assert proc.stdout.startswith("3 ok, 0 skipped, 0 failed; 2 mono → NPQ1; ")
    assert len(proc.stdout.splitlines()) == 1
