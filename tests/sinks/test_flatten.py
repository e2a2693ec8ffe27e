"""``--flatten``: LM-ready streams (per-codebook offsets; Orpheus's 7-token SNAC frames), beside the codes."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest

from audiotok.errors import UsageError
from audiotok.formats import npq
from audiotok.services.dataset.export import export_dataset
from audiotok.sinks import manifest
from audiotok.sinks.flatten import check_flatten, flatten_codes
from audiotok.sinks.shards import ShardIdentity
from audiotok.tokens import CodecInfo, Codes, TokenLayout

SNAC = TokenLayout((4096,) * 3, (4, 2, 1))
SNAC_ID = ShardIdentity("snac-24khz", 24000 / 2048, SNAC.vocab_sizes, SNAC.strides)


def _levels(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return tuple(rng.integers(0, 4096, n * m) for m in (1, 2, 4))


def _orpheus_by_hand(c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> list[int]:
    """The 7-token frames as Orpheus-TTS's README and decoder write them, one value at a time."""
    out: list[int] = []
    for i in range(len(c0)):
        frame = [c0[i], c1[2 * i], c2[4 * i], c2[4 * i + 1], c1[2 * i + 1], c2[4 * i + 2], c2[4 * i + 3]]
        out += [int(code) + position * 4096 for position, code in enumerate(frame)]
    return out


def _orpheus_decode(tokens: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """Orpheus's ``redistribute_codes``: what its decoder does with the stream."""
    l1: list[int] = []
    l2: list[int] = []
    l3: list[int] = []
    for i in range(len(tokens) // 7):
        f = [int(t) - p * 4096 for p, t in enumerate(tokens[7 * i : 7 * i + 7])]
        l1.append(f[0])
        l2 += [f[1], f[4]]
        l3 += [f[2], f[3], f[5], f[6]]
    return l1, l2, l3


def test_orpheus_order_and_offsets() -> None:
    levels = _levels(5)
    tokens = flatten_codes(Codes(levels), SNAC_ID, "orpheus")
    assert tokens.dtype == np.int32 and tokens.tolist() == _orpheus_by_hand(*levels)
    back = _orpheus_decode(tokens)
    for got, level in zip(back, levels, strict=True):
        assert got == level.tolist()


def test_offsets_rectangular_and_strided() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 1024, (6, 3))
    ident = ShardIdentity("dac", 86.1, (1024, 1024, 1024), (1, 1, 1))
    tokens = flatten_codes(Codes(codes), ident, "offsets")
    expected = [int(codes[t, k]) + 1024 * k for t in range(6) for k in range(3)]
    assert tokens.tolist() == expected
    levels = _levels(2, seed=2)
    snac = flatten_codes(Codes(levels), SNAC_ID, "offsets")
    c0, c1, c2 = levels
    by_hand = []
    for r in range(2):
        by_hand += [int(c0[r])] + [int(c1[2 * r + j]) + 4096 for j in range(2)]
        by_hand += [int(c2[4 * r + j]) + 8192 for j in range(4)]
    assert snac.tolist() == by_hand


def test_orpheus_is_refused_for_other_layouts() -> None:
    with pytest.raises(UsageError, match="SNAC 24 kHz"):
        check_flatten(ShardIdentity("dac-44khz", 86.1, (1024,) * 9, (1,) * 9), "orpheus")
    with pytest.raises(UsageError, match="vocabulary"):
        check_flatten(ShardIdentity("?", 86.1, None, ()), "offsets")
    check_flatten(SNAC_ID, "orpheus")


@pytest.mark.parametrize("fmt", ["parquet", "webdataset"])
def test_export_with_orpheus_stream(tmp_path: Path, fmt: str) -> None:
    wds = pytest.importorskip("webdataset")
    src = tmp_path / "snac"
    manifest.record(src, CodecInfo("snac-24khz", "snac", 24000, 24000, 1, 512, SNAC), "npq", "0.0.1")
    rng = np.random.default_rng(3)
    sources = {}
    for name, n in (("a", 3), ("b", 4)):
        rows = rng.integers(0, 4096, (n, 7))
        header = npq.Npq1Header(token_rate=24000 / 2048, seq_len=n, vocab_sizes=SNAC.row_vocab_sizes)
        npq.write(src / f"{name}.npq", rows, header)
        sources[name] = SNAC.from_rows(rows)
    out = tmp_path / fmt
    assert export_dataset(src, out, format=fmt, flatten="orpheus").finished
    if fmt == "parquet":
        ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
        got = {row["id"]: row["tokens"] for row in ds}
        assert ds.features["tokens"] == datasets.List(datasets.Value("int32"))
    else:
        pipeline = wds.WebDataset(str(out / "shard-000000.tar"), shardshuffle=False).decode()
        got = {s["json"]["id"]: s["tokens.npy"].tolist() for s in pipeline}
    assert got == {name: _orpheus_by_hand(*levels) for name, levels in sources.items()}
    with pytest.raises(UsageError, match="codec-bpe"):
        export_dataset(src, tmp_path / "bpe", format="codec-bpe", flatten="offsets")
