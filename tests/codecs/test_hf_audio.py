"""XCodec2, NeuCodec, X-Codec, Higgs (transformers' classes) and the SegmentEncoder of global-context codecs.

The reference is each transformers class's own whole-file encode with its
feature extractor, as transformers documents it, on the same random model
(codes spread: ``tests/_hf_audio.py``); every reference is checked to give
varied codes first, so that equality can fail. Small models of the real
architectures run always; the full-size ones are ``slow``.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.codecs import registry
from audiotok.codecs.segments import SegmentEncoder, quietest_cut
from audiotok.codecs.stream import encode_source, stream_encoder
from audiotok.codecs.streams import Advanced, Encoded, Failed, Stream
from audiotok.errors import ModelError
from tests._hf_audio import FAMILIES, REPOS, save_model
from tests._hub import in_hub_cache
from tests.conformance._models import ArraySource, noise_chirp

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-audio")
    return {f: save_model(f, root / f) for f in FAMILIES}


@pytest.fixture(scope="module")
def codecs(model_dirs: dict[str, Path]) -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny layers on a shared CPU run faster so
    try:
        yield {f: registry.load_codec(str(d)) for f, d in model_dirs.items()}
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


def reference(codec: Any, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The transformers class's whole-file encode of ``x : [S]`` with its feature extractor: ``[K, T']``."""
    fe, model, rate = codec.extractor, codec.model, codec.sample_rate
    with torch.inference_mode():
        if codec.family in ("xcodec2", "neucodec"):
            codes = model.encode(**fe(audio=x, sampling_rate=rate, return_tensors="pt")).audio_codes
        else:
            codes = model.encode(fe(x, sampling_rate=rate, return_tensors="pt")["input_values"]).audio_codes
    return np.asarray(codes[0].numpy())


def _streams(signals: list[np.ndarray[Any, Any]], rate: int, k: int = 1) -> list[Stream]:
    return [
        Stream(s.shape[-1], (k,), lambda s=s: contextlib.nullcontext(ArraySource(s, rate))) for s in signals
    ]


def _run(encoder: Any, signals: list[np.ndarray[Any, Any]], rate: int, k: int = 1) -> dict[int, Encoded]:
    got: dict[int, Encoded] = {}
    advanced: dict[int, int] = {}
    for event in encoder.run(_streams(signals, rate, k)):
        if isinstance(event, Failed):
            raise event.error
        if isinstance(event, Advanced):
            advanced[event.stream] = advanced.get(event.stream, 0) + event.samples
        if isinstance(event, Encoded):
            assert event.stream not in got
            got[event.stream] = event
    assert advanced == {j: s.shape[-1] for j, s in enumerate(signals)}
    return got


