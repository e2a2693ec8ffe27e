"""``dataset export --format shar``: read back through lhotse (and as NeMo's Magpie-TTS reads it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiotok.errors import UsageError
from audiotok.formats import ecdc, esf, npq
from audiotok.services.dataset import _sources
from audiotok.services.dataset.build import build_dataset
from audiotok.services.dataset.export import export_dataset
from audiotok.services.dataset.inspect import inspect_export
from audiotok.sinks import manifest
from audiotok.sinks.shards import read_index
from audiotok.tokens import CodecInfo, TokenLayout
from tests._token_trees import FPS_DAC, make_esf_tree, make_npq_tree

pytest.importorskip("urllib3")  # lhotse imports it without declaring it
lhotse = pytest.importorskip("lhotse")
REPO = Path(__file__).resolve().parents[2]
# MagpieTTSLhotseDataset's check of supervisions[0].speaker (NeMo's text_to_speech_dataset_lhotse.py,
# check_speaker_format: re.match) and how it reads the dataset's name out of it
NEMO_SPEAKER = r"\| Language:\w+ Dataset:[\w\d\W]+ Speaker:[\w\d\W]+ \|"


def _nemo_dataset_name(speaker: str) -> str:
    return speaker.strip().split()[2].split(":")[-1]


def _cuts(out: Path) -> dict[str, Any]:
    """Every cut of the Shar folder ``out``, by id, read by lhotse the way NeMo's ``shar_path: DIR`` does."""
    return {cut.id: cut for cut in lhotse.CutSet.from_shar(in_dir=str(out))}


def _npq_sources(root: Path) -> dict[str, np.ndarray]:
    return {
        p.relative_to(root).with_suffix("").as_posix(): npq.read(p)[0].astype(np.int64)
        for p in sorted(root.rglob("*.npq"))
    }


def _files(root: Path) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(folder, n), root): Path(folder, n).read_bytes()
        for folder, _, names in os.walk(root)
        for n in names
    }


def _leftovers(*roots: Path) -> list[str]:
    return [n for r in roots for _, _, names in os.walk(r) for n in names if n.endswith((".tmp", ".group"))]


@pytest.fixture
def npq_tree(tmp_path: Path) -> Path:
    root = tmp_path / "npq"
    make_npq_tree(root, 7, folders=3)
    make_npq_tree(root / "stereo", 3, stereo=True, seed=1, folders=1)
    return root


def test_npq_reads_back_code_for_code(npq_tree: Path, tmp_path: Path) -> None:
    info = CodecInfo("dac-44khz", "dac", 44100, 44100, 1, 512, TokenLayout.uniform(8, 1024), "ab" * 32)
    manifest.record(npq_tree, info, "npq", "0.0.1")
    out = tmp_path / "shar"
    summary = export_dataset(npq_tree, out, format="shar", max_shard_items=3)
    sources = _npq_sources(npq_tree)
    assert summary.finished and summary.written == len(sources) == 10 and summary.shards == 4
    names = sorted(os.listdir(out))  # nothing but the shards: from_shar(in_dir=...) takes every entry
    assert names == sorted(
        [f"codes.{i:06d}.tar" for i in range(4)] + [f"cuts.{i:06d}.jsonl.gz" for i in range(4)]
    )
    assert (tmp_path / "shar.audiotok" / "index.json").is_file()  # receipts and index beside it
    cuts = _cuts(out)
    assert set(cuts) == set(sources)
    for key, codes in sources.items():
        cut = cuts[key]
        got = cut.load_custom("codes")
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, codes)  # (T, K)
        assert (cut.codes.temporal_dim, cut.codes.frame_shift) == (0, 512 / 44100)
        assert cut.custom["codec"]["weights_sha256"] == "ab" * 32 and cut.custom["n_frames"] == len(codes)
        assert cut.custom["source"] == str(npq_tree / f"{key}.npq")
        assert cut.duration == pytest.approx(len(codes) / FPS_DAC)
    assert cuts["stereo/d0/clip000"].load_custom("codes").shape[1] == 8  # Mid then Side codebooks


