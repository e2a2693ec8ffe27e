"""CLI: audiotok esf encode/init/add/audit/inspect and audio normalize."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from audiotok.cli import esf as esf_cli
from audiotok.cli.app import app
from audiotok.errors import UsageError
from audiotok.formats import esf
from audiotok.records import BatchSummary, FileRecord
from audiotok.sinks.ecdc import EcdcEncodeRecord
from tests.services.esf.test_sidecars import make_codes

runner = CliRunner()


def test_encode_uses_service_and_reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def fake(inputs: list[str], on_record: Any, **kw: object) -> BatchSummary:
        seen.update(kw, inputs=inputs)
        on_record(
            EcdcEncodeRecord(input="a.wav", output="out/a.ecdc", status="written", n_frames=75, n_codebooks=8)
        )
        on_record(
            FileRecord(input="b.wav", output="out/b.ecdc", status="failed", error="cannot decode audio")
        )
        return BatchSummary(files_written=1, files_failed=1)

    monkeypatch.setattr(esf_cli.esf_encode, "encode_paths", fake)
    res = runner.invoke(
        app, ["esf", "encode", "in", str(tmp_path / "out"), "--bandwidth", "3", "--device", "cpu"]
    )
    assert res.exit_code == 1
    assert "encoded  a.wav -> out/a.ecdc" in res.stdout and "error: b.wav: cannot decode audio" in res.stderr
    assert res.stdout.splitlines()[-1] == "1 encoded, 1 failed"
    assert seen["inputs"] == ["in"] and seen["outdir"] == tmp_path / "out"
    assert seen["load"].bandwidth == 3.0  # type: ignore[attr-defined]
    for spelling in (["-o", str(tmp_path / "o2")], ["--outdir", str(tmp_path / "o2")]):
        assert runner.invoke(app, ["esf", "encode", "in", *spelling, "--device", "cpu"]).exit_code == 1
        assert seen["outdir"] == tmp_path / "o2"
    clash = runner.invoke(app, ["esf", "encode", "in", str(tmp_path / "out"), "-o", str(tmp_path / "o2")])
    assert isinstance(clash.exception, UsageError) and "disagree" in str(clash.exception)  # main() exits 2


def test_verify_decodes_also_when_this_process_encoded_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A resumed run (or one whose encoder ran elsewhere, --engine ray) still decodes its sample."""
    import soundfile as sf

    from audiotok.services.esf import encode as service
    from tests._encodec import install

    install(monkeypatch, tmp_path / "torch")
    sf.write(tmp_path / "a.wav", np.random.default_rng(0).uniform(-0.3, 0.3, 24_000), 24_000)
    args = [
        "esf",
        "encode",
        str(tmp_path / "a.wav"),
        "-o",
        str(tmp_path / "out"),
        "--verify",
        "--device",
        "cpu",
    ]
    assert runner.invoke(app, [*args, "--backend", "eager"]).exit_code == 0

    def not_finite(codes: np.ndarray, *a: object, **k: object) -> Any:
        yield np.full((1, 320 * len(codes)), np.nan, dtype=np.float32)

    monkeypatch.setattr(service.stream, "decode_codes", not_finite)
    again = runner.invoke(app, [*args, "--backend", "eager"])  # resumed: the encode loads no model
    assert again.exit_code == 1
    assert "decoded audio is not finite" in again.stderr


def test_sidecar_pipeline(tmp_path: Path) -> None:
    make_codes(tmp_path / "pitch60_a.ecdc", 10)
    root = str(tmp_path)
    assert runner.invoke(app, ["esf", "init", "--audio-root", root]).exit_code == 0
    args = ["esf", "add", "--audio-root", root, "-p", "const", "--const", "scene=7", "-p", "lin"]
    args += ["--lin", "pos=0:1", "-p", "from_filename", "--filename-regex", r"(?P<name>pitch)(?P<value>\d+)"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["esf", "audit", "--audio-root", root, "--require", "pos,scene", "--verify-ranges"]
    )
    assert res.exit_code == 0 and "1 files checked: 1 ok" in res.stdout
    res = runner.invoke(app, ["esf", "audit", "--audio-root", root, "--require", "volume", "--json"])
    assert res.exit_code == 1 and '"missing_features"' in res.stdout
    csv_path = tmp_path / "report" / "issues.csv"
    args = ["esf", "audit", "--audio-root", root, "--require", "volume", "--fail-on", "none"]
    res = runner.invoke(app, [*args, "--export-csv", str(csv_path)])
    assert res.exit_code == 0
    header, row = csv_path.read_text().splitlines()
    assert header == "type,rel_ecdc,rel_cond,detail,path"
    assert row.startswith("missing_features,pitch60_a.ecdc,pitch60_a.cond.npy,")
    res = runner.invoke(app, ["esf", "inspect", str(tmp_path / "pitch60_a.ecdc")])
    assert res.exit_code == 0 and "scene" in res.stdout and "pitch" in res.stdout
    cond, _ = esf.read_sidecar(tmp_path / "pitch60_a.cond.npy", tmp_path / "pitch60_a.cond.json")
    np.testing.assert_allclose(cond[:, 2], 60)


def test_add_list_producers_and_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["esf", "add", "--audio-root", str(tmp_path), "--list-producers"])
    assert res.exit_code == 0 and "from_filename" in res.stdout
    res = runner.invoke(
        app, ["esf", "add", "--audio-root", str(tmp_path), "--mode", "sideways", "-p", "const"]
    )
    assert res.exit_code != 0
    make_codes(tmp_path / "x.ecdc", 5)
    res = runner.invoke(app, ["esf", "add", "--audio-root", str(tmp_path), "-p", "const", "--const", "a=1"])
    assert res.exit_code == 1 and "--create-missing" in res.stderr


def test_normalize_cli(tmp_path: Path) -> None:
    import soundfile as sf

    sf.write(tmp_path / "a.wav", (0.01 * np.sin(np.arange(24000) / 5)).astype(np.float32), 24000)
    res = runner.invoke(app, ["audio", "normalize", str(tmp_path / "a.wav"), str(tmp_path / "out")])
    assert res.exit_code == 0 and (tmp_path / "out" / "a.wav").is_file()
    res = runner.invoke(app, ["audio", "normalize", str(tmp_path / "missing.wav"), str(tmp_path / "out")])
    assert res.exit_code == 1 and "no such file" in res.stderr
