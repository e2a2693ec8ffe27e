"""audiotok.formats.npq.table: the one layout table against bytes packed by hand from the specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audiotok.formats import npq
from audiotok.formats.npq.table import LAYOUTS, LEGACY, VERSIONED
from tests import npq_bytes as nb

F32_RATE = 86.1328125
ROWS = [[1, 2, 3], [1023, 0, 500]]
VOCAB = (1024, 1024, 512)


def _models(seq_len: int = 2) -> dict[str, npq.NpqHeader]:
    common: dict[str, Any] = dict(token_rate=F32_RATE, seq_len=seq_len, vocab_sizes=VOCAB)
    return {
        "NPQ1": npq.Npq1Header(**common, orig_bitrate_kbps=96.0),
        "NPQ2": npq.Npq2Header(**common, orig_bitrate_kbps=96.0, k_mid=2, k_side=1),
        "v0a": npq.NpqLegacyHeader(**common, orig_bitrate_kbps=96.0, layout="v0a"),
        "v0b": npq.NpqLegacyHeader(**common, layout="v0b"),
    }


def _by_hand(name: str) -> bytes:
    """The same headers and payloads, packed by ``tests/npq_bytes.py`` (which knows no table)."""
    if name == "NPQ1":
        return nb.npq1(ROWS, VOCAB, token_rate=F32_RATE, bitrate=96.0)
    if name == "NPQ2":
        return nb.npq2(ROWS, VOCAB, 2, token_rate=F32_RATE, bitrate=96.0)
    if name == "v0a":
        return nb.v0a(ROWS, VOCAB, fps=F32_RATE, bitrate=96.0)
    return nb.v0b(ROWS, VOCAB, fps=F32_RATE)


def test_the_table_has_every_layout_of_the_specs() -> None:
    assert set(LAYOUTS) == {"NPQ1", "NPQ2", "v0a", "v0b"}
    assert set(VERSIONED) == {b"NPQ1", b"NPQ2"} and [lay.name for lay in LEGACY] == ["v0a", "v0b"]
    sizes = {name: layout.header_size(3) for name, layout in LAYOUTS.items()}
    assert sizes == {"NPQ1": 21 + 12, "NPQ2": 24 + 12, "v0a": 20 + 12, "v0b": 16 + 12}


@pytest.mark.parametrize("name", ["NPQ1", "NPQ2", "v0a", "v0b"])
def test_to_bytes_equals_the_hand_packed_header(name: str) -> None:
    header = _models()[name]
    expected = _by_hand(name)
    assert header.byte_layout is LAYOUTS[name]
    assert header.to_bytes() == expected[: header.header_size]
    assert header.file_size == len(expected)


@pytest.mark.parametrize("name", ["NPQ1", "NPQ2", "v0a", "v0b"])
def test_every_layout_reads_back_through_the_parser(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.npq"
    path.write_bytes(_by_hand(name))
    tokens, header = npq.read(path)
    assert header == _models()[name]
    assert tokens.tolist() == ROWS


@pytest.mark.parametrize("name", ["NPQ1", "NPQ2", "v0a", "v0b"])
def test_without_seq_len_ignores_t_and_only_t(name: str) -> None:
    layout = LAYOUTS[name]
    short, long = _models(2).get(name), _models(70_000).get(name)
    assert short is not None and long is not None
    a, b = short.to_bytes(), long.to_bytes()
    assert a != b and layout.without_seq_len(a, len(a)) == layout.without_seq_len(b, len(b))
    assert len(layout.without_seq_len(a, len(a))) == len(a) - 4
    other = short.model_copy(update={"token_rate": 50.0}).to_bytes()
    assert layout.without_seq_len(other, len(other)) != layout.without_seq_len(a, len(a))


@pytest.mark.parametrize("name", ["NPQ1", "NPQ2", "v0a", "v0b"])
def test_unpack_is_the_inverse_of_pack(name: str) -> None:
    layout = LAYOUTS[name]
    data = _models()[name].to_bytes()
    fields = layout.unpack_head(data)
    k = layout.n_codebooks(fields)
    fields = layout.unpack_rest(data, k, fields)
    assert k == 3 and fields["vocab_sizes"] == VOCAB and fields["seq_len"] == 2
    assert layout.pack(fields, fields["vocab_sizes"]) == data
