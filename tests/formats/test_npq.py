"""audiotok.formats.npq: golden bytes, round trips, legacy layouts, malformed files, writer."""

from __future__ import annotations

import math
import os
import re
import struct
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from audiotok import _fsio
from audiotok.errors import FormatError, OutputError
from audiotok.formats import npq
from audiotok.formats.npq import layout as npq_layout
from tests import npq_bytes as nb
from tests.conftest import random_tokens

F32_RATE = 86.1328125  # 44100 / 512, exact in float32


def _put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- golden bytes, packed by hand from the spec tables ---------------------------------------------
GOLDEN_NPQ1_ROWS = [[0, 1, 1023], [512, 7, 42]]
GOLDEN_NPQ1 = (
    b"NPQ1"
    + struct.pack("<H", 1)  # version
    + struct.pack("<H", 3)  # K
    + struct.pack("<f", F32_RATE)  # token_rate
    + struct.pack("<f", 128.0)  # orig_bitrate (kbps)
    + struct.pack("<I", 2)  # T
    + struct.pack("<3I", 1024, 1024, 1024)  # vocab_sizes
    + struct.pack("<B", 1)  # dtype_code: uint16
    + struct.pack("<6H", 0, 1, 1023, 512, 7, 42)  # [T, K] row-major
)

GOLDEN_NPQ2_ROWS = [[0, 255, 99], [199, 128, 0], [5, 6, 7]]
GOLDEN_NPQ2 = (
    b"NPQ2"
    + struct.pack("<H", 1)  # version
    + struct.pack("<B", 1)  # channel_mode: Mid/Side
    + struct.pack("<H", 2)  # k_mid
    + struct.pack("<H", 1)  # k_side
    + struct.pack("<f", 75.0)  # token_rate
    + struct.pack("<f", 320.0)  # orig_bitrate (kbps)
    + struct.pack("<I", 3)  # T
    + struct.pack("<3I", 200, 256, 100)  # vocab_sizes (mid, mid, side)
    + struct.pack("<B", 0)  # dtype_code: uint8
    + bytes([0, 255, 99, 199, 128, 0, 5, 6, 7])
)


def test_golden_sizes_match_the_spec() -> None:
    # header 21 + 4K (NPQ1) and 24 + 4K (NPQ2), then T * K * itemsize
    assert len(GOLDEN_NPQ1) == 21 + 4 * 3 + 2 * 3 * 2
    assert len(GOLDEN_NPQ2) == 24 + 4 * 3 + 3 * 3 * 1


def test_golden_npq1_read(tmp_path: Path) -> None:
    path = _put(tmp_path / "g1.npq", GOLDEN_NPQ1)
    tokens, header = npq.read(path)
    assert isinstance(header, npq.Npq1Header)
    assert (header.format, header.version, header.n_codebooks) == ("NPQ1", 1, 3)
    assert header.token_rate == F32_RATE
    assert header.orig_bitrate_kbps == 128.0
    assert header.seq_len == 2
    assert header.vocab_sizes == (1024, 1024, 1024)
    assert header.dtype_code == 1
    assert header.mode == "mono"
    assert header.header_size == 33
    assert header.file_size == len(GOLDEN_NPQ1)
    assert tokens.dtype == np.dtype("<u2")
    assert tokens.tolist() == GOLDEN_NPQ1_ROWS
    assert npq.read_header(path) == header


def test_golden_npq2_read(tmp_path: Path) -> None:
    path = _put(tmp_path / "g2.npq", GOLDEN_NPQ2)
    tokens, header = npq.read(path)
    assert isinstance(header, npq.Npq2Header)
    assert (header.format, header.version, header.channel_mode) == ("NPQ2", 1, 1)
    assert (header.k_mid, header.k_side, header.n_codebooks) == (2, 1, 3)
    assert header.token_rate == 75.0
    assert header.orig_bitrate_kbps == 320.0
    assert header.seq_len == 3
    assert header.vocab_sizes == (200, 256, 100)
    assert header.dtype_code == 0
    assert header.mode == "stereo-ms"
    assert header.header_size == 36
    assert header.duration_s == pytest.approx(3 / 75.0)
    assert tokens.dtype == np.uint8
    assert tokens.tolist() == GOLDEN_NPQ2_ROWS
    assert npq.read_header(path) == header


def test_golden_npq1_write(tmp_path: Path) -> None:
    header = npq.Npq1Header(
        token_rate=F32_RATE, orig_bitrate_kbps=128.0, seq_len=2, vocab_sizes=(1024, 1024, 1024)
    )
    assert header.dtype_code == 1  # smallest dtype for a vocabulary of 1024
    path = tmp_path / "w1.npq"
    npq.write(path, np.array(GOLDEN_NPQ1_ROWS, dtype=np.int64), header)
    assert path.read_bytes() == GOLDEN_NPQ1


def test_golden_npq2_write(tmp_path: Path) -> None:
    header = npq.Npq2Header(
        token_rate=75.0, orig_bitrate_kbps=320.0, seq_len=3, vocab_sizes=(200, 256, 100), k_mid=2, k_side=1
    )
    assert header.dtype_code == 0
    path = tmp_path / "w2.npq"
    npq.write(path, np.array(GOLDEN_NPQ2_ROWS, dtype=np.int32), header)
    assert path.read_bytes() == GOLDEN_NPQ2