def test_esf_with_and_without_sidecars_and_a_recording_to_truncate(tmp_path: Path) -> None:
    src = tmp_path / "esf"
    paths = make_esf_tree(src, 5)
    for sidecar in esf.sidecar_paths(src / "s0" / "take000.ecdc"):
        sidecar.unlink()
    audio = tmp_path / "wav"
    listing = tmp_path / "list.jsonl"
    lines = [
        {"path": os.path.relpath(p, tmp_path), "audio": f"wav/{p.stem}.flac", "text": f"words {i}"}
        for i, p in enumerate(paths)
    ]
    listing.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "shar"
    summary = export_dataset(src, out, format="shar", max_shard_items=2, from_list=listing)
    assert summary.finished and summary.written == 5 and summary.source == "esf"
    assert sorted(n.split(".")[0] for n in os.listdir(out) if ".000000." in n) == ["codes", "cond", "cuts"]
    cuts = _cuts(out)
    for i, p in enumerate(paths):
        key = p.relative_to(src).with_suffix("").as_posix()
        cut = cuts[key]
        if esf.sidecar_paths(p)[0].exists():
            codes, cond, _, _ = esf.read_triplet(p)
            np.testing.assert_array_equal(cut.load_custom("cond"), cond.astype(np.float32))
            assert cut.custom["cond_names"] == ["f0", "f1"]
        else:
            codes = ecdc.read(p)[0]
            assert not cut.has_custom("cond")  # lhotse's placeholder pair: no cond for this cut
        np.testing.assert_array_equal(cut.load_custom("codes"), codes)
        assert cut.supervisions[0].text == f"words {i}"
        assert cut.recording.sources[0].source == str(audio / f"{p.stem}.flac")  # pointed at, not copied
        assert cut.recording.sampling_rate == 24000 and cut.recording.num_samples == len(codes) * 320
        half = cut.truncate(duration=cut.duration / 2)  # lhotse's partial load slices axis 0: time
        np.testing.assert_array_equal(half.load_custom("codes"), codes[: len(half.load_custom("codes"))])
        assert 0 < len(half.load_custom("codes")) < len(codes)
    assert not (audio).exists()


def test_nemo_preset_loads_as_magpie_tts_reads_it(npq_tree: Path, tmp_path: Path) -> None:
    sources = _npq_sources(npq_tree)
    keys = sorted(sources)
    listing = npq_tree / "items.jsonl"  # paths of the audio the tokens were encoded from, as encode's list
    rows = [
        {
            "path": f"{k}.wav",
            "text": f"text {k}",
            "speaker": f"spk {n % 2}",
            "language": "de",
            "dataset": "Hi TTS",
        }
        for n, k in enumerate(keys)
    ]
    rows[0].pop("speaker")  # defaulted: Speaker:unknown, one note
    rows[1].pop("text")  # left out: NeMo needs a transcript, one note
    rows[2]["language"] = "de-DE"  # not NeMo's \w+: left out
    listing.write_text("# items\n" + "".join(json.dumps(r) + "\n" for r in rows[:-1]))  # the last not listed
    out = tmp_path / "magpie"
    summary = export_dataset(npq_tree, out, format="shar", preset="nemo", from_list=listing)
    left = {f.path: f.error for f in summary.left_out}
    assert set(left) == {str(npq_tree / f"{k}.npq") for k in (keys[1], keys[2], keys[-1])}
    assert "no text" in left[str(npq_tree / f"{keys[1]}.npq")]
    assert "not in --from-list" in left[str(npq_tree / f"{keys[-1]}.npq")]
    assert [(n.path, n.error) for n in summary.notes] == [
        (str(npq_tree / f"{keys[0]}.npq"), "--from-list gives no speaker: wrote speaker unknown")
    ]
    assert sorted(os.listdir(out)) == ["cuts.000000.jsonl.gz", "target_codes.000000.tar"]
    cuts = _cuts(out)
    assert set(cuts) == set(keys[3:-1]) | {keys[0]}
    for key, cut in cuts.items():
        # MagpieTTSLhotseDataset: the whole array, (C, T), then its speaker check and the transcript
        codes = cut.target_codes.load().astype(np.int32)
        np.testing.assert_array_equal(codes, sources[key].T)
        assert cut.target_codes.temporal_dim == -1 and cut.has_custom("target_codes")
        speaker = cut.supervisions[0].speaker
        assert re.match(NEMO_SPEAKER, speaker) is not None and _nemo_dataset_name(speaker) == "Hi_TTS"
        n = keys.index(key)
        expected = "unknown" if n == 0 else f"spk {n % 2}"
        assert speaker == f"| Language:de Dataset:Hi_TTS Speaker:{expected} |"  # no space: NeMo splits on it
        assert cut.supervisions[0].text == f"text {key}" and cut.supervisions[0].language == "de"
        assert cut.recording is None  # no tokens.json: the sample rate is unknown, so no Recording


