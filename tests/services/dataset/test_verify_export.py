"""``dataset inspect --verify``: every item of an export read back; one failure per bad item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from audiotok.cli.app import app
from audiotok.errors import InputError
from audiotok.formats import npq
from audiotok.services.dataset.export import export_dataset
from audiotok.services.dataset.verify_export import verify_export
from tests._token_trees import make_esf_tree, make_npq_tree

pytest.importorskip("webdataset")
FORMATS = ["parquet", "webdataset", "codec-bpe"]


def _rewrite(path: Path) -> None:
    """New codes, same shape, in a source file."""
    tokens, header = npq.read(path)
    npq.write(path, (np.asarray(tokens, np.int64) + 1) % 1024, header)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_clean_export_reads_back_whole(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "npq"
    files = make_npq_tree(src, 7, folders=3)
    out = tmp_path / fmt
    export_dataset(src, out, format=fmt, max_shard_items=3)
    check = verify_export(out)
    non_empty = sum(npq.read_header(p).seq_len > 0 for p in files)
    assert check.failures == [] and check.items == (non_empty if fmt == "codec-bpe" else len(files))


@pytest.mark.parametrize("fmt", ["parquet", "webdataset"])
def test_an_item_whose_source_changed_is_one_line(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "npq"
    files = make_npq_tree(src, 5)
    out = tmp_path / fmt
    export_dataset(src, out, format=fmt)
    _rewrite(files[2])
    [failure] = verify_export(out).failures
    assert failure.error == f"d0/clip002: codes differ from its source {files[2]}"


def test_esf_exports_compare_with_their_ecdc_sources(tmp_path: Path) -> None:
    src = tmp_path / "esf"
    make_esf_tree(src, 4)
    export_dataset(src, tmp_path / "pq", format="parquet")
    assert verify_export(tmp_path / "pq").failures == []


def test_a_damaged_codec_bpe_file_and_the_cli(tmp_path: Path) -> None:
    src = tmp_path / "npq"
    make_npq_tree(src, 4)
    out = tmp_path / "bpe"
    export_dataset(src, out, format="codec-bpe")
    runner = CliRunner()
    good = runner.invoke(app, ["dataset", "inspect", str(out), "--verify"])
    assert good.exit_code == 0 and "3 items read back, 0 bad" in " ".join(good.stdout.split())
    bad = next(out.rglob("*_c0.npy"))
    np.save(bad, np.zeros((2, 3), np.float32))
    res = runner.invoke(app, ["dataset", "inspect", str(out), "--verify"])
    squeeze = lambda text: "".join(text.split())  # noqa: E731 - rich wraps long paths
    assert res.exit_code == 1 and squeeze(res.stderr) == squeeze(
        f"bad: {bad}: float32 (2, 3), not int32 (K, T)"
    )


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a finished dataset export"):
        verify_export(tmp_path)