# -- exactness ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_codes_are_the_transformers_whole_file_encode(codecs: dict[str, Any], family: str) -> None:
    """100 % of the tokens of files shorter than the window, whole frames or not; T = ceil(S / hop)."""
    c = codecs[family]
    hop, k = c.hop_length, c.n_codebooks
    for n in (25 * hop, 25 * hop + hop // 3, 7 * hop - 5, hop // 3):
        x = noise_chirp(c.sample_rate, 1, n, seed=n)[0]
        frames = math.ceil(n / hop)
        got = encode_source(ArraySource(x[None], c.sample_rate), c, (k,), chunk_seconds=30.0)
        assert got.shape == (frames, k) and got.dtype == np.int64
        padded = x if family != "neucodec" else np.pad(x, (0, frames * hop - n))
        want = reference(c, padded)
        if family == "xcodec2" and n % hop == 0:  # its extractor pads one sample more: a frame of padding
            assert want.shape[-1] == frames + 1
        else:
            assert want.shape[-1] == frames
        if frames >= 7:
            distinct = min(len(np.unique(want[j])) for j in range(k))
            assert distinct >= frames // 2, f"too few distinct codes to test equality: {distinct}"
        np.testing.assert_array_equal(got, want[:, :frames].T, err_msg=f"{family}, {n} samples")
    if family == "neucodec":  # what the padding is for: the port drops the ragged last frame
        assert reference(c, noise_chirp(c.sample_rate, 1, 7 * hop - 5)[0]).shape[-1] == 6


def test_x_codec_codebooks_are_the_lower_bandwidths(codecs: dict[str, Any]) -> None:
    """``--codebooks K``: the first K codes, what transformers gives at the bandwidth of K codebooks."""
    c = codecs["xcodec"]
    x = noise_chirp(16000, 1, 20 * 320, seed=3)
    inputs = c.extractor(x[0], sampling_rate=16000, return_tensors="pt")["input_values"]
    for k, bandwidth in ((1, 0.5), (2, 1), (4, 2), (8, 4)):
        with torch.inference_mode():
            want = c.model.encode(inputs, bandwidth=bandwidth).audio_codes
        assert want.shape[1] == k
        np.testing.assert_array_equal(c.encode_array(x[None], k), want.numpy())


# -- batching ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_one_at_a_time(codecs: dict[str, Any], family: str) -> None:
    """Files of equal length share calls; the codes are those of each file alone (CPU: 100 %)."""
    c = codecs[family]
    hop = c.hop_length
    signals = [noise_chirp(c.sample_rate, 1, n, seed=i) for i, n in enumerate([9 * hop + 7] * 3 + [5 * hop])]
    alone = SegmentEncoder(c, max_seconds=30.0, batch_size=1)
    together = SegmentEncoder(c, max_seconds=30.0, batch_size=4)
    one = _run(alone, signals, c.sample_rate, c.n_codebooks)
    many = _run(together, signals, c.sample_rate, c.n_codebooks)
    assert (alone.calls, together.calls) == (4, 2)  # the three files of one length in one call
    for j in range(len(signals)):
        np.testing.assert_array_equal(many[j].codes, one[j].codes, err_msg=f"file {j}")
        assert many[j].segments == one[j].segments == ()


# -- cutting long files ------------------------------------------------------------------------------------


def test_the_cut_is_the_quietest_boundary_in_the_search_region() -> None:
    hop = 320
    x = np.random.default_rng(0).standard_normal((1, 50 * hop)).astype(np.float32)
    x[:, 40 * hop : 44 * hop] *= 0.01  # a quiet stretch: boundaries 41..43 lie inside it
    assert quietest_cut(x, hop, 20) in (41, 42, 43)
    x[:, 40 * hop : 44 * hop] = 0.0  # digital silence: the middle of the silent run of boundaries
    assert quietest_cut(x, hop, 20) == 42
    assert quietest_cut(x, hop, 5) in range(45, 50)  # the gap is outside the last 5 frames
    x[:, 30 * hop : 31 * hop] = 0.0  # an earlier, shorter silence ties (two frames needed): the later one
    assert quietest_cut(x, hop, 30) == 42
    assert quietest_cut(x[:, :hop], hop, 5) == 1


def test_a_long_file_is_cut_in_its_silence_deterministically(codecs: dict[str, Any]) -> None:
    """Max 2 s (100 frames), search 1 s: a silent gap at 1.4-1.6 s is where the cut goes."""
    c = codecs["xcodec2"]
    hop, rate = c.hop_length, c.sample_rate
    n = 3 * rate + 77
    x = noise_chirp(rate, 1, n, seed=5)
    x[:, int(1.4 * rate) : int(1.6 * rate)] = 0.0
    encoder = SegmentEncoder(c, max_seconds=2.0, search_seconds=1.0)
    first = _run(encoder, [x], rate)[0]
    again = _run(SegmentEncoder(c, max_seconds=2.0, search_seconds=1.0), [x], rate)[0]
    assert first.segments == again.segments and np.array_equal(first.codes, again.codes)
    (a0, cut), (b0, end) = first.segments
    assert (a0, b0, end) == (0, cut, math.ceil(n / hop))
    assert 70 < cut < 80, f"cut at frame {cut}, not in the silence (frames 70-80)"
    assert first.codes.shape == (math.ceil(n / hop), 1)
    for start, stop in first.segments:  # each segment is the codec's whole-file encode of its samples
        piece = x[:, start * hop : min(stop * hop, n)]
        np.testing.assert_array_equal(first.codes[start:stop], c.encode_array(piece[None], 1)[0].T)
    whole = _run(SegmentEncoder(c), [x], rate)[0]  # no maximum: one window, the codes differ
    assert whole.segments == () and not np.array_equal(whole.codes, first.codes)


def test_stream_encoder_picks_the_segment_encoder_with_the_chunk_as_its_window(
    codecs: dict[str, Any],
) -> None:
    encoder = stream_encoder(codecs["neucodec"], chunk_seconds=30.0, batch_size=2)
    assert isinstance(encoder, SegmentEncoder) and encoder.max_frames == 1500 and encoder.search == 250
    assert codecs["neucodec"].caps.global_context and not codecs["neucodec"].caps.exact_chunking


# -- decode ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_decode_gives_t_frames_at_the_output_rate(codecs: dict[str, Any], family: str) -> None:
    c = codecs[family]
    codes = c.encode(torch.from_numpy(noise_chirp(c.sample_rate, 1, 6 * c.hop_length + 5)[None]), 1)
    audio = c.decode(codes)
    rate = 24000 if family in ("neucodec", "higgs-audio-v2") else 16000
    assert c.output_sample_rate == rate and c.info.output_sample_rate == rate
    assert audio.dtype == torch.float32 and tuple(audio.shape) == (
        1,
        1,
        7 * c.hop_length * rate // c.sample_rate,
    )


# -- weights -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["xcodec2", "xcodec"])
def test_missing_weights_offline_is_one_line_naming_the_repo(family: str, hf_home: Path) -> None:
    name = registry.entries(family)[0].name
    with pytest.raises(ModelError) as info:
        registry.load_codec(name)
    message = str(info.value)
    assert "\n" not in message and REPOS[family] in message and "preprocessor_config.json" in message
    assert str(hf_home / "hub" / f"models--{REPOS[family].replace('/', '--')}") in message


def test_the_named_model_and_its_repo_id_load_from_the_hub_cache(
    model_dirs: dict[str, Path], hf_home: Path
) -> None:
    in_hub_cache(model_dirs["neucodec"], hf_home, REPOS["neucodec"])
    for ref in ("neucodec", REPOS["neucodec"]):
        c = registry.load_codec(ref)
        assert (c.family, c.codec_id, c.output_sample_rate) == ("neucodec", "neucodec", 24000)


# -- the command line --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "rate_out"), [("xcodec2", 16000), ("neucodec", 24000)])
def test_encode_to_npq_and_decode_through_the_cli(
    model_dirs: dict[str, Path], hf_home: Path, tmp_path: Path, family: str, rate_out: int
) -> None:
    """``audiotok encode --codec xcodec2 --to npq``: one short file whole, a long one cut (records say so)."""
    from typer.testing import CliRunner

    from audiotok.cli.app import app
    from audiotok.formats import npq
    from tests.dac_helpers import write_audio

    in_hub_cache(model_dirs[family], hf_home, REPOS[family])
    write_audio(tmp_path / "in" / "a.wav", 0.7, sr=16000, channels=1)
    write_audio(tmp_path / "in" / "b.wav", 2.5, sr=22050, channels=2, seed=1)  # resampled, downmixed, cut
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["encode", str(tmp_path / "in"), "-o", str(out), "--codec", family, "--to", "npq"]
    result = runner.invoke(app, [*args, "--chunk-seconds", "1.5", "--json"])
    assert result.exit_code == 0, result.output
    *records, summary = (json.loads(line) for line in result.stdout.splitlines())
    assert [r["status"] for r in records] == ["written", "written"]
    assert "segments" not in records[0] and records[1]["segments"][0][0] == 0
    assert records[1]["segments"][-1][1] == records[1]["seq_len"] == 125 and len(records[1]["segments"]) == 2
    assert summary["files_cut"] == 1 and summary["exact_chunking"] is False and summary["codec"] == family
    header = npq.read_header(out / "a.npq")
    assert header.token_rate == 50.0 and list(header.vocab_sizes) == [65536] and header.seq_len == 35
    codec = registry.load_codec(family)
    x = sf.read(tmp_path / "in" / "a.wav", dtype="float32", always_2d=True)[0].T
    np.testing.assert_array_equal(npq.read(out / "a.npq")[0], codec.encode_array(x[None], 1)[0].T)
    text = runner.invoke(app, [*args, "--chunk-seconds", "1.5", "--overwrite"])
    assert "1 file(s) longer than" in text.stdout and "differ from a whole-file encode" in text.stdout
    decoded = runner.invoke(app, ["decode", str(out), "-o", str(tmp_path / "wav")])
    assert decoded.exit_code == 0, decoded.output
    assert f"a.wav: 1 ch, {rate_out} Hz" in decoded.stdout
    assert sf.info(str(tmp_path / "wav" / "a.wav")).frames == 35 * 320 * rate_out // 16000


# -- full-size models --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_full_size_codes_are_the_transformers_whole_file_encode(tmp_path: Path, family: str) -> None:
    """The real architectures (XCodec2 and NeuCodec: about 630 M parameters), random: 2 s files."""
    c = registry.load_codec(str(save_model(family, tmp_path / family, tiny=False)))
    hop = c.hop_length
    for n in (2 * c.sample_rate, 2 * c.sample_rate + hop // 3):
        x = noise_chirp(c.sample_rate, 1, n, seed=n)[0]
        frames = math.ceil(n / hop)
        want = reference(c, x if family != "neucodec" else np.pad(x, (0, frames * hop - n)))
        assert min(len(np.unique(want[j])) for j in range(c.n_codebooks)) >= frames // 4
        got = encode_source(ArraySource(x[None], c.sample_rate), c, (c.n_codebooks,), chunk_seconds=30.0)
        np.testing.assert_array_equal(got, want[:, :frames].T)
