"""The one encode and one decode pipeline over (codec, sink) pairs: presets' bytes, refusals, identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.codecs import registry
from audiotok.errors import UsageError
from audiotok.formats import ecdc, npq
from audiotok.services import decode, encode
from audiotok.services.encode import CodecChoice, EncodeOptions
from audiotok.services.esf import encode as esf_encode
from audiotok.services.npq import encode as npq_encode
from audiotok.sinks import manifest
from tests._encodec import install
from tests.dac_helpers import write_audio


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _corpus(root: Path, sr: int = 44100) -> Path:
    write_audio(root / "a.wav", 0.6, sr=sr, channels=2, seed=1)
    write_audio(root / "sub" / "b.wav", 0.4, sr=sr, channels=1, seed=2)
    return root


@pytest.fixture
def encodec24(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, tmp_path / "torch", "encodec_24khz")


@pytest.mark.usefixtures("dac_home")
def test_encode_dac_to_npq_writes_the_bytes_of_npq_encode(tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    npq_encode.encode_paths([str(src)], outdir=tmp_path / "preset", backend="eager", recursive=True)
    summary = encode.encode_paths(
        [str(src)],
        outdir=tmp_path / "generic",
        codec=CodecChoice("dac-44khz", backend="eager"),
        sink="npq",
        recursive=True,
    )
    assert summary.files_written == 2 and summary.codec == "dac-44khz" and summary.exact_chunking is True
    preset, generic = _tree(tmp_path / "preset"), _tree(tmp_path / "generic")
    assert set(preset) == {"a.npq", "sub/b.npq", "tokens.json"} and preset == generic
    assert npq.read_header(tmp_path / "generic" / "a.npq").format == "NPQ2"  # DAC: Mid/Side by default
    info = manifest.read(tmp_path / "generic" / "tokens.json").info
    assert (info.codec, info.family, info.hop_length, info.layout.n_codebooks) == ("dac-44khz", "dac", 512, 9)


@pytest.mark.usefixtures("encodec24")
def test_encode_encodec_to_ecdc_writes_the_bytes_of_esf_encode(tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in", sr=24000)
    loader = esf_encode.ModelLoader("encodec_24khz", bandwidth=6.0, backend="eager")
    esf_encode.encode_paths([src], outdir=tmp_path / "preset", load=loader, recursive=True)
    summary = encode.encode_paths(
        [str(src)], outdir=tmp_path / "generic", codec=CodecChoice("encodec-24khz", backend="eager"),
        recursive=True,
    )  # fmt: skip
    assert summary.sink == "ecdc"  # EnCodec's default sink
    # files shorter than a chunk (30 s) are one window each: the whole-file codes, though the LSTM is not
    assert summary.exact_chunking is True
    chunked = encode.encode_paths(
        [str(src)], outdir=tmp_path / "chunked", codec=CodecChoice("encodec-24khz", backend="eager"),
        opts=EncodeOptions(chunk_seconds=0.1), recursive=True,
    )  # fmt: skip
    assert chunked.exact_chunking is False  # in chunks: only nearly, and the run says so
    preset, generic = _tree(tmp_path / "preset"), _tree(tmp_path / "generic")
    assert set(preset) == {"a.ecdc", "sub/b.ecdc", "tokens.json"} and preset == generic
    codes, meta = ecdc.read(tmp_path / "generic" / "a.ecdc")
    assert codes.shape[1] == 8 and meta.bandwidth == 6.0  # 8 codebooks: 6 kbps, a downmix of the stereo file
    assert len(np.unique(codes)) > 20  # the random model's codes vary: the byte equality above can fail


@pytest.mark.usefixtures("encodec24")
def test_a_sink_refuses_what_it_cannot_hold_before_any_work(tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in", sr=24000)
    mid_side = EncodeOptions(stereo="mid-side")
    with pytest.raises(UsageError, match="ecdc holds one coded channel"):
        encode.encode_paths(
            [str(src)],
            outdir=tmp_path / "out",
            codec=CodecChoice("encodec-24khz"),
            sink="ecdc",
            opts=mid_side,
        )
    with pytest.raises(UsageError, match="unknown sink 'zarr'; known: npq, ecdc, hf"):
        encode.encode_paths(
            [str(src)], outdir=tmp_path / "out", codec=CodecChoice("encodec-24khz"), sink="zarr"
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("encodec24")
def test_mid_side_for_any_mono_codec_and_decode_by_the_manifest(tmp_path: Path) -> None:
    """EnCodec 24 kHz Mid/Side in .npq: NPQ2 at 75 fps, which DAC 24 kHz also has; the manifest decides."""
    src = _corpus(tmp_path / "in", sr=24000)
    opts = EncodeOptions(stereo="mid-side", codebooks=8, side_codebooks=2)
    encode.encode_paths(
        [str(src)], outdir=tmp_path / "npq", codec=CodecChoice("encodec-24khz", backend="eager"), sink="npq",
        opts=opts, recursive=True,
    )  # fmt: skip
    header = npq.read_header(tmp_path / "npq" / "a.npq")
    assert (header.format, header.k_mid, header.k_side, header.token_rate) == ("NPQ2", 8, 2, 75.0)
    summary = decode.decode_paths(
        [str(tmp_path / "npq")], outdir=tmp_path / "wav", recursive=True, backend="eager"
    )
    assert summary.files_written == 2 and summary.model == "encodec_24khz"  # not dac-24khz (also 75 fps)
    wav, sr = sf.read(tmp_path / "wav" / "a.wav")
    assert sr == 24000 and wav.shape[1] == 2  # L = M + S, R = M - S
    a = tmp_path / "npq" / "a.npq"
    name, sha = decode.which_model(a, decode.read_tokens(a), None)
    assert name == "encodec_24khz" and sha == registry.load_codec("encodec-24khz").weights_sha256
    (tmp_path / "npq" / "tokens.json").unlink()  # as if made elsewhere: the frame rate says DAC 24 kHz
    assert decode.which_model(a, decode.read_tokens(a), None) == ("24khz", None)


@pytest.mark.usefixtures("dac_home")
def test_a_second_codec_in_one_folder_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _corpus(tmp_path / "in")
    encode.encode_paths(
        [str(src)], outdir=tmp_path / "out", codec=CodecChoice("dac-44khz", backend="eager"), recursive=True
    )
    before = _tree(tmp_path / "out")
    install(monkeypatch, tmp_path / "torch", "encodec_24khz")
    with pytest.raises(UsageError, match=r"made by dac-44khz .*this run encodes with encodec-24khz"):
        encode.encode_paths(
            [str(src)], outdir=tmp_path / "out", codec=CodecChoice("encodec-24khz"), sink="npq"
        )
    assert _tree(tmp_path / "out") == before
    again = encode.encode_paths(
        [str(src)], outdir=tmp_path / "out", codec=CodecChoice("dac-44khz", backend="eager"), recursive=True
    )
    assert again.files_skipped == 2 and _tree(tmp_path / "out") == before  # a rerun: the manifest stays


def test_encodec_48khz_codes_keep_their_scale_and_decode_with_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = install(monkeypatch, tmp_path / "torch", "encodec_48khz")
    write_audio(tmp_path / "in" / "s.wav", 0.5, sr=48000, channels=2, seed=4)
    with pytest.raises(UsageError, match="npq has no place for encodec_48khz's per-file input scale"):
        encode.encode_paths(
            [str(tmp_path / "in")], outdir=tmp_path / "n", codec=CodecChoice("encodec-48khz"), sink="npq"
        )
    encode.encode_paths([str(tmp_path / "in")], outdir=tmp_path / "e", codec=CodecChoice("encodec-48khz"))
    scale = ecdc.read_scale(tmp_path / "e" / "s.ecdc")
    codes, _ = ecdc.read(tmp_path / "e" / "s.ecdc")
    assert scale is not None and scale > 0
    decode.decode_paths([str(tmp_path / "e" / "s.ecdc")], out=tmp_path / "s.wav", backend="eager")
    got, sr = sf.read(tmp_path / "s.wav", dtype="float32")
    with torch.inference_mode():
        want = model.decode([(torch.from_numpy(codes.T[None].copy()), None)])[0].numpy().T * scale
    assert sr == 48000 and got.shape == want.shape
    assert np.abs(got - np.clip(want, -1, 1)).max() < 2e-4  # PCM16 of the scaled audio


def test_every_sink_and_family_is_registered() -> None:
    from audiotok.sinks import sinks

    assert list(sinks()) == ["npq", "ecdc", "hf", "parquet", "shar", "webdataset"]
    assert list(registry.plugin(f).family for f in ("dac", "encodec")) == ["dac", "encodec"]
    assert json.loads(json.dumps(registry.get("dac-44khz").info().to_json()))["frame_rate"] == 86.1328125
