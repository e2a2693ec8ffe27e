"""`dataset inspect` summaries, computed on the Arrow columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiotok.errors import InputError
from audiotok.formats import npq
from audiotok.services.dataset.build import build_dataset
from audiotok.services.dataset.inspect import inspect_dataset
from tests._token_trees import make_npq_tree


def test_summary_counts_frames_hours_and_codebooks(tmp_path: Path) -> None:
    files = make_npq_tree(tmp_path / "tree", 8, k=4)
    make_npq_tree(tmp_path / "tree" / "wide", 2, k=6, seed=1, folders=1)
    build_dataset(tmp_path / "tree", tmp_path / "ds", recursive=True, valid_fraction=0.3)
    summary = inspect_dataset(tmp_path / "ds")
    assert [s.name for s in summary.splits] == ["train", "valid"]
    assert summary.rows == 10
    every = files + sorted((tmp_path / "tree" / "wide").rglob("*.npq"))
    frames = sum(npq.read_header(p).seq_len for p in every)
    assert summary.total_frames == frames
    assert summary.hours == pytest.approx(frames / (44100 / 512) / 3600)
    assert sorted({k for s in summary.splits for k in s.codebooks}) == [4, 6]
    assert all(s.layout == "embedded" and s.kind == "npq" and "codes" in s.columns for s in summary.splits)
    assert [s.codes_dtype for s in summary.splits] == ["uint16", "uint16"]


def test_paths_layout_and_errors(tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "tree", 3)
    build_dataset(tmp_path / "tree", tmp_path / "ds", recursive=True, embed=False)
    summary = inspect_dataset(tmp_path / "ds")
    assert summary.splits[0].layout == "paths" and summary.hours is None and summary.splits[0].codebooks == []
    assert summary.splits[0].codes_dtype is None
    with pytest.raises(InputError, match="not a dataset"):
        inspect_dataset(tmp_path / "tree")
