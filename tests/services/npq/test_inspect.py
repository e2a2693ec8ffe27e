"""audiotok.services.npq.inspect: inspect_file and inspect_paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from audiotok.errors import FormatError
from audiotok.progress import ProgressEvent
from audiotok.records import FileRecord
from audiotok.services.npq import inspect as svc
from tests import npq_bytes as nb
from tests._records import records_of

RATE = 86.1328125


def test_inspect_npq1(tmp_path: Path, write_npq: Any) -> None:
    path = write_npq(tmp_path / "a.npq", seq_len=861, vocab_sizes=(1024,) * 9, orig_bitrate_kbps=320.0)
    info = svc.inspect_file(path)
    assert (info.input, info.output, info.status) == (str(path), None, "read")
    assert (info.format, info.version, info.layout, info.mode) == ("NPQ1", 1, None, "mono")
    assert (info.n_codebooks, info.k_mid, info.k_side) == (9, None, None)
    assert info.token_rate == RATE
    assert info.seq_len == 861
    assert info.duration_s == pytest.approx(861 / RATE)
    assert info.vocab_sizes == [1024] * 9
    assert info.dtype == "uint16"
    assert info.bytes == path.stat().st_size == 21 + 36 + 861 * 9 * 2
    assert info.orig_bitrate_kbps == 320.0
    assert info.verified is None


def test_inspect_npq2_verified(tmp_path: Path, write_npq: Any) -> None:
    path = write_npq(tmp_path / "b.npq", seq_len=5, vocab_sizes=(200,) * 13, k_mid=9)
    info = svc.inspect_file(path, verify=True)
    assert (info.format, info.mode, info.n_codebooks) == ("NPQ2", "stereo-ms", 13)
    assert (info.k_mid, info.k_side) == (9, 4)
    assert info.dtype == "uint8"
    assert info.verified is True


@pytest.mark.parametrize("verify", [False, True])
def test_inspect_legacy(tmp_path: Path, verify: bool) -> None:
    rows = [[1, 2], [3, 4], [5, 6]]
    a = tmp_path / "a.npq"
    a.write_bytes(nb.v0a(rows, [1024, 1024], fps=50.0, bitrate=64.0))
    b = tmp_path / "b.npq"
    b.write_bytes(nb.v0b(rows, [1024, 1024], fps=50.0))
    ia, ib = svc.inspect_file(a, verify=verify), svc.inspect_file(b, verify=verify)
    assert (ia.format, ia.version, ia.layout, ia.orig_bitrate_kbps) == ("NPQ0", None, "v0a", 64.0)
    assert (ib.format, ib.version, ib.layout, ib.orig_bitrate_kbps) == ("NPQ0", None, "v0b", 0.0)
    for info in (ia, ib):
        assert (info.mode, info.n_codebooks, info.seq_len, info.dtype) == ("mono", 2, 3, "uint16")
        assert info.verified is (True if verify else None)


def test_inspect_bad_file_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.npq"
    path.write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(FormatError, match="not an NPQ file") as info:
        svc.inspect_file(path)
    assert info.value.path == str(path)


def test_verify_catches_out_of_range_token(tmp_path: Path) -> None:
    # the header is fine; only the payload is wrong: token 1024 in a vocabulary of 1024
    path = tmp_path / "oor.npq"
    path.write_bytes(nb.npq1([[0, 1, 2], [3, 1024, 5]], [1024, 1024, 1024]))
    assert svc.inspect_file(path).verified is None
    with pytest.raises(FormatError, match=r"codebook 1: token 1024 outside \[0, 1024\)") as info:
        svc.inspect_file(path, verify=True)
    assert info.value.path == str(path)


def test_verify_catches_out_of_range_token_in_npq2_side(tmp_path: Path) -> None:
    path = tmp_path / "oor2.npq"
    path.write_bytes(nb.npq2([[0, 1, 200], [3, 4, 5]], [256, 256, 200], 2, dtype_code=0))
    with pytest.raises(FormatError, match=r"codebook 2: token 200 outside \[0, 200\)"):
        svc.inspect_file(path, verify=True)


def test_info_model_is_frozen_and_strict(tmp_path: Path, write_npq: Any) -> None:
    info = svc.inspect_file(write_npq(tmp_path / "a.npq"))
    with pytest.raises(ValidationError, match="frozen"):
        info.seq_len = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        svc.NpqInspectRecord(**info.model_dump(), extra=1)
    back = svc.NpqInspectRecord.model_validate_json(info.model_dump_json())
    assert back == info
    assert json.loads(info.model_dump_json())["format"] == "NPQ1"


# -- inspect_paths ----------------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path: Path, write_npq: Any) -> Path:
    """``root/{a,b}.npq``, ``root/notes.txt``, ``root/sub/c.npq`` (NPQ2), ``root/sub/deep/d.npq``."""
    root = tmp_path / "root"
    write_npq(root / "b.npq", seq_len=3)
    write_npq(root / "a.npq", seq_len=2)
    (root / "notes.txt").write_text("not a token file")
    write_npq(root / "sub" / "c.npq", seq_len=4, vocab_sizes=(1024,) * 3, k_mid=2)
    write_npq(root / "sub" / "deep" / "d.npq", seq_len=5)
    return root


def _inspect(*args: Any, **kwargs: Any) -> list[FileRecord]:
    return records_of(svc.inspect_paths, *args, **kwargs)


def _paths(results: list[Any]) -> list[str]:
    return [r.input for r in results]


def _failed(record: FileRecord) -> bool:
    return record.status == "failed"


def test_folder_not_recursive(tree: Path) -> None:
    results = _inspect([tree])
    assert _paths(results) == [str(tree / "a.npq"), str(tree / "b.npq")]
    assert [r.seq_len for r in results] == [2, 3]


def test_folder_recursive(tree: Path) -> None:
    results = _inspect([tree], recursive=True)
    assert _paths(results) == [
        str(tree / "a.npq"),
        str(tree / "b.npq"),
        str(tree / "sub" / "c.npq"),
        str(tree / "sub" / "deep" / "d.npq"),
    ]
    assert [r.format for r in results] == ["NPQ1", "NPQ1", "NPQ2", "NPQ1"]


def test_folder_without_npq_files(tmp_path: Path, tree: Path) -> None:
    results = _inspect([tree / "sub" / "deep", tree / "sub"])
    assert _paths(results) == [str(tree / "sub" / "deep" / "d.npq"), str(tree / "sub" / "c.npq")]
    empty = tmp_path / "empty"
    (empty / "inner").mkdir(parents=True)
    (empty / "inner" / "x.npq").write_bytes(b"")
    [failure] = _inspect([empty])
    assert _failed(failure)
    assert failure.input == str(empty)
    assert "no matching files in folder (use `recursive` for subfolders)" in failure.error


def test_globs(tree: Path) -> None:
    assert _paths(_inspect([str(tree / "*.npq")])) == [str(tree / "a.npq"), str(tree / "b.npq")]
    deep = _inspect([str(tree / "**" / "*.npq")])
    assert len(deep) == 4
    assert all(not _failed(r) for r in deep)
    assert _paths(_inspect([str(tree / "sub" / "?.npq")])) == [str(tree / "sub" / "c.npq")]
    [miss] = _inspect([str(tree / "*.wav")])
    assert _failed(miss)
    assert miss.error == "glob matched no files"


def test_duplicates_are_reported_once(tree: Path) -> None:
    results = _inspect([tree / "a.npq", tree, str(tree / "*.npq")])
    assert _paths(results) == [str(tree / "a.npq"), str(tree / "b.npq")]


def test_explicit_file_with_other_suffix_is_inspected(tree: Path) -> None:
    [failure] = _inspect([tree / "notes.txt"])
    assert _failed(failure)
    assert failure.input == str(tree / "notes.txt")
    assert "not an NPQ file" in failure.error


def test_bad_files_do_not_stop_the_batch(tree: Path) -> None:
    (tree / "a2.npq").write_bytes(nb.npq1([[1, 2]], [1024, 1024])[:-1])  # short payload
    (tree / "a3.npq").write_bytes(b"")
    (tree / "c.npq").mkdir()  # a folder named like a token file is skipped when scanning
    results = _inspect([tree, tree / "missing.npq"])
    assert [r.status for r in results] == [
        "failed",  # unmatched inputs come first
        "read",
        "failed",
        "failed",
        "read",
    ]
    assert results[0] == FileRecord(
        input=str(tree / "missing.npq"), status="failed", error="no such file or folder"
    )
    assert _paths(results[1:]) == [str(tree / n) for n in ("a.npq", "a2.npq", "a3.npq", "b.npq")]
    assert "short payload" in results[2].error
    assert "truncated header" in results[3].error
    # a failed record's error is the reason only; the path is in its input
    assert str(tree) not in results[2].error


def test_verify_in_batch(tree: Path) -> None:
    (tree / "oor.npq").write_bytes(nb.npq1([[0, 300]], [1024, 256], dtype_code=1))
    results = _inspect([tree], verify=True)
    assert _paths(results) == [str(tree / n) for n in ("a.npq", "b.npq", "oor.npq")]
    assert [getattr(r, "verified", None) for r in results[:2]] == [True, True]
    assert _failed(results[2])
    assert results[2].error == "codebook 1: token 300 outside [0, 256)"
    plain = _inspect([tree])
    assert all(not _failed(r) for r in plain)


def test_progress_events(tree: Path) -> None:
    events: list[ProgressEvent] = []
    results = _inspect([tree], recursive=True, on_progress=events.append)
    assert events[0] == ProgressEvent("files", total=4)
    assert [e.advance for e in events[1:]] == [1] * 4
    assert [e.item for e in events[1:]] == _paths(results)


def test_inputs_may_be_any_iterable(tree: Path) -> None:
    gen = (p for p in [str(tree / "a.npq"), tree / "b.npq"])
    assert _paths(_inspect(gen)) == [str(tree / "a.npq"), str(tree / "b.npq")]
