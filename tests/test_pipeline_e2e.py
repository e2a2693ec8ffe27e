"""Audio -> `npq encode` (tiny DAC) -> `dataset build` -> load_from_disk -> DataLoader batch.

Needs the `npq encode` command and the tiny-DAC fixtures (``dac_home``); skipped
where they are not part of the tree yet.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from audiotok.cli.app import app
from audiotok.data import NpqWindowDataset, PadCollate, load_token_dataset
from audiotok.formats import npq


@pytest.fixture
def encoder_home(request: pytest.FixtureRequest) -> Path:
    pytest.importorskip("audiotok.services.npq.encode")
    try:
        return request.getfixturevalue("dac_home")  # type: ignore[no-any-return]
    except pytest.FixtureLookupError:
        pytest.skip("tiny-DAC fixtures (tests.dac_helpers) not present")


def test_audio_to_training_batch(encoder_home: Path, tmp_path: Path) -> None:
    from tests.dac_helpers import write_audio  # type: ignore[import-not-found]

    for i in range(3):
        write_audio(tmp_path / "music" / f"s{i}.wav", 1.0 + 0.5 * i, seed=i)
    runner = CliRunner()
    npq_out, ds_dir = tmp_path / "npq_out", tmp_path / "ds"
    encode = ["npq", "encode", str(tmp_path / "music"), "-o", str(npq_out), "--mono", "--codebooks", "4"]
    res = runner.invoke(app, encode)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["dataset", "build", str(npq_out), str(ds_dir), "--verify"])
    assert res.exit_code == 0, res.output

    rows = datasets.load_from_disk(str(ds_dir))["train"]
    assert len(rows) == 3
    for row in rows:
        tokens, _ = npq.read(npq_out / f"{row['id']}.npq")
        np.testing.assert_array_equal(np.asarray(row["codes"]).reshape(tokens.shape), tokens)

    batch = next(iter(DataLoader(load_token_dataset(ds_dir), batch_size=3, collate_fn=PadCollate())))
    assert batch["codes"].shape[0] == 3 and batch["codes"].shape[2] == 4
    windows = NpqWindowDataset(sorted(npq_out.glob("*.npq")), ctx=32, step=16)
    batch = next(iter(DataLoader(windows, batch_size=4, collate_fn=PadCollate())))
    assert batch["inputs"].shape == (4, 32, 4) and (batch["inputs"][:, 0] == -1).all()


def test_audio_to_esf_dataset_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Audio -> `esf encode` (tiny EnCodec) -> `esf init` + `esf add` -> `dataset build` -> batch."""
    from audiotok.audio import write_wav
    from tests._encodec import install

    install(monkeypatch, tmp_path / "torch")
    rng = np.random.default_rng(0)
    for i in range(3):
        write_wav(tmp_path / "wav" / f"take{i}.wav", 0.1 * rng.standard_normal((1, 12000 + 6000 * i)), 24000)
    runner = CliRunner()
    ecdc_out, ds_dir = tmp_path / "ecdc_out", tmp_path / "ds"
    res = runner.invoke(app, ["esf", "encode", str(tmp_path / "wav"), str(ecdc_out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["esf", "init", "--audio-root", str(ecdc_out)]).exit_code == 0
    add = ["esf", "add", "--audio-root", str(ecdc_out), "-p", "lin", "--lin", "pos=0:1"]
    assert runner.invoke(app, add).exit_code == 0
    res = runner.invoke(app, ["dataset", "build", str(ecdc_out), str(ds_dir), "--verify"])
    assert res.exit_code == 0, res.output

    from audiotok.formats import ecdc

    rows = datasets.load_from_disk(str(ds_dir))["train"]
    assert len(rows) == 3 and rows[0]["cond_names"] == ["pos"]
    for row in rows:
        codes, _ = ecdc.read(ecdc_out / f"{row['id']}.ecdc")
        np.testing.assert_array_equal(np.asarray(row["codes"]).reshape(codes.shape), codes)
    batch = next(iter(DataLoader(load_token_dataset(ds_dir), batch_size=3, collate_fn=PadCollate())))
    assert batch["cond"].shape[:2] == batch["codes"].shape[:2] and batch["cond"].shape[2] == 1