def test_golden_helpers_agree_with_the_literals() -> None:
    # the helpers used by the other tests pack the same bytes as the literal tables above
    assert nb.npq1(GOLDEN_NPQ1_ROWS, [1024] * 3, bitrate=128.0) == GOLDEN_NPQ1
    assert nb.npq2(GOLDEN_NPQ2_ROWS, [200, 256, 100], 2, dtype_code=0, token_rate=75.0, bitrate=320.0) == (
        GOLDEN_NPQ2
    )


def test_uint32_payload_is_little_endian(tmp_path: Path) -> None:
    rows = [[70_000, 1], [0, 65_536]]
    path = _put(tmp_path / "u4.npq", nb.npq1(rows, [70_001, 70_001], dtype_code=2))
    tokens, header = npq.read(path)
    assert header.dtype == np.dtype("<u4")
    assert tokens.tolist() == rows
    out = tmp_path / "u4-out.npq"
    npq.write(out, tokens, header)
    assert out.read_bytes() == path.read_bytes()


# -- round trips ------------------------------------------------------------------------------------
#: dtype_code -> (smallest, largest) vocabulary size for which it is the smallest dtype.
VOCAB_RANGE = {0: (1, 2**8), 1: (2**8 + 1, 2**16), 2: (2**16 + 1, 2**32 - 1)}


@st.composite
def headers(draw: Any) -> tuple[npq.Npq1Header | npq.Npq2Header, int]:
    """A header without ``dtype_code`` and the code the writer must pick."""
    code = draw(st.sampled_from([0, 1, 2]))
    low, high = VOCAB_RANGE[code]
    k = draw(st.integers(1, 6))
    biggest = draw(st.integers(low, high))
    vocab = [biggest, *draw(st.lists(st.integers(1, biggest), min_size=k - 1, max_size=k - 1))]
    vocab = draw(st.permutations(vocab))
    fields = dict(
        token_rate=draw(st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False)),
        orig_bitrate_kbps=draw(st.floats(0, 1e4, allow_nan=False, allow_infinity=False)),
        seq_len=draw(st.integers(0, 40)),
        vocab_sizes=tuple(vocab),
    )
    if draw(st.booleans()):
        return npq.Npq1Header(**fields), code
    k_mid = draw(st.integers(1, k))
    return npq.Npq2Header(**fields, k_mid=k_mid, k_side=k - k_mid), code


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=headers(), seed=st.integers(0, 2**32 - 1), mmap=st.booleans())
def test_round_trip(
    tmp_path: Path, case: tuple[npq.Npq1Header | npq.Npq2Header, int], seed: int, mmap: bool
) -> None:
    header, code = case
    assert header.dtype_code == code
    assert header.token_rate == float(np.float32(header.token_rate))
    assert header.orig_bitrate_kbps == float(np.float32(header.orig_bitrate_kbps))
    tokens = random_tokens(header.seq_len, header.vocab_sizes, seed)
    # make sure the largest token of the largest codebook is used when there are frames
    if header.seq_len:
        k = int(np.argmax(header.vocab_sizes))
        tokens[-1, k] = header.vocab_sizes[k] - 1
    path = tmp_path / "rt.npq"
    written = npq.write(path, tokens, header)
    assert written == header
    assert path.stat().st_size == header.file_size
    got, back = npq.read(path, mmap=mmap)
    assert back == header
    assert type(back) is type(header)
    assert got.shape == (header.seq_len, header.n_codebooks)
    assert got.dtype == npq.DTYPE_CODES[code]
    np.testing.assert_array_equal(got, tokens)
    assert npq.read_header(path) == header


@pytest.mark.parametrize("mmap", [False, True])
def test_read_empty_payload(tmp_path: Path, mmap: bool) -> None:
    header = npq.Npq2Header(token_rate=F32_RATE, seq_len=0, vocab_sizes=(1024,) * 13, k_mid=9, k_side=4)
    path = tmp_path / "empty-payload.npq"
    npq.write(path, np.zeros((0, 13), dtype=np.int64), header)
    tokens, back = npq.read(path, mmap=mmap)
    assert back == header
    assert tokens.shape == (0, 13)
    assert tokens.dtype == np.uint16


def test_mmap_read_is_read_only_view(tmp_path: Path, write_npq: Any) -> None:
    path = write_npq(tmp_path / "m.npq", seq_len=16, vocab_sizes=(1024,) * 9 + (512,) * 4, k_mid=9)
    plain, header = npq.read(path)
    mapped, header2 = npq.read(path, mmap=True)
    assert header2 == header
    assert isinstance(mapped, np.memmap)
    assert not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, plain)
    assert plain.flags.writeable  # an ordinary in-memory array


