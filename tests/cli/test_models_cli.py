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
    rows = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"44khz", "24khz", "16khz", "44khz-16kbps"}
    assert rows["44khz"]["cached"] and not rows["24khz"]["cached"]
    assert rows["24khz"]["hop_length"] == 320 and rows["24khz"]["n_codebooks"] == 32
    assert rows["44khz"]["path"].startswith(str(dac_home))
    assert runner.invoke(app, ["models", "list"]).exit_code == 0


def test_fetch_cached_prints_sha256(dac_home: Path) -> None:
    result = runner.invoke(app, ["models", "fetch", "44khz"])
    assert result.exit_code == 0
    weights = dac_home / ".cache/descript/dac/weights_44khz_8kbps_0.0.1.pth"
    assert sha256_file(weights) in result.stdout


def test_fetch_offline_uncached_is_one_line_error(dac_home: Path) -> None:
    result = runner.invoke(app, ["models", "fetch", "16khz"])
    assert result.exit_code == 1
    assert "weights_16khz.pth" in str(result.exception)
    unknown = runner.invoke(app, ["models", "fetch", "99khz"])
    assert "unknown model" in str(unknown.exception)
