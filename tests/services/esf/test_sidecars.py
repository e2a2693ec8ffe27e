"""Tests for esf init / add, producers and plugins, and write_sidecar_features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.errors import InputError, UsageError
from audiotok.formats import ecdc, esf
from audiotok.records import FileRecord
from audiotok.services.esf import producers
from audiotok.services.esf import sidecars as esf_sidecars
from audiotok.services.esf.sidecars import SidecarOptions
from tests._records import collect, records_of


def make_codes(path: Path, n_frames: int, n_codebooks: int = 8) -> Path:
    meta = ecdc.EcdcMeta(
        n_codebooks=n_codebooks, n_frames=0, sample_rate=24000, model="encodec_24khz", bandwidth=6.0
    )
    codes = np.random.default_rng(n_frames).integers(0, 1024, (n_frames, n_codebooks))
    ecdc.write(path, codes, meta.model_copy(update={"audio_length": n_frames * 320}))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_codes(tmp_path / "c" / "pitch60_a.ecdc", 10)
    make_codes(tmp_path / "c" / "sub" / "pitch72_b.ecdc", 20)
    return tmp_path / "c"


def _ok(results: list[FileRecord]) -> list[esf_sidecars.SidecarRecord]:
    assert all(isinstance(r, esf_sidecars.SidecarRecord) for r in results), results
    return results  # type: ignore[return-value]


def test_init_then_add_builtins_and_plugin(root: Path, tmp_path: Path) -> None:
    opts = SidecarOptions(audio_root=root)
    summary, first = collect(esf_sidecars.init_paths, opts)
    assert [r.status for r in _ok(first)] == ["written", "written"]
    assert (summary.files_written, summary.files_skipped, summary.files_failed) == (2, 0, 0)
    assert (first[0].input, first[0].output) == (
        str(root / "pitch60_a.ecdc"),
        str(root / "pitch60_a.cond.npy"),
    )
    assert [r.status for r in _ok(records_of(esf_sidecars.init_paths, opts, jobs=2))] == [
        "skipped",
        "skipped",
    ]
    cond, meta = esf.read_sidecar(root / "pitch60_a.cond.npy", root / "pitch60_a.cond.json")
    assert cond.shape == (10, 0) and meta.names == ()
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    (plugdir / "ramp.py").write_text(
        '"""Frame index times k."""\nimport numpy as np\nNAME = "idx"\nCALLS = []\n'
        "def init(options):\n    CALLS.append('init')\n"
        "def produce(path, T, options):\n    return {'idx': np.arange(T) * float(options['k'])}\n"
        "def shutdown():\n    CALLS.append('shutdown')\n"
    )
    chosen = [
        producers.find_producer("const", options={"scene": "7"}),
        producers.find_producer("lin", options={"pos": "0:1"}),
        producers.find_producer("from_filename", options={"regex": r"(?P<name>pitch)(?P<value>\d+)"}),
        producers.find_producer("idx", plugdir, {"k": "2"}),
    ]
    results = _ok(records_of(esf_sidecars.add_paths, opts, chosen))
    assert results[0].names == ["scene", "pos", "pitch", "idx"]
    assert chosen[3].produce_fn.__globals__["CALLS"] == ["init", "shutdown"]
    cond, meta = esf.read_sidecar(root / "sub" / "pitch72_b.cond.npy", root / "sub" / "pitch72_b.cond.json")
    assert cond.shape == (20, 4) and cond.dtype == np.float16
    np.testing.assert_allclose(cond[:, 0], 7)
    np.testing.assert_allclose(cond[[0, -1], 1], [0, 1])
    np.testing.assert_allclose(cond[:, 2], 72)
    np.testing.assert_allclose(cond[:, 3], np.arange(20) * 2)
    again = records_of(esf_sidecars.add_paths, opts.model_copy(update={"skip_errors": True}), chosen[:1])
    assert len(again) == 2 and all(r.status == "failed" and "already exists" in str(r.error) for r in again)
    stopped = records_of(
        esf_sidecars.add_paths, opts, chosen[:1]
    )  # without skip_errors: the first failure ends it
    assert [r.status for r in stopped] == ["failed"]
    _ok(
        records_of(
            esf_sidecars.add_paths,
            opts,
            [producers.find_producer("const", options={"scene": "9"})],
            mode="overwrite",
        )
    )
    cond, meta = esf.read_sidecar(root / "pitch60_a.cond.npy", root / "pitch60_a.cond.json")
    assert meta.names == ("scene", "pos", "pitch", "idx") and float(cond[0, 0]) == 9


def test_add_missing_sidecar_and_mirroring(root: Path, tmp_path: Path) -> None:
    opts = SidecarOptions(audio_root=root, cond_root=tmp_path / "p", dtype="float32")
    const = [producers.find_producer("const", options={"a": "1"})]
    first = records_of(esf_sidecars.add_paths, opts, const)
    assert len(first) == 1 and first[0].status == "failed" and "`create_missing`" in str(first[0].error)
    _ok(records_of(esf_sidecars.add_paths, opts, const, create_missing=True))
    cond, _ = esf.read_sidecar(
        tmp_path / "p" / "sub" / "pitch72_b.cond.npy", tmp_path / "p" / "sub" / "pitch72_b.cond.json"
    )
    assert cond.dtype == np.float32 and cond.shape == (20, 1)


@pytest.mark.parametrize("command", ["init", "add"])
def test_killed_runs_temps_of_both_sidecar_files_are_removed(
    root: Path, tmp_path: Path, command: str
) -> None:
    """What a run killed while writing a pair leaves (``.NAME.<hex>.tmp``, see _fsio) goes on the rerun."""
    cond = tmp_path / "cond"
    opts = SidecarOptions(audio_root=root, cond_root=cond)
    npy, js = opts.pair(root / "sub" / "pitch72_b.ecdc")
    npy.parent.mkdir(parents=True)
    temps = [p.parent / f".{p.name}.{h * 12}.tmp" for p in (npy, js) for h in "ab"]
    others = [npy.parent / ".pitch72_b.wav.aaaaaaaaaaaa.tmp", npy.parent / ".notes.json.aaaaaaaaaaaa.tmp"]
    for p in temps + others:
        p.write_bytes(b"half")
    if command == "init":
        records = records_of(esf_sidecars.init_paths, opts)
    else:
        const = [producers.find_producer("const", options={"a": "1"})]
        records = records_of(esf_sidecars.add_paths, opts, const, create_missing=True)
    assert [r.status for r in _ok(records)] == ["written", "written"]
    assert not any(p.exists() for p in temps) and all(p.exists() for p in others)
    assert esf.read_sidecar(npy, js)[0].shape[0] == 20


def test_manifest_and_shards(root: Path, tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,split\nsub/pitch72_b.ecdc,train\n")
    opts = SidecarOptions(audio_root=root, manifest_csv=tmp_path / "m.csv")
    assert esf_sidecars.find_codes(opts) == [root / "sub" / "pitch72_b.ecdc"]
    shards = [
        esf_sidecars.find_codes(SidecarOptions(audio_root=root, shard_index=i, shard_count=2)) for i in (0, 1)
    ]
    assert sorted(shards[0] + shards[1]) == sorted(esf_sidecars.find_codes(SidecarOptions(audio_root=root)))
    for i in (0, 1):  # init_paths takes the same shards
        sharded = SidecarOptions(audio_root=root, shard_index=i, shard_count=2)
        assert [Path(r.input) for r in records_of(esf_sidecars.init_paths, sharded)] == shards[i]
    manifest = records_of(esf_sidecars.init_paths, opts)
    assert [r.input for r in manifest] == [str(root / "sub" / "pitch72_b.ecdc")]


def test_producer_errors(root: Path, tmp_path: Path) -> None:
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    (plugdir / "short.py").write_text("def produce(path, T, options):\n    return {'x': [1.0]}\n")
    (plugdir / "boom.py").write_text("def produce(path, T, options):\n    raise KeyError('oops')\n")
    (plugdir / "noproduce.py").write_text("X = 1\n")
    with pytest.raises(UsageError, match="no produce"):
        producers.find_producer("short", plugdir)
    (plugdir / "noproduce.py").unlink()
    with pytest.raises(InputError, match="not T = 10"):
        producers.find_producer("short", plugdir).produce(root / "pitch60_a.ecdc", 10)
    with pytest.raises(InputError, match="KeyError"):
        producers.find_producer("boom", plugdir).produce(root / "pitch60_a.ecdc", 10)
    with pytest.raises(UsageError, match="unknown producer"):
        producers.find_producer("nope", plugdir)
    with pytest.raises(UsageError, match="start:end"):
        producers.find_producer("lin", options={"a": "1"}).produce(root / "pitch60_a.ecdc", 10)
    with pytest.raises(InputError, match="found nothing"):
        producers.find_producer("from_filename", options={"regex": "(?P<name>vel)(?P<value>\\d+)"}).produce(
            root / "pitch60_a.ecdc", 10
        )
    names = [i.name for i in producers.list_producers(plugdir)]
    assert names[:4] == ["const", "lin", "from_filename", "from_audio"] and {"short", "boom"} <= set(names)


def test_from_audio_rms_from_source(root: Path, tmp_path: Path) -> None:
    audio_dir = tmp_path / "wav"
    (audio_dir / "sub").mkdir(parents=True)
    x = np.concatenate([np.full(320 * 10, 0.5), np.full(320 * 10, 0.05)]).astype(np.float32)
    sf.write(audio_dir / "sub" / "pitch72_b.wav", x, 24000)
    prod = producers.find_producer(
        "from_audio", options={"audio_dir": str(audio_dir), "audio_root": str(root)}
    )
    rms = prod.produce(root / "sub" / "pitch72_b.ecdc", 20)["rms_db"]
    np.testing.assert_allclose(rms[:9], 20 * np.log10(0.5), atol=0.1)
    np.testing.assert_allclose(rms[11:], 20 * np.log10(0.05), atol=0.1)
    assert producers.rms_db_frames(np.zeros((1, 100)), 320, 2).tolist() == [-160.0, -160.0]


def test_write_sidecar_features_api(root: Path) -> None:
    feats = {
        "gain_db": {"values": np.linspace(-12, 0, 10), "units": "dB", "doc_string": "gain"},
        "scene_id": {"values": np.full(10, 7.0), "min": 0, "max": 10},
        "energy": np.random.default_rng(0).random(10),
    }
    meta = esf_sidecars.write_sidecar_features(root, "pitch60_a.ecdc", feats, fps=75)
    assert meta.names == ("gain_db", "scene_id", "energy") and meta.units == {"gain_db": "dB"}
    assert meta.norm.min[1] == 0 and meta.norm.max[1] == 10 and meta.docs == {"gain_db": "gain"}
    raw = json.loads((root / "pitch60_a.cond.json").read_text())
    assert raw["schema_version"] == 1 and raw["units"] == {"gain_db": "dB"}
    with pytest.raises(InputError, match="already exists"):
        esf_sidecars.write_sidecar_features(root, "pitch60_a.ecdc", {"energy": np.zeros(10)}, mode="append")
    with pytest.raises(InputError, match="outside"):
        esf_sidecars.write_sidecar_features(root, "../escape.ecdc", {"a": np.zeros(10)})
    with pytest.raises(InputError, match="codes T = 10"):
        esf_sidecars.write_sidecar_features(root, "pitch60_a.ecdc", {"a": np.zeros(11)})
    with pytest.raises(InputError, match="no such"):
        esf_sidecars.write_sidecar_features(root, "none.ecdc", {"a": np.zeros(3)}, require_codes=True)