def test_token_rate_stored_as_float32(tmp_path: Path) -> None:
    header = npq.Npq1Header(token_rate=86.13, seq_len=1, vocab_sizes=(4,))
    assert header.token_rate == float(np.float32(86.13))
    assert header.token_rate != 86.13
    path = tmp_path / "f32.npq"
    npq.write(path, np.zeros((1, 1), dtype=np.uint8), header)
    assert struct.unpack_from("<f", path.read_bytes(), 8)[0] == header.token_rate
    assert npq.read_header(path).token_rate == header.token_rate


# -- legacy v0 --------------------------------------------------------------------------------------
LEGACY_ROWS = [[1, 2, 3, 4], [1023, 0, 500, 7], [9, 9, 9, 9]]


@pytest.mark.parametrize("mmap", [False, True])
def test_legacy_v0a(tmp_path: Path, mmap: bool) -> None:
    path = _put(tmp_path / "a.npq", nb.v0a(LEGACY_ROWS, [1024] * 4, fps=F32_RATE, bitrate=96.0))
    tokens, header = npq.read(path, mmap=mmap)
    assert isinstance(header, npq.NpqLegacyHeader)
    assert (header.format, header.layout) == ("NPQ0", "v0a")
    assert header.token_rate == F32_RATE
    assert header.orig_bitrate_kbps == 96.0
    assert header.seq_len == 3
    assert header.vocab_sizes == (1024,) * 4
    assert header.dtype == np.dtype("<u2")
    assert header.header_size == 20 + 16
    assert tokens.tolist() == LEGACY_ROWS


@pytest.mark.parametrize("mmap", [False, True])
def test_legacy_v0b(tmp_path: Path, mmap: bool) -> None:
    path = _put(tmp_path / "b.npq", nb.v0b(LEGACY_ROWS, [1024, 1024, 512, 1024], fps=50.0))
    tokens, header = npq.read(path, mmap=mmap)
    assert isinstance(header, npq.NpqLegacyHeader)
    assert (header.format, header.layout) == ("NPQ0", "v0b")
    assert header.token_rate == 50.0
    assert header.orig_bitrate_kbps == 0.0
    assert header.seq_len == 3
    assert header.vocab_sizes == (1024, 1024, 512, 1024)
    assert header.header_size == 16 + 16
    assert tokens.tolist() == LEGACY_ROWS


@pytest.mark.parametrize("k", [1, 2, 13])
@pytest.mark.parametrize("layout", ["v0a", "v0b"])
def test_legacy_layouts_for_several_k(tmp_path: Path, layout: str, k: int) -> None:
    rows = random_tokens(5, (1024,) * k, seed=k).tolist()
    data = (
        nb.v0a(rows, [1024] * k, fps=F32_RATE, bitrate=128.0)
        if layout == "v0a"
        else nb.v0b(rows, [1024] * k, fps=F32_RATE)
    )
    tokens, header = npq.read(_put(tmp_path / f"{layout}.npq", data))
    assert isinstance(header, npq.NpqLegacyHeader)
    assert header.layout == layout
    assert tokens.tolist() == rows


@pytest.mark.parametrize("layout", ["v0a", "v0b"])
@pytest.mark.parametrize("change", ["+1", "+2", "-1", "-2"])
def test_legacy_sizes_must_add_up(tmp_path: Path, layout: str, change: str) -> None:
    good = (
        nb.v0a(LEGACY_ROWS, [1024] * 4, fps=F32_RATE, bitrate=96.0)
        if layout == "v0a"
        else nb.v0b(LEGACY_ROWS, [1024] * 4, fps=F32_RATE)
    )
    n = int(change)
    data = good + b"\0" * n if n > 0 else good[:n]
    path = _put(tmp_path / "bad-legacy.npq", data)
    with pytest.raises(FormatError) as info:
        npq.read(path)
    assert info.value.path == str(path)
    with pytest.raises(FormatError):
        npq.read_header(path)


def test_legacy_cannot_be_written(tmp_path: Path) -> None:
    header = npq.NpqLegacyHeader(layout="v0a", token_rate=50.0, seq_len=1, vocab_sizes=(4,))
    with pytest.raises(FormatError, match="only NPQ1 and NPQ2"):
        npq.write(tmp_path / "x.npq", np.zeros((1, 1), dtype=np.uint16), header)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# -- malformed files --------------------------------------------------------------------------------
ROWS = [[1, 2, 3], [4, 5, 6]]
V3 = [1024, 1024, 1024]
GOOD1 = nb.npq1(ROWS, V3)
GOOD2 = nb.npq2(ROWS, V3, 2)

