"""SNAC (the ``snac`` package): chunked, batched encodes equal ``SNAC.encode`` of the whole file; rows.

The reference is ``SNAC.encode`` of each whole file, one at a time, on the
same random model (codebooks spread: ``tests/_snac.py``); every fixture
signal is checked to give varied codes first, so that equality can fail.
Codes with strides travel as rows (``[T0, 1 + 2 + 4]`` at 24 kHz), one per
coarsest frame, and come back as levels.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.codecs import registry
from audiotok.codecs.batch import StreamEncoder
from audiotok.codecs.chunking import plan_chunks
from audiotok.codecs.stream import encode_source
from audiotok.codecs.streams import Encoded, Stream
from audiotok.errors import ModelError
from audiotok.tokens import Codes, TokenLayout
from tests._hub import in_hub_cache
from tests._snac import TINY_SNAC_24, TINY_SNAC_32, build_snac, save_snac
from tests.conformance._models import ArraySource, noise_chirp

pytest.importorskip("snac")

#: Codes a chunked encode may flip per file: its latents equal the whole file's to float32 rounding (often
#: bit for bit; some convolutions' blocking depends on the input length), which can tip a quantizer
#: near-tie of the random fixture's crowded codebooks (README, SNAC); the latents are the exact check.
MAX_CODE_FLIPS = 4


# -- rows --------------------------------------------------------------------------------------------------


def test_rows_hold_each_coarse_frame_level_by_level_in_time_order() -> None:
    layout = TokenLayout((4096,) * 3, (4, 2, 1))
    levels = (np.array([0, 1]), np.array([10, 11, 12, 13]), np.arange(100, 108))
    rows = layout.to_rows(levels)
    assert rows.tolist() == [[0, 10, 11, 100, 101, 102, 103], [1, 12, 13, 104, 105, 106, 107]]
    assert [a.tolist() for a in layout.from_rows(rows)] == [a.tolist() for a in levels]
    assert (layout.row_width, layout.columns(1), layout.columns(2), layout.columns(0)) == (7, 1, 3, 0)
    assert layout.row_vocab_sizes == (4096,) * 7
    with pytest.raises(ValueError, match="whole rows"):
        layout.to_rows((np.array([0, 1]), np.array([1, 2, 3]), np.arange(8)))
    with pytest.raises(ValueError, match="rows must be"):
        layout.from_rows(rows[:, :6])
    # Mid and Side: groups of levels, each group's rows side by side
    codes = Codes.from_rows(np.concatenate([rows, rows[:, :3] + 1], axis=1), layout, (3, 2))
    assert codes.ragged and codes.groups == (3, 2) and len(codes.data) == 5 and codes.n_frames == 8
    np.testing.assert_array_equal(codes.rows(layout), np.concatenate([rows, rows[:, :3] + 1], axis=1))
    flat = Codes.from_rows(rows, TokenLayout.uniform(7, 4096), (7,))  # rectangular: the array itself
    assert not flat.ragged and flat.rows(layout) is rows


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snac_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("snac")
    return {
        24: save_snac(build_snac(TINY_SNAC_24), TINY_SNAC_24, root / "s24"),
        32: save_snac(build_snac(TINY_SNAC_32), TINY_SNAC_32, root / "s32"),
    }


@pytest.fixture(scope="module")
def references(snac_dirs: dict[int, Path]) -> dict[int, Any]:
    """The ``snac.SNAC`` models as a user of the package has them (weight norm on), by rate."""
    return {24: build_snac(TINY_SNAC_24), 32: build_snac(TINY_SNAC_32)}


@pytest.fixture(scope="module")
def codecs(snac_dirs: dict[int, Path], references: dict[int, Any]) -> Iterator[dict[int, Any]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions on a shared CPU run faster so
    try:
        loaded = {rate: registry.load_codec(str(path)) for rate, path in snac_dirs.items()}
        for rate, codec in loaded.items():
            codec.reference = references[rate]  # SNAC.encode's model, for _reference
        yield loaded
    finally:
        torch.set_num_threads(threads)


def _reference(codec: Any, x: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    """``SNAC.encode`` of one whole file ``[1, S]``: each level's codes (the grid's padding included)."""
    with torch.inference_mode():
        levels = codec.reference.encode(torch.from_numpy(x[None]))
    return tuple(np.asarray(level[0].numpy()) for level in levels)


def _levels(codec: Any, rows: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
    return codec.layout.from_rows(rows)  # type: ignore[no-any-return]


def _flips(got: tuple[np.ndarray[Any, Any], ...], want: tuple[np.ndarray[Any, Any], ...]) -> int:
    """Codes that differ, ``want`` cut to ``got``'s rows (the whole-file encode's padding rows dropped)."""
    return sum(int((g != w[: len(g)]).sum()) for g, w in zip(got, want, strict=True))


def test_the_fixtures_give_varied_codes(codecs: dict[int, Any]) -> None:
    for codec in codecs.values():
        ref = _reference(codec, noise_chirp(codec.sample_rate, 1, codec.sample_rate * 3, seed=3))
        distinct = [len(np.unique(level)) for level in ref]
        assert min(distinct) >= 20, f"too few distinct codes to test equality: {distinct}"


def test_facts(codecs: dict[int, Any]) -> None:
    c24, c32 = codecs[24], codecs[32]
    assert (c24.hop_length, c24.frame_grid, c24.columns(3), c24.info.hop_length) == (2048, 1, 7, 512)
    assert (c32.hop_length, c32.frame_grid, c32.columns(4), c32.info.hop_length) == (3072, 4, 15, 384)
    assert c24.info.layout.strides == (4, 2, 1) and c32.info.layout.strides == (8, 4, 2, 1)
    assert c24.frame_rate == pytest.approx(24000 / 2048) and c24.info.frame_rate == pytest.approx(46.875)
    assert not c24.caps.exact_chunking and c24.caps.zero_pads_to_hop
    for c in (c24, c32):  # chunks start on SNAC's padding grid, and the context covers the receptive field
        assert all(side % c.frame_grid == 0 for side in c.encoder_context_frames)
        assert c.encoder_context_frames.before * c.hop_length >= 0.24 * c.sample_rate


# -- exactness ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.05, 2.0, 7.3])
def test_chunked_codes_equal_the_whole_file_encode(codecs: dict[int, Any], seconds: float) -> None:
    """Chunks of 1 s (grid-rounded) with the context: ``SNAC.encode``'s codes of the whole file."""
    for rate, codec in codecs.items():
        x = noise_chirp(codec.sample_rate, 1, round(seconds * codec.sample_rate), seed=5)
        rows = encode_source(
            ArraySource(x, codec.sample_rate), codec, (codec.n_codebooks,), chunk_seconds=1.0
        )
        assert rows.shape == (-(-x.shape[-1] // codec.hop_length), codec.columns(codec.n_codebooks))
        flips = _flips(_levels(codec, rows), _reference(codec, x))
        assert flips <= MAX_CODE_FLIPS, (rate, seconds, flips)


def test_chunked_latents_equal_the_whole_file_to_rounding(codecs: dict[int, Any]) -> None:
    """The encoder's output in each chunk's window equals the whole file's (float32 rounding)."""
    for rate, codec in codecs.items():
        x = torch.from_numpy(noise_chirp(codec.sample_rate, 1, 6 * codec.sample_rate, seed=6)[None])
        model, per_row = codec.model, codec.layout.grid
        rows = -(-x.shape[-1] // codec.hop_length)
        with torch.inference_mode():
            whole = model.encoder(model.preprocess(x))
            chunk = 4 * codec.frame_grid
            for c in plan_chunks(rows, chunk, codec.encoder_context_frames):
                a, b = c.win_start * codec.hop_length, min(c.win_stop * codec.hop_length, x.shape[-1])
                z = model.encoder(model.preprocess(x[..., a:b]))[
                    ..., c.keep.start * per_row : c.keep.stop * per_row
                ]
                diff = (z - whole[..., c.start * per_row : c.stop * per_row]).abs().max().item()
                assert diff <= 1e-5, (rate, c, diff)


def test_without_context_the_codes_differ(codecs: dict[int, Any]) -> None:
    """The context is needed: chunks run alone give other codes near their edges (so the tests can fail)."""
    from audiotok.codecs.codec import Context

    codec = codecs[24]
    x = noise_chirp(codec.sample_rate, 1, 4 * codec.sample_rate, seed=7)
    rows = encode_source(
        ArraySource(x, codec.sample_rate), codec, (3,), chunk_seconds=0.5, context=Context(0, 0)
    )
    assert _flips(_levels(codec, rows), _reference(codec, x)) > 0


def _stream(x: np.ndarray[Any, Any], rate: int, k: int) -> Stream:
    return Stream(x.shape[-1], (k,), lambda: contextlib.nullcontext(ArraySource(x, rate)))


def _run(codec: Any, signals: list[np.ndarray[Any, Any]], batch: int) -> tuple[dict[int, Any], Any]:
    enc = StreamEncoder(codec, chunk_seconds=1.0, batch_size=batch, reuse_silence=False)
    streams = [_stream(x, codec.sample_rate, codec.n_codebooks) for x in signals]
    return {e.stream: e.codes for e in enc.run(streams) if isinstance(e, Encoded)}, enc


def test_batched_equals_one_at_a_time(codecs: dict[int, Any]) -> None:
    """Windows of equal length share a call (other lengths wait for their own): the codes of each alone."""
    for codec in codecs.values():
        sr = codec.sample_rate
        signals = [noise_chirp(sr, 1, n, seed=s) for s, n in enumerate((sr * 2, sr * 2, sr * 3 + 77, sr * 2))]
        alone, _ = _run(codec, signals, 1)
        batched, enc = _run(codec, signals, 4)
        assert enc.calls < sum(-(-x.shape[-1] // sr) for x in signals)  # windows did share calls
        for j in range(len(signals)):
            np.testing.assert_array_equal(batched[j], alone[j], err_msg=f"file {j}")


def test_decode_gives_the_levels_back_reproducibly(codecs: dict[int, Any]) -> None:
    codec = codecs[32]
    x = noise_chirp(codec.sample_rate, 1, 5 * codec.hop_length + 9, seed=8)
    rows = codec.encode(torch.from_numpy(x[None]), 4)
    assert rows.shape == (1, 15, 6)  # 6 rows: the whole-file encode's 8 less two of padding alone
    a, b = codec.decode(rows), codec.decode(rows)
    assert a.shape == (1, 1, 6 * codec.hop_length) and torch.equal(a, b)  # the decoder's noise is seeded
    assert codec.decode(rows[:, :3]).shape == a.shape  # the first two codebooks only
    with pytest.raises(ValueError, match="codes must be"):
        codec.decode(rows[:, :5])


# -- the Hub cache, the CLI --------------------------------------------------------------------------------


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield tmp_path / "hf"


def test_the_named_model_and_its_repo_id_load_from_the_hub_cache_offline(
    snac_dirs: dict[int, Path], hf_home: Path
) -> None:
    snapshot = in_hub_cache(snac_dirs[24], hf_home, "hubertsiuzdak/snac_24khz")
    for ref in ("snac-24khz", "snac_24khz", "hubertsiuzdak/snac_24khz"):
        c = registry.load_codec(ref)
        assert (c.family, c.codec_id, c.weights_path) == (
            "snac",
            "snac-24khz",
            snapshot / "pytorch_model.bin",
        )
    with pytest.raises(ModelError) as info:
        registry.load_codec("snac-32khz")
    message = str(info.value)
    assert "hubertsiuzdak/snac_32khz" in message and "pytorch_model.bin" in message and "\n" not in message


def test_encode_to_npq_rows_and_back_through_the_cli(
    snac_dirs: dict[int, Path], codecs: dict[int, Any], hf_home: Path, tmp_path: Path
) -> None:
    """``audiotok encode --codec snac-24khz``: NPQ1 rows ``[T0, 7]``, strides in tokens.json, levels back."""
    from typer.testing import CliRunner

    from audiotok.cli.app import app
    from audiotok.data import NpqWindowDataset
    from audiotok.formats import npq
    from audiotok.sinks import manifest
    from tests.dac_helpers import write_audio

    in_hub_cache(snac_dirs[24], hf_home, "hubertsiuzdak/snac_24khz")
    write_audio(tmp_path / "in" / "a.wav", 2.3, sr=24000, channels=1)
    write_audio(tmp_path / "in" / "b.wav", 11.2, sr=24000, channels=1, seed=1)  # two 10 s chunks
    out, runner = tmp_path / "out", CliRunner()
    args = ["encode", str(tmp_path / "in"), "-o", str(out), "--codec", "snac-24khz", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    *records, summary = (json.loads(line) for line in result.stdout.splitlines())
    assert [r["status"] for r in records] == ["written", "written"] and summary["codec"] == "snac-24khz"
    info = manifest.find(out / "a.npq")
    assert info is not None and info.info.layout.strides == (4, 2, 1) and info.info.hop_length == 512
    codec = codecs[24]
    for name, seconds, seed in (("a", 2.3, 0), ("b", 11.2, 1)):
        rows, header = npq.read(out / f"{name}.npq")
        assert header.format == "NPQ1" and header.token_rate == pytest.approx(24000 / 2048)
        assert rows.shape == (-(-round(seconds * 24000) // 2048), 7)
        audio = sf.read(
            write_audio(tmp_path / "ref.wav", seconds, sr=24000, channels=1, seed=seed), dtype="float32"
        )[0]
        assert _flips(_levels(codec, np.asarray(rows)), _reference(codec, audio[None])) == 0, name
        item = NpqWindowDataset([out / f"{name}.npq"], ctx=10, layout=info.info.layout)[0]
        assert [len(level) for level in item["levels"]] == [10, 20, 40]
        np.testing.assert_array_equal(item["levels"][2].numpy(), _reference(codec, audio[None])[2][:40])
    inspected = runner.invoke(app, ["npq", "inspect", str(out / "a.npq"), "--json"])
    row = json.loads(inspected.stdout.splitlines()[0])
    assert (row["codec"], row["strides"], row["n_codebooks"]) == ("snac-24khz", [4, 2, 1], 7)
    decoded = runner.invoke(app, ["decode", str(out), "-o", str(tmp_path / "wav")])
    assert decoded.exit_code == 0, decoded.output
    assert sf.info(tmp_path / "wav" / "a.wav").frames == -(-round(2.3 * 24000) // 2048) * 2048
    refused = runner.invoke(
        app,
        ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "hf"), "--codec", "snac-24khz", "--to", "hf"],
    )
    assert refused.exit_code != 0 and "different rates" in str(refused.exception)


def _encode_cli(tmp_path: Path, *options: str) -> None:
    """``audiotok encode IN -o OUT --codec snac-24khz OPTIONS`` under ``tmp_path``; it must succeed."""
    from typer.testing import CliRunner

    from audiotok.cli.app import app

    args = ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--codec", "snac-24khz", *options]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_stereo_mid_side_is_two_groups_of_rows(
    snac_dirs: dict[int, Path], hf_home: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from audiotok.cli.app import app
    from audiotok.formats import npq
    from tests.dac_helpers import write_audio

    in_hub_cache(snac_dirs[24], hf_home, "hubertsiuzdak/snac_24khz")
    write_audio(tmp_path / "in" / "s.wav", 1.1, sr=24000, channels=2)
    _encode_cli(tmp_path, "--stereo", "mid-side", "--side-codebooks", "2")
    rows, header = npq.read(tmp_path / "out" / "s.npq")
    assert header.format == "NPQ2" and (header.k_mid, header.k_side) == (7, 3) and rows.shape[1] == 10
    decoded = CliRunner().invoke(app, ["decode", str(tmp_path / "out"), "-o", str(tmp_path / "wav")])
    assert decoded.exit_code == 0, decoded.output
    assert sf.info(tmp_path / "wav" / "s.wav").channels == 2


def test_a_named_model_reads_a_local_folder_with_model(
    snac_dirs: dict[int, Path], hf_home: Path, tmp_path: Path
) -> None:
    """``--codec snac-24khz --model DIR``: the folder's weights under the registry's name, no cache needed."""

    from audiotok.sinks import manifest
    from tests.dac_helpers import write_audio

    write_audio(tmp_path / "in" / "a.wav", 0.7, sr=24000, channels=1)
    _encode_cli(tmp_path, "--backend", "eager", "--model", str(snac_dirs[24]))
    found = manifest.find(tmp_path / "out" / "a.npq")
    assert found is not None and found.info.codec == "snac-24khz" and found.info.family == "snac"
    c = registry.load_codec("snac-24khz", checkpoint=snac_dirs[24])
    assert c.weights_path == snac_dirs[24] / "pytorch_model.bin" and c.codec_id == "snac-24khz"
    with pytest.raises(
        ModelError, match=r"not a copy of Hugging Face repo hubertsiuzdak/snac_24khz: no config\.json"
    ):
        registry.load_codec("snac-24khz", checkpoint=tmp_path / "in")
