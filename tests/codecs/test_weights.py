"""Checkpoint hashes: remembered per file while it is unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from audiotok.codecs import weights


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(weights.CACHE_ENV, str(root))
    return root


def test_sha256_is_remembered_until_the_file_changes(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "w.pth"
    f.write_bytes(b"a" * 3000)
    want = hashlib.sha256(b"a" * 3000).hexdigest()
    assert weights.sha256_file(f) == want
    (memo,) = (cache / "sha256").iterdir()
    reads: list[str] = []
    real_hash = weights._hash
    monkeypatch.setattr(weights, "_hash", lambda p: reads.append(p) or real_hash(p))
    assert weights.sha256_file(f) == want and reads == []  # remembered
    f.write_bytes(b"b" * 3000)  # same size, new contents and modification time
    os.utime(f, ns=(1, 1))
    assert weights.sha256_file(f) == hashlib.sha256(b"b" * 3000).hexdigest()
    assert reads == [os.path.realpath(f)]
    memo.write_text("{not json")  # a broken memo is read past and rewritten
    assert weights.sha256_file(f) == hashlib.sha256(b"b" * 3000).hexdigest()
    assert len(reads) == 2 and weights.sha256_file(f) and len(reads) == 2


def test_an_unwritable_cache_still_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(weights.CACHE_ENV, str(blocker / "cache"))  # a file where a folder would go
    f = tmp_path / "w.pth"
    f.write_bytes(b"abc")
    assert weights.sha256_file(f) == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(
    "env",
    [{"TORCH_HOME": "th"}, {"XDG_CACHE_HOME": "xdg"}, {"TORCH_HOME": "th", "XDG_CACHE_HOME": "xdg"}, {}],
    ids=["torch_home", "xdg", "both", "neither"],
)
def test_torch_hub_folder_without_torch_is_torchs(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EnCodec's cached weights are found where torch.hub looks, without importing torch."""
    import sys

    import torch.hub

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    want = Path(torch.hub.get_dir())
    monkeypatch.delitem(sys.modules, "torch.hub")  # as in a process that has not imported torch
    assert weights._torch_hub_dir() == want