MALFORMED: dict[str, tuple[bytes, str]] = {
    "bad magic": (b"RIFF" + GOOD1[4:], r"not an NPQ file \(magic 'RIFF'"),
    "lower-case magic": (b"npq1" + GOOD1[4:], "not an NPQ file"),
    "npq1 version 2": (nb.npq1(ROWS, V3, version=2), "unsupported NPQ1 version 2"),
    "npq1 version 0": (nb.npq1(ROWS, V3, version=0), "unsupported NPQ1 version 0"),
    "npq2 version 2": (nb.npq2(ROWS, V3, 2, version=2), "unsupported NPQ2 version 2"),
    "npq1 K=0": (nb.npq1([], [], seq_len=0, payload=b""), "K = 0"),
    "npq1 unknown dtype_code": (nb.npq1(ROWS, V3, dtype_code=3), "unknown dtype_code 3"),
    "npq2 unknown dtype_code": (nb.npq2(ROWS, V3, 2, dtype_code=255), "unknown dtype_code 255"),
    "npq1 vocab size 0": (nb.npq1(ROWS, [1024, 0, 1024]), r"vocab_sizes\.1: .*greater than or equal to 1"),
    "npq2 vocab size 0": (nb.npq2(ROWS, [0, 1024, 1024], 2), r"vocab_sizes\.0"),
    "npq1 dtype too small": (nb.npq1(ROWS, V3, dtype_code=0), "cannot hold vocabulary size 1024"),
    "token_rate 0": (nb.npq1(ROWS, V3, token_rate=0.0), "token_rate: .*greater than 0"),
    "token_rate -1": (nb.npq1(ROWS, V3, token_rate=-1.0), "token_rate"),
    "token_rate nan": (nb.npq1(ROWS, V3, token_rate=math.nan), "token_rate: .*finite"),
    "token_rate inf": (nb.npq1(ROWS, V3, token_rate=math.inf), "token_rate: .*finite"),
    "npq2 token_rate nan": (nb.npq2(ROWS, V3, 2, token_rate=math.nan), "token_rate"),
    "npq2 token_rate -inf": (nb.npq2(ROWS, V3, 2, token_rate=-math.inf), "token_rate"),
    "bitrate nan": (nb.npq1(ROWS, V3, bitrate=math.nan), "orig_bitrate_kbps"),
    "npq2 channel_mode 0": (nb.npq2(ROWS, V3, 2, channel_mode=0), "channel_mode 0"),
    "npq2 channel_mode 2": (nb.npq2(ROWS, V3, 2, channel_mode=2), "channel_mode 2"),
    "npq2 k_mid=0": (nb.npq2(ROWS, V3, 0), "k_mid = 0"),
    "empty file": (b"", "truncated header: magic needs 4 bytes, file has 0"),
    "magic only": (b"NPQ1", "truncated header"),
    "npq2 magic only": (b"NPQ2\x01", "truncated header"),
    "npq1 cut in fixed fields": (GOOD1[:12], "truncated header"),
    "npq1 cut in vocab": (GOOD1[:26], "truncated header"),
    "npq1 missing dtype_code": (GOOD1[:32], "truncated header"),
    "npq2 cut in vocab": (GOOD2[:30], "truncated header"),
    "npq1 K=65535 in a tiny file": (GOOD1[:6] + struct.pack("<H", 65535) + GOOD1[8:], "truncated header"),
    "npq1 short payload": (GOOD1[:-1], "short payload"),
    "npq1 no payload": (GOOD1[:33], "short payload"),
    "npq2 short payload": (GOOD2[:-2], "short payload"),
    "npq1 trailing bytes": (GOOD1 + b"\0", "1 trailing bytes"),
    "npq2 trailing bytes": (GOOD2 + b"\0" * 6, "6 trailing bytes"),
    "npq1 T too large": (nb.npq1(ROWS, V3, seq_len=3), "short payload"),
    "npq1 T too small": (nb.npq1(ROWS, V3, seq_len=1), "trailing bytes"),
}

READERS = {
    "read_header": npq.read_header,
    "read": npq.read,
    "read-mmap": lambda p: npq.read(p, mmap=True),
}


def _assert_format_error(reader: Any, path: Path, pattern: str) -> FormatError:
    with pytest.raises(FormatError, match=pattern) as info:
        reader(path)
    exc = info.value
    assert exc.path == str(path)
    assert str(exc).startswith(f"{path}: ")
    assert "\n" not in str(exc)
    return exc


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("case", MALFORMED.keys())
def test_malformed(tmp_path: Path, reader: Any, case: str) -> None:
    data, pattern = MALFORMED[case]
    path = _put(tmp_path / "bad.npq", data)
    _assert_format_error(reader, path, pattern)


def test_malformed_cases_differ_from_a_good_file_only_where_intended(tmp_path: Path) -> None:
    # the helpers' defaults describe valid files: the bad cases fail for the stated reason only
    for name, data in {"npq1": GOOD1, "npq2": GOOD2}.items():
        tokens, _ = npq.read(_put(tmp_path / f"{name}.npq", data))
        assert tokens.tolist() == ROWS


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_directory(tmp_path: Path, reader: Any) -> None:
    folder = tmp_path / "dir.npq"
    folder.mkdir()
    _assert_format_error(reader, folder, "is a directory")


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_missing_file(tmp_path: Path, reader: Any) -> None:
    _assert_format_error(reader, tmp_path / "nope.npq", "no such file")


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("kind", ["npq1", "npq2"])
def test_huge_seq_len_in_a_tiny_file_is_rejected_without_allocating(
    tmp_path: Path, reader: Any, kind: str
) -> None:
    # 4 billion frames of uint32: a 16+ GB payload declared by a ~100-byte file
    vocab = [2**32 - 1] * 13
    data = (
        nb.npq1([], vocab, dtype_code=2, seq_len=2**32 - 1)
        if kind == "npq1"
        else nb.npq2([], vocab, 9, dtype_code=2, seq_len=2**32 - 1)
    )
    assert len(data) < 100
    path = _put(tmp_path / "huge.npq", data + b"\0" * 32)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        _assert_format_error(reader, path, "short payload: header says T=4294967295 K=13 uint32")
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert elapsed < 0.5


