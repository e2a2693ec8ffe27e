"""``dataset export``: every format read back through its own library equals the source token files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest

from audiotok.errors import UsageError
from audiotok.formats import ecdc, esf, npq
from audiotok.services.dataset.build import build_dataset
from audiotok.services.dataset.export import export_dataset
from audiotok.services.dataset.inspect import inspect_export
from audiotok.sinks import manifest
from audiotok.tokens import CodecInfo, TokenLayout
from tests._token_trees import FPS_DAC, make_esf_tree, make_npq_tree

wds = pytest.importorskip("webdataset")


def _npq_sources(root: Path) -> dict[str, np.ndarray]:
    """id -> codes ``[T, K]`` of every .npq under ``root`` (read by audiotok's format layer)."""
    return {
        p.relative_to(root).with_suffix("").as_posix(): npq.read(p)[0].astype(np.int64)
        for p in sorted(root.rglob("*.npq"))
    }


def _esf_sources(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for p in sorted(root.rglob("*.ecdc")):
        key = p.relative_to(root).with_suffix("").as_posix()
        if esf.sidecar_paths(p)[0].exists():
            codes, cond, _, _ = esf.read_triplet(p)
            out[key] = (codes, cond.astype(np.float32))
        else:
            out[key] = (ecdc.read(p)[0], None)
    return out


def _parquet_rows(out: Path, *, streaming: bool) -> dict[str, dict[str, Any]]:
    ds = datasets.load_dataset(str(out), split="train", streaming=streaming)
    return {row["id"]: row for row in ds}


def _wds_samples(out: Path) -> dict[str, dict[str, Any]]:
    shards = sorted(str(p) for p in out.glob("shard-*.tar"))
    pipeline = wds.WebDataset(shards, shardshuffle=False).decode()
    return {s["json"]["id"]: s for s in pipeline}


@pytest.fixture
def npq_tree(tmp_path: Path) -> Path:
    root = tmp_path / "npq"
    make_npq_tree(root, 7, folders=3)
    make_npq_tree(root / "stereo", 3, stereo=True, seed=1, folders=1)
    return root


@pytest.mark.parametrize("streaming", [False, True])
def test_parquet_of_npq_reads_back_code_for_code(npq_tree: Path, tmp_path: Path, streaming: bool) -> None:
    out = tmp_path / "pq"
    summary = export_dataset(npq_tree, out, format="parquet", max_shard_items=3)
    sources = _npq_sources(npq_tree)
    assert summary.finished and summary.written == len(sources) == 10 and not summary.failures
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        f"train-{i:05d}-of-00004.parquet" for i in range(4)
    ]
    rows = _parquet_rows(out, streaming=streaming)
    assert set(rows) == set(sources)
    for key, codes in sources.items():
        row = rows[key]
        got = np.array(row["codes"], dtype=np.int64).reshape(row["n_codebooks"], row["n_frames"])
        np.testing.assert_array_equal(got, codes.T)  # [K][T]
        assert row["n_frames"] == codes.shape[0] and row["source"] == str(npq_tree / f"{key}.npq")
        assert row["duration_s"] == pytest.approx(codes.shape[0] / FPS_DAC)
    stereo = rows["stereo/d0/clip000"]
    assert stereo["groups"] == [4, 4]  # Mid then Side codebooks


def test_a_new_export_is_not_read_from_the_cache(tmp_path: Path) -> None:
    """Two exports to folders of one name, read through one cache: each reads its own rows."""
    cache = tmp_path / "hf-cache"
    for n in (1, 2):
        src = tmp_path / f"run{n}" / "npq"
        make_npq_tree(src, 3 + n, seed=n)
        out = tmp_path / f"run{n}" / "pq"
        export_dataset(src, out, format="parquet")
        rows = datasets.load_dataset(str(out), split="train", cache_dir=str(cache))
        assert len(rows) == 3 + n and rows[0]["source"].startswith(str(src))


def test_parquet_schema_card_and_identity(npq_tree: Path, tmp_path: Path) -> None:
    info = CodecInfo("dac-44khz", "dac", 44100, 44100, 1, 512, TokenLayout.uniform(9, 1024), "ab" * 32)
    manifest.record(npq_tree, info, "npq", "0.0.1")
    out = tmp_path / "pq"
    export_dataset(npq_tree, out, format="parquet", command="audiotok dataset export npq pq")
    import pyarrow.parquet as pq

    shard = next((out / "data").glob("*.parquet"))
    schema = pq.read_schema(shard)
    assert str(schema.field("codes").type) == "list<element: list<element: uint16>>"
    ident = json.loads(schema.metadata[b"audiotok"])
    assert ident["codec"] == "dac-44khz" and ident["weights_sha256"] == "ab" * 32
    card = (out / "README.md").read_text()
    assert (
        card.startswith("---\ndataset_info:")
        and "ab" * 32 in card
        and "audiotok dataset export npq pq" in card
    )
    builder = datasets.load_dataset_builder(str(out))
    assert builder.info.features["codes"] == datasets.List(datasets.List(datasets.Value("uint16")))


@pytest.mark.parametrize("fmt", ["parquet", "webdataset"])
def test_esf_with_and_without_sidecars(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "esf"
    make_esf_tree(src, 5)
    bare = src / "s0" / "take000.ecdc"
    for sidecar in esf.sidecar_paths(bare):
        sidecar.unlink()  # one .ecdc without sidecars
    out = tmp_path / fmt
    summary = export_dataset(src, out, format=fmt, max_shard_items=2)
    assert summary.finished and summary.written == 5 and summary.source == "esf"
    sources = _esf_sources(src)
    got = _parquet_rows(out, streaming=False) if fmt == "parquet" else _wds_samples(out)
    assert set(got) == set(sources)
    for key, (codes, cond) in sources.items():
        item = got[key]
        if fmt == "parquet":
            np.testing.assert_array_equal(np.array(item["codes"]).T, codes)
            got_cond = None if item["cond"] is None else np.array(item["cond"], np.float32)
        else:
            assert item["codes.npy"].dtype == np.uint16
            np.testing.assert_array_equal(item["codes.npy"], codes)  # (T, K)
            got_cond = item.get("cond.npy")
            assert item["json"]["codec"]["codec"] == "encodec_24khz"
        if cond is None:
            assert got_cond is None
        else:
            np.testing.assert_array_equal(got_cond, cond)


def test_webdataset_keys_are_safe_and_unique(tmp_path: Path, write_npq) -> None:
    src = tmp_path / "npq"
    write_npq(src / "LJ001-0001.v2.npq", seq_len=5)
    write_npq(src / "LJ001-0001_v2.npq", seq_len=6, seed=1)  # the same safe key: made unique
    write_npq(src / "sub" / "a.b.npq", seq_len=7, seed=2)
    out = tmp_path / "wds"
    export_dataset(src, out, format="webdataset")
    samples = _wds_samples(out)
    assert set(samples) == {"LJ001-0001.v2", "LJ001-0001_v2", "sub/a.b"}
    keys = [s["__key__"] for s in samples.values()]
    assert len(set(keys)) == 3 and not any("." in k or "/" in k for k in keys)
    for key, codes in _npq_sources(src).items():
        np.testing.assert_array_equal(samples[key]["codes.npy"], codes)
        assert samples[key]["json"]["n_frames"] == codes.shape[0]
    assert json.loads((out / "audiotok.json").read_text())["items"] == 3


def test_codec_bpe_reads_the_folder(npq_tree: Path, tmp_path: Path) -> None:
    codec_bpe = pytest.importorskip("codec_bpe.core.utils")
    trainer = pytest.importorskip("codec_bpe.core.trainer")
    mono = tmp_path / "mono"
    make_npq_tree(mono, 5)
    out = tmp_path / "bpe"
    summary = export_dataset(mono, out, format="codec-bpe")
    empty = str(mono / "d1" / "clip001.npq")  # T = 0: codec-bpe's trainer fails on such a file
    assert summary.finished and summary.written == 4 and [f.path for f in summary.left_out] == [empty]
    info = codec_bpe.get_codec_info(str(out))
    assert (info["num_codebooks"], info["codebook_size"], info["framerate"]) == (4, 1024, FPS_DAC)
    files = codec_bpe.get_codes_files(str(out))
    sources = {k: v for k, v in _npq_sources(mono).items() if len(v)}
    assert len(files) == len(sources) == 4
    for key, codes in sources.items():
        path = str(out / f"{key}_c0.npy")
        assert path in files
        got = np.load(path)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, codes.T)  # (K, T)
    # codec-bpe's own trainer walks the folder (offsets added in place: int32 holds them)
    bpe = trainer.Trainer(
        4, 1024, codec_framerate=FPS_DAC, chunk_size_secs=30, vocab_size=4 * 1024 + 10, pad_token="<pad>"
    )  # chunks of 30 s, as its README advises (else it warns)
    tok = bpe.train(str(out))
    assert len(tok) >= 4 * 1024
    again = export_dataset(mono, out, format="codec-bpe")
    assert (again.written, again.skipped) == (0, 4)
    first = mono / "d0" / "clip000.npq"
    os.utime(first, ns=(first.stat().st_atime_ns, (out / "d0" / "clip000_c0.npy").stat().st_mtime_ns + 10**9))
    assert export_dataset(mono, out, format="codec-bpe").written == 1  # a newer source is written again


def test_codec_bpe_refuses_strided_codes(tmp_path: Path, write_npq) -> None:
    src = tmp_path / "snac"
    layout = TokenLayout((4096,) * 3, (4, 2, 1))
    manifest.record(src, CodecInfo("snac-24khz", "snac", 24000, 24000, 1, 512, layout), "npq", "0.0.1")
    write_npq(src / "a.npq", seq_len=3, vocab_sizes=layout.row_vocab_sizes, token_rate=24000 / 2048)
    with pytest.raises(UsageError, match="different rates"):
        export_dataset(src, tmp_path / "bpe", format="codec-bpe")


@pytest.mark.parametrize("fmt", ["parquet", "webdataset"])
def test_snac_levels_are_separate_columns(tmp_path: Path, write_npq, fmt: str) -> None:
    src = tmp_path / "snac"
    layout = TokenLayout((4096,) * 3, (4, 2, 1))
    manifest.record(src, CodecInfo("snac-24khz", "snac", 24000, 24000, 1, 512, layout), "npq", "0.0.1")
    write_npq(src / "a.npq", seq_len=3, vocab_sizes=layout.row_vocab_sizes, token_rate=24000 / 2048)
    write_npq(src / "b.npq", seq_len=5, vocab_sizes=layout.row_vocab_sizes, token_rate=24000 / 2048, seed=3)
    out = tmp_path / fmt
    export_dataset(src, out, format=fmt)
    got = _parquet_rows(out, streaming=True) if fmt == "parquet" else _wds_samples(out)
    for key, rows in _npq_sources(src).items():
        levels = layout.from_rows(rows)
        assert [len(level) for level in levels] == [rows.shape[0], 2 * rows.shape[0], 4 * rows.shape[0]]
        for k, level in enumerate(levels):
            name = f"codes_{k}" if fmt == "parquet" else f"codes_{k}.npy"
            np.testing.assert_array_equal(np.asarray(got[key][name]), level)
        assert "codes" not in got[key] and "codes.npy" not in got[key]  # never one flattened array


def test_dataset_build_output_exports_its_splits(npq_tree: Path, tmp_path: Path) -> None:
    built = tmp_path / "built"
    build_dataset(npq_tree, built, recursive=True, valid_fraction=0.3, seed=1)
    out = tmp_path / "pq"
    summary = export_dataset(built, out, format="parquet")
    assert summary.source == "dataset" and summary.finished
    reference = datasets.load_from_disk(str(built))
    exported = datasets.load_dataset(str(out))
    assert set(exported) == set(reference) == {"train", "valid"}
    sources = _npq_sources(npq_tree)
    for split in reference:
        assert len(exported[split]) == len(reference[split])
        for row in exported[split]:
            np.testing.assert_array_equal(np.array(row["codes"]).T, sources[row["id"]])


def test_esf_dataset_build_output_keeps_cond(tmp_path: Path) -> None:
    src = tmp_path / "esf"
    make_esf_tree(src, 4)
    built = tmp_path / "built"
    build_dataset(src, built, recursive=True)
    out = tmp_path / "wds"
    assert export_dataset(built, out, format="webdataset").finished
    samples = _wds_samples(out)
    for key, (codes, cond) in _esf_sources(src).items():
        np.testing.assert_array_equal(samples[key]["codes.npy"], codes)
        np.testing.assert_array_equal(samples[key]["cond.npy"], cond)
        assert samples[key]["json"]["source"].startswith(f"{built}#train/")


def test_bad_file_is_reported_and_the_rest_exported(npq_tree: Path, tmp_path: Path) -> None:
    bad = npq_tree / "d0" / "broken.npq"
    bad.write_bytes(b"NPQ1 not really")
    out = tmp_path / "pq"
    summary = export_dataset(npq_tree, out, format="parquet")
    assert [f.path for f in summary.failures] == [str(bad)] and summary.failures[0].error
    assert summary.written == 10 and summary.finished
    assert len(_parquet_rows(out, streaming=False)) == 10


def test_refuses_a_folder_that_is_not_an_export(npq_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="no audiotok export"):
        export_dataset(npq_tree, out, format="parquet")
    assert os.listdir(out) == ["notes.txt"]


@pytest.mark.parametrize("fmt", ["parquet", "webdataset", "codec-bpe"])
def test_inspect_reads_the_index_of_every_format(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "npq"
    make_npq_tree(src, 5)
    out = tmp_path / fmt
    assert inspect_export(out) is None  # not an export (yet)
    export_dataset(src, out, format=fmt, max_shard_items=2)
    info = inspect_export(out)
    assert info is not None and info.format == fmt
    sources = [c for c in _npq_sources(src).values() if fmt != "codec-bpe" or len(c)]
    frames = sum(c.shape[0] for c in sources)
    assert (info.items, info.total_frames, info.splits) == (len(sources), frames, {"train": len(sources)})
    assert info.hours == pytest.approx(frames / FPS_DAC / 3600)
    expected = {"parquet": (3, "codes"), "webdataset": (3, "codes.npy"), "codec-bpe": (0, None)}[fmt]
    assert info.shards == expected[0] and (expected[1] is None or expected[1] in info.columns)


def test_one_wide_vocabulary_widens_every_shard(tmp_path: Path, write_npq) -> None:
    src = tmp_path / "npq"
    write_npq(src / "a.npq", seq_len=4, vocab_sizes=(1024, 1024))
    write_npq(src / "b.npq", seq_len=5, vocab_sizes=(70_000, 1024), seed=4)  # needs uint32
    out = tmp_path / "wds"
    export_dataset(src, out, format="webdataset")
    samples = _wds_samples(out)
    sources = _npq_sources(src)
    assert int(sources["b"].max()) > 65_535  # a code uint16 would wrap
    for key, codes in sources.items():
        assert samples[key]["codes.npy"].dtype == np.uint32
        np.testing.assert_array_equal(samples[key]["codes.npy"], codes)


@pytest.mark.parametrize("kind", ["npq", "esf"])
def test_a_paths_only_dataset_exports_the_files_its_rows_name(tmp_path: Path, kind: str) -> None:
    src = tmp_path / kind
    (make_npq_tree if kind == "npq" else make_esf_tree)(src, 4)
    built = tmp_path / "built"
    build_dataset(src, built, recursive=True, embed=False)  # audio column only, tokens/ linked
    out = tmp_path / "wds"
    summary = export_dataset(built, out, format="webdataset")
    assert summary.source == "dataset" and summary.written == 4 and not summary.failures
    samples = _wds_samples(out)
    sources = _npq_sources(src) if kind == "npq" else {k: v[0] for k, v in _esf_sources(src).items()}
    assert set(samples) == set(sources)
    for key, codes in sources.items():
        np.testing.assert_array_equal(samples[key]["codes.npy"], codes)
        assert samples[key]["json"]["source"].startswith(str(built))
