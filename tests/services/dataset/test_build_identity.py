"""`dataset build` and the identity manifest (tokens.json): copied into the dataset, mixed codecs refused."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import datasets
import pytest

from audiotok.errors import UsageError
from audiotok.services.dataset.build import build_dataset
from audiotok.sinks import manifest
from audiotok.tokens import CodecInfo, TokenLayout
from tests._token_trees import make_npq_tree

SHA_A = "a" * 64


def _info(codec: str = "dac-44khz", sha: str | None = SHA_A) -> CodecInfo:
    return CodecInfo(
        codec=codec, family="dac", sample_rate=44100, output_sample_rate=44100, channels=1, hop_length=512,
        layout=TokenLayout.uniform(4, 1024), weights_sha256=sha, implementation="test", version="0",
    )  # fmt: skip


def _listing(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path) with its content hash."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def test_manifest_is_copied_and_the_dataset_is_byte_identical(tmp_path: Path) -> None:
    tree = tmp_path / "npq"
    make_npq_tree(tree, 4)
    plain = build_dataset(tree, tmp_path / "plain", recursive=True)
    manifest.record(tree, _info(), "npq", "0.0-test")
    named = build_dataset(tree, tmp_path / "named", recursive=True)
    assert plain.written and named.written
    assert not (tmp_path / "plain" / manifest.MANIFEST).exists()  # no manifest above: none in the dataset
    copied = tmp_path / "named" / manifest.MANIFEST
    assert copied.read_bytes() == (tree / manifest.MANIFEST).read_bytes()
    assert manifest.read(copied).info == _info()
    rest = _listing(tmp_path / "named")
    del rest[manifest.MANIFEST]
    assert rest == _listing(tmp_path / "plain")  # the dataset's own files: unchanged
    assert len(datasets.load_from_disk(str(tmp_path / "named"))["train"]) == 4


def test_manifest_above_the_tokens_folder_is_found(tmp_path: Path) -> None:
    make_npq_tree(tmp_path / "run" / "npq", 2)
    manifest.record(tmp_path / "run", _info(), "npq", "0.0-test")
    build_dataset(tmp_path / "run" / "npq", tmp_path / "ds", recursive=True)
    assert manifest.read(tmp_path / "ds" / manifest.MANIFEST).info.codec == "dac-44khz"


def test_mixed_codecs_are_refused_naming_both(tmp_path: Path) -> None:
    tree = tmp_path / "npq"
    make_npq_tree(tree, 4)  # d0/ and d1/
    manifest.record(tree / "d0", _info("dac-44khz"), "npq", "0.0-test")
    manifest.record(tree / "d1", _info("dac-24khz"), "npq", "0.0-test")
    with pytest.raises(UsageError, match=r"dac-44khz .*d0.*dac-24khz .*d1") as exc:
        build_dataset(tree, tmp_path / "ds", recursive=True)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds.incomplete").exists()
    # other weights of one codec are another codec too
    (tree / "d1" / manifest.MANIFEST).unlink()
    manifest.record(tree / "d1", _info("dac-44khz", "b" * 64), "npq", "0.0-test")
    with pytest.raises(UsageError, match=r"weights sha256 aaaaaaaaaaaa.*bbbbbbbbbbbb"):
        build_dataset(tree, tmp_path / "ds", recursive=True)


def test_files_left_out_by_max_files_do_not_count(tmp_path: Path) -> None:
    tree = tmp_path / "npq"
    make_npq_tree(tree, 4)  # d0/: clip000, clip002; d1/: clip001, clip003
    manifest.record(tree / "d0", _info("dac-44khz"), "npq", "0.0-test")
    manifest.record(tree / "d1", _info("dac-24khz"), "npq", "0.0-test")
    result = build_dataset(tree, tmp_path / "ds", recursive=True, max_files=2)
    assert result.written and result.splits == {"train": 2}
    assert manifest.read(tmp_path / "ds" / manifest.MANIFEST).info.codec == "dac-44khz"


def test_manifests_of_one_codec_are_merged(tmp_path: Path) -> None:
    tree = tmp_path / "npq"
    make_npq_tree(tree, 4)
    manifest.record(tree / "d0", _info(sha=None), "npq", "0.1-test")  # a dry run's: weights unknown
    manifest.record(tree / "d1", _info(), "hf", "0.2-test")
    build_dataset(tree, tmp_path / "ds", recursive=True)
    merged = json.loads((tmp_path / "ds" / manifest.MANIFEST).read_text())
    assert merged["info"]["weights_sha256"] == SHA_A
    assert (merged["codec"], merged["sinks"], merged["audiotok"]) == ("dac-44khz", ["hf", "npq"], "0.1-test")