def test_large_k_header_beyond_first_read(tmp_path: Path, write_npq: Any) -> None:
    # K = 2000: the header (8021 bytes) is longer than the reader's first read
    path = write_npq(tmp_path / "wide.npq", seq_len=3, vocab_sizes=(300,) * 2000)
    tokens, header = npq.read(path)
    assert header.n_codebooks == 2000
    assert header.header_size == 21 + 8000
    assert tokens.shape == (3, 2000)
    _put(path, path.read_bytes()[:5000])
    _assert_format_error(npq.read, path, "truncated header")


# -- writer -----------------------------------------------------------------------------------------
def _h1(seq_len: int = 2, vocab: tuple[int, ...] = (1024,) * 3) -> npq.Npq1Header:
    return npq.Npq1Header(token_rate=F32_RATE, seq_len=seq_len, vocab_sizes=vocab)


@pytest.mark.parametrize(
    ("tokens", "pattern"),
    [
        (np.array([[0, 1, 1024], [0, 0, 0]]), r"codebook 2: token 1024 outside \[0, 1024\)"),
        (np.array([[0, 1, 2], [2**40, 0, 0]]), r"codebook 0: token 1099511627776 outside"),
        (np.array([[0, -1, 2], [0, 0, 0]], dtype=np.int16), r"codebook 1: token -1 outside"),
        (np.zeros((2, 4), dtype=np.int64), r"shape \(2, 4\), header says \[T=2, K=3\]"),
        (np.zeros((3, 3), dtype=np.int64), r"shape \(3, 3\)"),
        (np.zeros(6, dtype=np.int64), r"shape \(6,\)"),
        (np.zeros((2, 3, 1), dtype=np.int64), r"shape \(2, 3, 1\)"),
        (np.zeros((2, 3), dtype=np.float32), "tokens must be integers, got float32"),
        (np.zeros((2, 3), dtype=np.float64), "tokens must be integers, got float64"),
        (np.zeros((2, 3), dtype=bool), "tokens must be integers, got bool"),
        (np.zeros((2, 3), dtype=np.complex64), "tokens must be integers"),
        (np.array([["a", "b", "c"]] * 2), "tokens must be integers"),
    ],
    ids=lambda v: "" if isinstance(v, str) else None,
)
def test_write_rejects(tmp_path: Path, tokens: np.ndarray, pattern: str) -> None:
    path = tmp_path / "out.npq"
    with pytest.raises(FormatError, match=pattern) as info:
        npq.write(path, tokens, _h1())
    assert info.value.path == str(path)
    assert list(tmp_path.iterdir()) == []


def test_write_checks_each_codebook_against_its_own_vocab(tmp_path: Path) -> None:
    header = _h1(vocab=(1024, 16, 1024))
    npq.write(tmp_path / "ok.npq", np.array([[1023, 15, 0], [0, 0, 1023]]), header)
    with pytest.raises(FormatError, match=r"codebook 1: token 16 outside \[0, 16\)"):
        npq.write(tmp_path / "bad.npq", np.array([[0, 16, 0], [0, 0, 0]]), header)


def test_write_accepts_lists_and_any_integer_dtype(tmp_path: Path) -> None:
    header = _h1()
    for i, tokens in enumerate([ROWS, np.array(ROWS, dtype=np.uint64), np.array(ROWS, dtype=np.int8)]):
        path = tmp_path / f"{i}.npq"
        npq.write(path, tokens, header)  # type: ignore[arg-type]
        assert path.read_bytes() == GOOD1


def test_write_fortran_order_and_strided_views(tmp_path: Path) -> None:
    tokens = np.asfortranarray(random_tokens(7, (1024,) * 5, seed=3))
    header = _h1(7, (1024,) * 5)
    npq.write(tmp_path / "f.npq", tokens, header)
    np.testing.assert_array_equal(npq.read(tmp_path / "f.npq")[0], tokens)
    wide = random_tokens(7, (1024,) * 10, seed=4)
    npq.write(tmp_path / "s.npq", wide[:, ::2], header)
    np.testing.assert_array_equal(npq.read(tmp_path / "s.npq")[0], wide[:, ::2])


def test_write_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.npq"
    npq.write(path, ROWS, _h1())  # type: ignore[arg-type]
    assert path.read_bytes() == GOOD1