def test_nemo_needs_the_list_and_shar_one_split(npq_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs --from-list"):
        export_dataset(npq_tree, tmp_path / "a", format="shar", preset="nemo")
    untexted = tmp_path / "untexted.jsonl"
    untexted.write_text('{"path": "npq/d0/clip000.npq", "speaker": "s"}\n')
    with pytest.raises(UsageError, match="no item of the source a text"):
        export_dataset(npq_tree, tmp_path / "a", format="shar", preset="nemo", from_list=untexted)
    assert not (tmp_path / "a").exists()  # refused before anything is written
    with pytest.raises(UsageError, match="Shar exports only"):
        export_dataset(npq_tree, tmp_path / "b", format="parquet", from_list=npq_tree / "x.jsonl")
    built = tmp_path / "built"
    build_dataset(npq_tree, built, recursive=True, valid_fraction=0.3, seed=1)
    with pytest.raises(UsageError, match="one split"):
        export_dataset(built, tmp_path / "c", format="shar")
    assert not (tmp_path / "c").exists() and not (tmp_path / "c.audiotok").exists()


def test_snac_levels_are_fields_and_flatten_is_an_array(tmp_path: Path, write_npq) -> None:
    src = tmp_path / "snac"
    layout = TokenLayout((4096,) * 3, (4, 2, 1))
    manifest.record(src, CodecInfo("snac-24khz", "snac", 24000, 24000, 1, 512, layout), "npq", "0.0.1")
    write_npq(src / "a.npq", seq_len=3, vocab_sizes=layout.row_vocab_sizes, token_rate=24000 / 2048)
    write_npq(src / "b.npq", seq_len=5, vocab_sizes=layout.row_vocab_sizes, token_rate=24000 / 2048, seed=3)
    out = tmp_path / "shar"
    export_dataset(src, out, format="shar", flatten="orpheus")
    cuts = _cuts(out)
    for key, rows in _npq_sources(src).items():
        for k, level in enumerate(layout.from_rows(rows)):
            np.testing.assert_array_equal(cuts[key].load_custom(f"codes_{k}"), level)
            assert getattr(cuts[key], f"codes_{k}").frame_shift == pytest.approx(512 * (4, 2, 1)[k] / 24000)
        assert not cuts[key].has_custom("codes")  # never one flattened array
        tokens = cuts[key].load_custom("tokens")
        assert tokens.dtype == np.int32 and tokens.shape == (7 * len(rows),)
        assert tokens[0] == layout.from_rows(rows)[0][0]  # c0[0] first, offset 0 (Orpheus's 7-token frames)


def test_exception_mid_shard_leaves_no_torn_shard_and_rerun_matches(
    npq_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = tmp_path / "clean"
    export_dataset(npq_tree, clean, format="shar", max_shard_items=3)
    out = tmp_path / "out"
    real_load = _sources.Sources.load
    calls = {"n": 0}

    def failing_load(self: _sources.Sources, ref: _sources.SourceRef, key: str):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:  # the second item of the second shard
            raise RuntimeError("disk on fire")
        return real_load(self, ref, key)

    monkeypatch.setattr(_sources.Sources, "load", failing_load)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_dataset(npq_tree, out, format="shar", max_shard_items=3)
    assert _leftovers(out, tmp_path / "out.audiotok") == []
    assert sorted(os.listdir(out)) == ["codes.000000.tar", "cuts.000000.jsonl.gz"]  # the first, whole
    assert len(_cuts(out)) == 3 and read_index(out) is None
    monkeypatch.setattr(_sources.Sources, "load", real_load)
    summary = export_dataset(npq_tree, out, format="shar", max_shard_items=3)
    assert (summary.skipped, summary.written, summary.shards_written) == (3, 7, 3)
    assert _files(out) == _files(clean)  # every shard byte for byte
    assert _leftovers(out, tmp_path / "out.audiotok") == []


_KILLER = textwrap.dedent(
    """
    import os, sys
    from audiotok.sinks import shar
    real_add = shar._Writer.add
    n = {"items": 0}
    def add(self, item):
        real_add(self, item)
        n["items"] += 1
        if n["items"] == 5:
            self.cuts.flush()
            os._exit(9)  # as kill -9: no cleanup runs
    shar._Writer.add = add
    from audiotok.services.dataset.export import export_dataset
    export_dataset(sys.argv[1], sys.argv[2], format="shar", max_shard_items=3)
    """
)


def test_killed_run_leaves_no_readable_torn_shard_and_the_rerun_finishes(
    npq_tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, str(npq_tree), str(out)], env=env, capture_output=True, check=False
    )
    assert proc.returncode == 9, proc.stderr.decode()
    assert len(_leftovers(out)) == 2  # the second shard's temporary cuts and codes files, hidden
    assert sorted(n for n in os.listdir(out) if not n.startswith(".")) == [
        "codes.000000.tar",
        "cuts.000000.jsonl.gz",
    ]
    summary = export_dataset(npq_tree, out, format="shar", max_shard_items=3)
    assert summary.finished and summary.skipped == 3 and _leftovers(out, tmp_path / "out.audiotok") == []
    clean = tmp_path / "clean"
    export_dataset(npq_tree, clean, format="shar", max_shard_items=3)
    assert _files(out) == _files(clean)
    assert set(_cuts(out)) == set(_npq_sources(npq_tree))


def test_a_changed_list_line_rewrites_its_shard_and_inspect_reads_the_index(
    npq_tree: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "items.jsonl"
    keys = sorted(_npq_sources(npq_tree))
    listing.write_text("".join(json.dumps({"path": f"npq/{k}.npq", "text": "a"}) + "\n" for k in keys))
    out = tmp_path / "shar"
    export_dataset(npq_tree, out, format="shar", max_shard_items=4, from_list=listing)
    listing.write_text(
        "".join(
            json.dumps({"path": f"npq/{k}.npq", "text": "b" if k == keys[5] else "a"}) + "\n" for k in keys
        )
    )
    again = export_dataset(npq_tree, out, format="shar", max_shard_items=4, from_list=listing)
    assert (again.shards_written, again.skipped) == (1, 6)  # only the second shard (items 4..7)
    assert _cuts(out)[keys[5]].supervisions[0].text == "b"
    info = inspect_export(out)
    assert info is not None and (info.format, info.items, info.shards) == ("shar", 10, 3)
    assert info.columns == ["codes", "cuts"]


def test_shard_index_runs_write_disjoint_shards_and_the_last_writes_the_index(
    npq_tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "shar"
    first = export_dataset(npq_tree, out, format="shar", max_shard_items=3, shard=(1, 2))
    assert not first.finished and read_index(out) is None
    assert sorted(os.listdir(out)) == [
        "codes.000001.tar", "codes.000003.tar", "cuts.000001.jsonl.gz", "cuts.000003.jsonl.gz"
    ]  # fmt: skip
    second = export_dataset(npq_tree, out, format="shar", max_shard_items=3, shard=(0, 2))
    assert second.finished and first.written + second.written == 10
    sources = _npq_sources(npq_tree)
    cuts = _cuts(out)
    assert set(cuts) == set(sources)
    for key, codes in sources.items():
        np.testing.assert_array_equal(cuts[key].load_custom("codes"), codes)


def test_a_cut_spans_every_row_of_its_codes(tmp_path: Path) -> None:
    """Codes cover the audio's last, padded frame: the cut spans all T rows, so lhotse loads them all."""
    src = tmp_path / "esf"
    t = 9
    meta = ecdc.EcdcMeta(n_codebooks=2, n_frames=t, sample_rate=24000, fps=75.0, bandwidth=1.5,
                         model="encodec_24khz", audio_length=t * 320 - 250)  # fmt: skip
    codes = np.random.default_rng(0).integers(0, 1024, (t, 2))
    src.mkdir()
    ecdc.write(src / "x.ecdc", codes, meta)
    out = tmp_path / "shar"
    export_dataset(src, out, format="shar")
    cut = _cuts(out)["x"]
    assert cut.duration == pytest.approx(t / 75) and cut.duration > (t * 320 - 250) / 24000
    np.testing.assert_array_equal(cut.load_custom("codes"), codes)  # 9 rows, not round(8.2) = 8
