"""CLI: models list / models fetch."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from audiotok.cli.app import app
from audiotok.codecs.weights import sha256_file

runner = CliRunner()


def test_list_shows_cache_state(dac_home: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0
    rows = {r["alias"]: r for r in map(json.loads, result.stdout.splitlines())}
    xcodec = {
        "xcodec-hubert-librispeech",
        "xcodec-wavlm-mls",
        "xcodec-wavlm-more-data",
        "xcodec-hubert-general",
    }
    xcodec |= {"xcodec-hubert-general-balanced"}
    assert set(rows) == {
        "44khz", "24khz", "16khz", "44khz-16kbps", "encodec_24khz", "encodec_48khz", "mimi", "xcodec2",
        "neucodec", "higgs-audio-v2", "snac_24khz", "snac_32khz", "snac_44khz", *xcodec,
    }  # fmt: skip
    assert rows["xcodec2"]["licence"] == "CC-BY-NC-4.0" and rows["neucodec"]["licence"] == "Apache-2.0"
    assert rows["xcodec2"]["url"] == "https://huggingface.co/HKUSTAudio/xcodec2-hf"
    assert rows["neucodec"]["output_sample_rate"] == 24000 and rows["xcodec2"]["output_sample_rate"] == 16000
    assert (
        rows["mimi"]["licence"] == "CC-BY-4.0" and rows["mimi"]["url"] == "https://huggingface.co/kyutai/mimi"
    )
    assert rows["44khz"]["name"] == "dac-44khz" and rows["encodec_48khz"]["name"] == "encodec-48khz"
    assert rows["44khz"]["cached"] and not rows["24khz"]["cached"]
    assert rows["24khz"]["hop_length"] == 320 and rows["24khz"]["n_codebooks"] == 32
    assert rows["encodec_48khz"]["channels"] == 2 and rows["encodec_48khz"]["family"] == "encodec"
    assert rows["44khz"]["path"].startswith(str(dac_home))
    assert "hub/checkpoints/encodec_24khz-d7cc33bc.th" in rows["encodec_24khz"]["path"]
    assert runner.invoke(app, ["models", "list"]).exit_code == 0


def test_fetch_cached_prints_sha256(dac_home: Path) -> None:
    weights = dac_home / ".cache/descript/dac/weights_44khz_8kbps_0.0.1.pth"
    for name in ("44khz", "dac-44khz"):
        result = runner.invoke(app, ["models", "fetch", name, "--json"])
        assert result.exit_code == 0
        fetched = json.loads(result.stdout)
        assert fetched["name"] == "dac-44khz" and fetched["sha256"] == sha256_file(weights)


def test_fetch_offline_uncached_is_one_line_error(dac_home: Path) -> None:
    result = runner.invoke(app, ["models", "fetch", "16khz"])
    assert result.exit_code == 1
    assert "weights_16khz.pth" in str(result.exception)
    unknown = runner.invoke(app, ["models", "fetch", "99khz"])
    assert "unknown model" in str(unknown.exception)