class _FailingWriter:
    """Wraps a binary file; the second ``write`` call fails (after the header went out)."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.calls = 0

    def write(self, data: Any) -> int:
        self.calls += 1
        if self.calls == 2:
            raise OSError(28, "No space left on device")
        return int(self._fh.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FailingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def test_write_is_atomic_when_writing_fails_midway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _put(tmp_path / "song.npq", GOOD1)
    real_fdopen = os.fdopen
    wrappers: list[_FailingWriter] = []

    def failing_fdopen(fd: int, *args: Any, **kwargs: Any) -> _FailingWriter:
        wrappers.append(_FailingWriter(real_fdopen(fd, *args, **kwargs)))
        return wrappers[-1]

    monkeypatch.setattr(_fsio.os, "fdopen", failing_fdopen)
    new = np.zeros((5, 2), dtype=np.uint16)
    with pytest.raises(OutputError, match="cannot write: No space left"):
        npq.write(path, new, _h1(5, (1024, 1024)))
    assert wrappers and wrappers[0].calls == 2  # the header was written, the payload failed
    assert path.read_bytes() == GOOD1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.npq"]


def test_write_is_atomic_when_fsync_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _put(tmp_path / "song.npq", GOOD2)

    def no_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_fsio.os, "fsync", no_fsync)
    with pytest.raises(OutputError, match="cannot write: Input/output error"):
        npq.write(path, ROWS, _h1())  # type: ignore[arg-type]
    assert path.read_bytes() == GOOD2
    assert [p.name for p in tmp_path.iterdir()] == ["song.npq"]


def test_write_replaces_an_existing_file(tmp_path: Path) -> None:
    path = _put(tmp_path / "song.npq", GOOD2)
    npq.write(path, ROWS, _h1())  # type: ignore[arg-type]
    assert path.read_bytes() == GOOD1
    assert [p.name for p in tmp_path.iterdir()] == ["song.npq"]


def test_check_tokens() -> None:
    npq.check_tokens(np.array([[0, 15]], dtype=np.uint16), (1, 16))
    npq.check_tokens(np.zeros((0, 2), dtype=np.uint16), (1, 16))
    with pytest.raises(FormatError, match=r"codebook 0: token 1 outside \[0, 1\)"):
        npq.check_tokens(np.array([[1, 0]], dtype=np.uint16), (1, 16), "x.npq")
    with pytest.raises(FormatError, match=r"expected \[T, 3\]"):
        npq.check_tokens(np.zeros((2, 2), dtype=np.uint16), (1, 2, 3))


# -- pydantic models --------------------------------------------------------------------------------
BASE: dict[str, Any] = dict(token_rate=F32_RATE, seq_len=10, vocab_sizes=(1024,) * 3)


def test_models_are_frozen() -> None:
    h1 = npq.Npq1Header(**BASE)
    h2 = npq.Npq2Header(**BASE, k_mid=2, k_side=1)
    legacy = npq.NpqLegacyHeader(**BASE, layout="v0b")
    for header, field in [(h1, "token_rate"), (h2, "k_mid"), (legacy, "layout"), (h1, "seq_len")]:
        with pytest.raises(ValidationError, match="frozen"):
            setattr(header, field, 1)
    assert h1.token_rate == F32_RATE and h2.k_mid == 2


@pytest.mark.parametrize("cls", [npq.Npq1Header, npq.Npq2Header, npq.NpqLegacyHeader])
def test_models_forbid_extra_fields(cls: Any) -> None:
    extra = {"k_mid": 2, "k_side": 1} if cls is npq.Npq2Header else {}
    if cls is npq.NpqLegacyHeader:
        extra = {"layout": "v0a"}
    cls(**BASE, **extra)  # valid without the extra field
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        cls(**BASE, **extra, sample_rate=44100)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"token_rate": 0.0}, "token_rate\n.*greater than 0"),
        ({"token_rate": -86.0}, "greater than 0"),
        ({"token_rate": math.nan}, "finite number"),
        ({"token_rate": math.inf}, "finite number"),
        ({"token_rate": 1e39}, "representable as float32"),
        ({"token_rate": 1e-50}, "token_rate\n.*greater than 0 after rounding to float32"),
        ({"orig_bitrate_kbps": -1.0}, "orig_bitrate_kbps\n.*greater than or equal to 0"),
        ({"orig_bitrate_kbps": math.nan}, "finite number"),
        ({"seq_len": -1}, "seq_len\n.*greater than or equal to 0"),
        ({"seq_len": 2**32}, "seq_len\n.*less than or equal to 4294967295"),
        ({"vocab_sizes": ()}, "vocab_sizes\n.*at least 1 item"),
        ({"vocab_sizes": (1024, 0)}, r"vocab_sizes\.1\n.*greater than or equal to 1"),
        ({"vocab_sizes": (2**32,)}, "less than or equal to 4294967295"),
        ({"dtype_code": 3}, "dtype_code\n.*Input should be 0, 1 or 2"),
        ({"dtype_code": 0}, r"dtype_code 0 \(uint8\) cannot hold vocabulary size 1024"),
        ({"vocab_sizes": (65537,), "dtype_code": 1}, "cannot hold vocabulary size 65537"),
        ({"version": 2}, "version\n.*Input should be 1"),
        ({"format": "NPQ2"}, "format\n.*Input should be 'NPQ1'"),
    ],
)
def test_npq1_header_invalid(changes: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        npq.Npq1Header(**{**BASE, **changes})


def test_npq1_header_k_fits_u16() -> None:
    npq.Npq1Header(**{**BASE, "vocab_sizes": (2,) * 65535})
    with pytest.raises(ValidationError, match="at most 65535 codebooks"):
        npq.Npq1Header(**{**BASE, "vocab_sizes": (2,) * 65536})


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"k_mid": 1, "k_side": 1}, r"k_mid \+ k_side = 2 but 3 vocab sizes"),
        ({"k_mid": 3, "k_side": 1}, r"k_mid \+ k_side = 4"),
        ({"k_mid": 0, "k_side": 3}, "k_mid\n.*greater than or equal to 1"),
        ({"k_mid": 2, "k_side": -1}, "k_side\n.*greater than or equal to 0"),
        ({"k_mid": 2, "k_side": 1, "channel_mode": 2}, "channel_mode\n.*Input should be 1"),
        ({"k_mid": 2}, "k_side\n.*Field required"),
    ],
)
def test_npq2_header_invalid(changes: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        npq.Npq2Header(**{**BASE, **changes})


def test_legacy_header_invalid() -> None:
    with pytest.raises(ValidationError, match=r"layout\n.*'v0a' or 'v0b'"):
        npq.NpqLegacyHeader(**BASE, layout="v0c")
    with pytest.raises(ValidationError, match=r"dtype_code\n.*Input should be 1"):
        npq.NpqLegacyHeader(**BASE, layout="v0a", dtype_code=2)
    with pytest.raises(ValidationError, match="cannot hold vocabulary size 65537"):
        npq.NpqLegacyHeader(**{**BASE, "vocab_sizes": (65537,)}, layout="v0a")


@pytest.mark.parametrize(
    ("vocab", "code"),
    [((1,), 0), ((256,), 0), ((255, 256), 0), ((257,), 1), ((2, 65536), 1), ((65537,), 2), ((2**32 - 1,), 2)],
)
def test_default_dtype_is_the_smallest_that_holds_the_vocabulary(vocab: tuple[int, ...], code: int) -> None:
    assert npq.smallest_dtype_code(vocab) == code
    assert npq.Npq1Header(**{**BASE, "vocab_sizes": vocab}).dtype_code == code
    assert npq.Npq1Header(**{**BASE, "vocab_sizes": vocab, "dtype_code": None}).dtype_code == code
    assert npq.Npq1Header(**{**BASE, "vocab_sizes": vocab, "dtype_code": 2}).dtype_code == 2


def test_smallest_dtype_code_rejects_huge_vocabulary() -> None:
    with pytest.raises(ValueError, match="does not fit in uint32"):
        npq.smallest_dtype_code([2**32 + 1])


def test_derived_sizes() -> None:
    h1 = npq.Npq1Header(**{**BASE, "vocab_sizes": (70_000,) * 4})
    assert (h1.n_codebooks, h1.header_size, h1.payload_size) == (4, 37, 10 * 4 * 4)
    assert h1.file_size == 37 + 160
    assert h1.duration_s == pytest.approx(10 / F32_RATE)
    h2 = npq.Npq2Header(**{**BASE, "vocab_sizes": (200,) * 13}, k_mid=9, k_side=4)
    assert (h2.header_size, h2.payload_size, h2.mode) == (24 + 52, 130, "stereo-ms")
    legacy = npq.NpqLegacyHeader(**BASE, layout="v0a")
    assert (legacy.header_size, legacy.payload_size, legacy.mode) == (32, 60, "mono")
    assert npq.NpqLegacyHeader(**BASE, layout="v0b").header_size == 28


def test_every_field_is_described() -> None:
    for cls in (npq.Npq1Header, npq.Npq2Header, npq.NpqLegacyHeader):
        missing = [name for name, f in cls.model_fields.items() if not f.description]
        assert missing == [], cls.__name__


def test_format_error_reason_names_the_header_kind(tmp_path: Path) -> None:
    path = _put(tmp_path / "x.npq", nb.npq2(ROWS, V3, 2, token_rate=0.0))
    exc = _assert_format_error(npq.read_header, path, "token_rate")
    assert re.match(r"invalid Npq2 header: token_rate: ", exc.reason)


def test_legacy_file_that_fits_both_layouts_is_refused(tmp_path: Path) -> None:
    # v0b with K=2 and T = vocab[1] + 1 also parses as v0a (T = vocab[1], vocab = (T, row 0 as i32))
    rows = [[5, 0]] + [[1, 2]] * 1024
    data = nb.v0b(rows, [1024, 1024], fps=F32_RATE)
    path = _put(tmp_path / "both.npq", data)
    _assert_format_error(npq.read, path, "ambiguous legacy NPQ v0 header")
    # with a token that makes the v0a reading invalid, v0b is chosen
    rows[0] = [5, 1]
    tokens, header = npq.read(_put(path, nb.v0b(rows, [1024, 1024], fps=F32_RATE)))
    assert isinstance(header, npq.NpqLegacyHeader) and header.layout == "v0b"
    assert tokens.tolist() == rows


# -- reader fast paths: header cache and payload reads ----------------------------------------------
def test_read_returns_a_fresh_writeable_aligned_array(tmp_path: Path) -> None:
    path = _put(tmp_path / "g1.npq", GOLDEN_NPQ1)  # header of 33 bytes: an odd payload offset
    tokens, _ = npq.read(path)
    assert tokens.flags.writeable and tokens.flags.aligned and tokens.flags.c_contiguous
    tokens[0, 0] = 7
    assert npq.read(path)[0][0, 0] == 0


def test_cached_header_still_checks_each_files_size(tmp_path: Path) -> None:
    good = _put(tmp_path / "good.npq", GOLDEN_NPQ1)
    short = _put(tmp_path / "short.npq", GOLDEN_NPQ1[:-2])
    long = _put(tmp_path / "long.npq", GOLDEN_NPQ1 + b"\0\0")
    first = npq.read_header(good)
    for _ in range(2):  # the second round is served from the cache
        _assert_format_error(npq.read_header, short, "short payload")
        _assert_format_error(npq.read, long, "2 trailing bytes")
    assert npq.read_header(good) == first
    assert npq.read(good)[0].tolist() == GOLDEN_NPQ1_ROWS


def test_headers_differing_in_one_byte_are_not_confused(tmp_path: Path) -> None:
    a = _put(tmp_path / "a.npq", nb.npq1(ROWS, V3, bitrate=128.0))
    b = _put(tmp_path / "b.npq", nb.npq1(ROWS, V3, bitrate=96.0))
    c = _put(tmp_path / "c.npq", nb.npq2(ROWS, V3, 2))
    d = _put(tmp_path / "d.npq", nb.npq2(ROWS, V3, 1))
    for _ in range(2):
        assert npq.read_header(a).orig_bitrate_kbps == 128.0
        assert npq.read_header(b).orig_bitrate_kbps == 96.0
        assert npq.read_header(c).k_mid == 2  # type: ignore[union-attr]
        assert npq.read_header(d).k_mid == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["npq1", "npq2"])
def test_headers_differing_only_in_t(tmp_path: Path, kind: str) -> None:
    # one cache entry serves every T; each result equals a freshly validated header
    vocab = [1024] * 9 + [256] * 4
    for t in [5, 0, 3, 5, 2**32 - 1]:
        rows = [[1] * 13] * min(t, 5)
        data = (
            nb.npq1(rows, vocab, seq_len=t, bitrate=64.0)
            if kind == "npq1"
            else nb.npq2(rows, vocab, 9, seq_len=t, bitrate=64.0)
        )
        path = _put(tmp_path / f"{t}.npq", data)
        if t == 2**32 - 1:
            _assert_format_error(npq.read_header, path, "short payload: header says T=4294967295")
            continue
        tokens, header = npq.read(path)
        fields: dict[str, Any] = dict(
            token_rate=F32_RATE, orig_bitrate_kbps=64.0, seq_len=t, vocab_sizes=vocab
        )
        expected = npq.Npq1Header(**fields) if kind == "npq1" else npq.Npq2Header(**fields, k_mid=9, k_side=4)
        assert header == expected
        assert header.model_dump() == expected.model_dump()
        assert header.seq_len == t and header.file_size == len(data)
        assert tokens.shape == (t, 13)


def test_invalid_headers_are_never_cached(tmp_path: Path) -> None:
    path = _put(tmp_path / "x.npq", nb.npq1(ROWS, V3, token_rate=0.0))
    for _ in range(2):
        _assert_format_error(npq.read_header, path, "token_rate")


def test_header_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(npq_layout, "_HEADER_CACHE", {})
    monkeypatch.setattr(npq_layout, "_HEADER_CACHE_MAX", 4)
    for i in range(10):
        header = npq.read_header(_put(tmp_path / f"{i}.npq", nb.npq1(ROWS, V3, bitrate=float(i))))
        assert header.orig_bitrate_kbps == i
        assert len(npq_layout._HEADER_CACHE) == i % 4 + 1


def test_payload_read_survives_short_reads() -> None:
    class Trickle:
        """A file whose readinto hands out at most 3 bytes at a time."""

        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def readinto(self, view: memoryview) -> int:
            n = min(3, len(view), len(self.data) - self.pos)
            view[:n] = self.data[self.pos : self.pos + n]
            self.pos += n
            return n

    expected = np.arange(24, dtype="<u2").reshape(4, 6)
    out = np.empty((4, 6), dtype="<u2")
    assert npq_layout._read_into(Trickle(expected.tobytes()), out) == 48
    np.testing.assert_array_equal(out, expected)
    part = np.zeros((4, 6), dtype="<u2")
    assert npq_layout._read_into(Trickle(expected.tobytes()[:10]), part) == 10


def test_file_shrinking_while_reading_is_a_format_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fstat reports the full size, but the payload ends early (the file was truncated meanwhile)
    path = _put(tmp_path / "shrunk.npq", GOLDEN_NPQ1[:-4])
    real_fstat = os.fstat

    class Stat:
        def __init__(self, fd: int) -> None:
            self.st_size = real_fstat(fd).st_size + 4

    monkeypatch.setattr(npq_layout.os, "fstat", Stat)
    _assert_format_error(npq.read, path, "payload shorter than the header says")
