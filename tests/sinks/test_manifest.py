"""The identity manifest (``tokens.json``): written, merged, refused, found, and its temp files swept."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from audiotok.errors import FormatError, UsageError
from audiotok.sinks import manifest
from audiotok.tokens import CodecInfo, TokenLayout


def _info(codec: str = "dac-44khz", sha: str | None = "ab" * 32, k: int = 9) -> CodecInfo:
    return CodecInfo(
        codec=codec, family=codec.split("-")[0], sample_rate=44100, output_sample_rate=44100, channels=1,
        hop_length=512, layout=TokenLayout.uniform(k, 1024), weights_sha256=sha,
        implementation="descript-audio-codec", version="1.0.0",
    )  # fmt: skip


def test_written_read_back_and_merged_across_sinks(tmp_path: Path) -> None:
    first = manifest.record(tmp_path, _info(), "npq", "0.1.0")
    data = json.loads((tmp_path / "tokens.json").read_text())
    assert data["codec"] == "dac-44khz" and data["sinks"] == ["npq"] and data["audiotok"] == "0.1.0"
    assert data["info"]["frame_rate"] == 86.1328125 and data["info"]["layout"]["vocab_sizes"] == [1024] * 9
    assert '"strides": [1, 1, 1, 1, 1, 1, 1, 1, 1]' in (tmp_path / "tokens.json").read_text()  # one line
    assert manifest.read(tmp_path / "tokens.json").info == first.info == _info()
    merged = manifest.record(tmp_path, _info(), "ecdc", "0.2.0")  # another sink, a later audiotok
    assert merged.sinks == ("ecdc", "npq") and merged.audiotok == "0.1.0"  # the first writer's version stays
    before = (tmp_path / "tokens.json").read_bytes()
    manifest.record(tmp_path, _info(), "npq", "0.2.0")  # a resumed run: nothing new, the bytes stay
    assert (tmp_path / "tokens.json").read_bytes() == before


def test_another_codec_or_other_weights_are_refused_naming_both(tmp_path: Path) -> None:
    manifest.record(tmp_path, _info(), "npq", "0.1.0")
    with pytest.raises(
        UsageError, match=r"made by dac-44khz \(weights sha256 abab.*encodes with encodec-24khz"
    ):
        manifest.check(tmp_path, _info("encodec-24khz"))
    with pytest.raises(UsageError, match=r"made by dac-44khz \(weights sha256 abab.*sha256 cdcd"):
        manifest.record(tmp_path, _info(sha="cd" * 32), "npq", "0.1.0")
    manifest.check(tmp_path, _info(sha=None))  # a dry run knows no sha256: the codec alone is compared
    manifest.check(tmp_path / "elsewhere", _info("encodec-24khz"))  # no manifest there: nothing to refuse


def test_found_from_a_token_file_below_it(tmp_path: Path) -> None:
    manifest.record(tmp_path / "out", _info(), "npq", "0.1.0")
    deep = tmp_path / "out" / "a" / "b" / "x.npq"
    deep.parent.mkdir(parents=True)
    found = manifest.find(deep)
    assert found is not None and found.path == tmp_path / "out" / "tokens.json"
    assert manifest.find(tmp_path / "other" / "y.npq") is None
    (tmp_path / "out" / "tokens.json").write_text("{not json")
    with pytest.raises(FormatError, match="unreadable codec manifest"):
        manifest.find(deep)


def test_concurrent_writers_merge_and_a_killed_writers_temp_file_is_swept(tmp_path: Path) -> None:
    stale = tmp_path / ".tokens.json.0123456789ab.tmp"  # what a writer killed mid-write leaves
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{")
    threads = [
        threading.Thread(target=manifest.record, args=(tmp_path, _info(), sink, "0.1.0"))
        for sink in ("npq", "ecdc", "hf", "npq")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert manifest.read(tmp_path / "tokens.json").sinks == ("ecdc", "hf", "npq")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.json"]
