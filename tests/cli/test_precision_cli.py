"""CLI: --precision (and esf encode --threads) on npq encode, npq decode and esf encode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from audiotok.cli import _compute as compute_cli
from audiotok.cli import esf as esf_cli
from audiotok.cli import npq as npq_cli
from audiotok.cli._errors import exit_code_for, format_error
from audiotok.cli.app import app
from audiotok.errors import UsageError
from audiotok.records import BatchSummary
from audiotok.services.npq.encode import EncodeSummary
from tests.dac_helpers import write_audio

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [["npq", "encode", "x"], ["npq", "decode", "x.npq"], ["esf", "encode", "x"]]
)
def test_unknown_precision_is_a_usage_error_before_any_work(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the service must not run")

    monkeypatch.setattr(npq_cli.npq_encode, "encode_paths", never)
    monkeypatch.setattr(npq_cli.npq_decode, "decode_paths", never)
    monkeypatch.setattr(esf_cli.esf_encode, "encode_paths", never)
    result = runner.invoke(app, [*command, "--device", "cpu", "--precision", "fp16"])
    err = result.exception
    assert isinstance(err, UsageError) and exit_code_for(err) == 2
    assert format_error(err) == "usage error: unknown --precision 'fp16'; expected fp32, tf32, bf16"


# eager: a cold backend cache would announce its one-time conversion on stderr too
ENCODE = ["npq", "encode", "--backend", "eager"]


def test_bf16_on_the_cpu_warns_and_encodes_in_fp32(dac_home: Path, tmp_path: Path) -> None:
    src = write_audio(tmp_path / "a.wav", 0.3, sr=44100, channels=1)
    result = runner.invoke(
        app,
        [*ENCODE, str(src), "-o", str(tmp_path / "bf16"), "--device", "cpu", "--precision", "bf16"],
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1  # one line
    assert result.stderr == "warning: precision 'bf16' needs a CUDA device, not cpu; using fp32\n"
    plain = runner.invoke(app, [*ENCODE, str(src), "-o", str(tmp_path / "fp32"), "--device", "cpu"])
    assert plain.exit_code == 0 and plain.stderr == ""
    assert (tmp_path / "bf16" / "a.npq").read_bytes() == (tmp_path / "fp32" / "a.npq").read_bytes()


def test_precision_wraps_the_service_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service runs inside ``device.precision``: the TF32 switches (here: a fake CUDA device) are on."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(compute_cli.device_lib, "select_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32

    def fake(inputs: list[str], **kwargs: Any) -> EncodeSummary:
        seen.update(kwargs, tf32=(torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return EncodeSummary(files_written=1, model="44khz")

    monkeypatch.setattr(npq_cli.npq_encode, "encode_paths", fake)
    result = runner.invoke(app, ["npq", "encode", "x", "--device", "cuda", "--precision", "tf32"])
    assert result.exit_code == 0, result.output
    assert seen["tf32"] == (True, True) and seen["device"] == torch.device("cuda")
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved


def test_esf_encode_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int | None] = []
    monkeypatch.setattr(compute_cli.device_lib, "set_threads", threads.append)  # esf encode applies it there
    monkeypatch.setattr(esf_cli.esf_encode, "encode_paths", lambda *a, **k: BatchSummary(files_written=1))
    result = runner.invoke(app, ["esf", "encode", "x", "--device", "cpu", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert threads == [1]
    assert runner.invoke(app, ["esf", "encode", "x", "--threads", "0"]).exit_code == 2
