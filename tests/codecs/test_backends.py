"""Inference backends: resolution, the OpenVINO cache, the correctness gate and its fallback."""

from __future__ import annotations

import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.codecs import backends, registry
from audiotok.codecs.backends import cache as backend_cache
from audiotok.codecs.backends import gate as backend_gate
from audiotok.codecs.backends import openvino as backend_openvino
from audiotok.codecs.plugin import Codec as CodecBase
from audiotok.codecs.plugin import Network
from audiotok.errors import UsageError

openvino = pytest.importorskip("openvino")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty backend cache for this test alone."""
    root = tmp_path / "cache"
    monkeypatch.setenv(backends.CACHE_ENV, str(root))
    return root


def _dac(backend: str = "eager", parts: tuple[Any, ...] = ("encoder",)) -> CodecBase:
    codec = registry.load_codec("dac-44khz", backend=backend, parts=parts)
    assert isinstance(codec, CodecBase)
    return codec


def _real(shared_audio: Path, seconds: float = 3.0) -> torch.Tensor:
    import torchaudio.functional as F

    audio, sr = sf.read(shared_audio / "speech_music_24k_mono.wav", dtype="float32")
    x = torch.from_numpy(audio[: int(seconds * sr)])[None]
    return F.resample(x, sr, 44100)[None]


def test_resolve() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert backends.resolve("auto", cpu) == "openvino"
    assert backends.resolve("auto", cpu, auto=()) == "eager"  # a codec that does not convert (EnCodec)
    assert backends.resolve("auto", cuda) == "eager"
    assert backends.resolve("eager", cpu) == "eager"
    with pytest.raises(UsageError, match="runs on the CPU") as gpu:
        backends.resolve("openvino", cuda)
    assert gpu.value.param == "backend"
    with pytest.raises(UsageError, match="unknown backend 'fast'"):
        backends.resolve("fast", cpu)


def test_without_openvino_auto_is_eager_and_openvino_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "available", lambda name: name != "openvino")
    assert backends.resolve("auto", torch.device("cpu")) == "eager"
    with pytest.raises(UsageError, match=r"pip install 'audiotok\[openvino\]'"):
        backends.resolve("openvino", torch.device("cpu"))


def test_openvino_codes_equal_eager_on_real_audio(dac_home: Path, cache: Path, shared_audio: Path) -> None:
    x = _real(shared_audio)
    eager = _dac().encode(x, 9)
    fast = _dac("openvino", ("encoder", "decoder"))
    assert fast.backends == {"encoder": "openvino", "decoder": "openvino"}
    assert torch.equal(fast.encode(x, 9), eager)
    # the decoder's audio stays within the gate's tolerance of eager PyTorch
    plain = _dac()
    diff = (fast.decode(eager) - plain.decode(eager)).abs().max().item()
    assert diff <= backends.DECODER_TOLERANCE
    # one entry per network, complete, with its passed gate; no temporary folders left
    entries = sorted(p.name for p in (cache / "backends").iterdir())
    assert len(entries) == 2 and all(not e.startswith(".") for e in entries)
    for entry in entries:
        folder = cache / "backends" / entry
        assert {p.name for p in folder.iterdir()} == {"model.xml", "model.bin", "gate.json"}
        assert json.loads((folder / "gate.json").read_text())["passed"] is True
        assert entry.endswith(f"-openvino-{backend_cache._version('openvino')}-any-dac4")


def test_a_cached_decoder_decodes_any_codebook_count_without_the_model(
    dac_home: Path, cache: Path, shared_audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OpenVINO decoder takes codes (RVQ lookup inside); codebooks left out contribute nothing."""
    from audiotok.codecs.dac import model as dac_codec

    plain = _dac()
    codes = plain.encode(_real(shared_audio, 1.0), 9)
    _dac("openvino", ("decoder",))  # converts and checks the decoder
    with monkeypatch.context() as m:
        m.setattr(dac_codec, "_build", lambda path: pytest.fail("built the PyTorch model"))
        lean = _dac("openvino", ("decoder",))
    assert getattr(lean, "model", 0) is None and lean.backends == {"decoder": "openvino"}
    for k in (9, 4, 1):
        diff = (lean.decode(codes[:, :k]) - plain.decode(codes[:, :k])).abs().max().item()
        assert diff <= backends.DECODER_TOLERANCE, k


def test_cache_entry_is_reused_without_converting(
    dac_home: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _dac("openvino")
    probe = backends.probe_signal(44100, 1)

    def no_conversion(*args: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(backend_cache, "_convert_openvino", no_conversion)
    again = _dac("openvino")
    assert again.backends == {"encoder": "openvino"}
    assert torch.equal(again.encode(probe, 9), first.encode(probe, 9))


def test_an_encode_with_a_cached_entry_loads_no_pytorch_model(
    dac_home: Path, cache: Path, shared_audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once an entry passed its gate, an encode-only load reads neither ``dac`` nor the tensors."""
    from audiotok.codecs.dac import model as dac_codec
    from audiotok.codecs.dac.cached import CachedDacCodec
    from audiotok.errors import ModelError

    x = _real(shared_audio, 2.0)
    first = _dac("auto")  # converts, checks and caches the encoder (with its RVQ)
    want = first.encode(x, 9)
    with monkeypatch.context() as m:
        m.setattr(dac_codec, "_build", lambda path: pytest.fail("built the PyTorch model"))
        lean = _dac("auto")
    assert isinstance(lean, CachedDacCodec) and lean.model is None
    assert lean.backends == {"encoder": "openvino"}
    assert (lean.sample_rate, lean.hop_length, lean.n_codebooks, lean.codebook_size) == (44100, 512, 9, 1024)
    assert lean.encoder_context_frames == first.encoder_context_frames
    assert lean.weights_sha256 == first.weights_sha256
    assert torch.equal(lean.encode(x, 9), want) and torch.equal(lean.encode(x, 4), want[:, :4])
    array = lean.encode_array(x.numpy()[..., :-100], 9)  # NumPy in and out; padded to whole frames
    assert isinstance(array, np.ndarray) and array.dtype == np.int64
    np.testing.assert_array_equal(array, first.encode(x[..., :-100], 9).numpy())
    with pytest.raises(ModelError, match="needs the PyTorch model"):
        lean.decode(want)
    assert (next((cache / "backends").iterdir()) / "compiled").is_dir()  # OpenVINO's compiled blob
    # a decode (or the eager backend) still loads the model
    assert getattr(_dac("auto", ("encoder", "decoder")), "model", None) is not None


def test_a_conversion_is_announced_before_it_starts_and_timed(
    dac_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A first run says why it waits (converting, once, where cached) before converting; later runs not."""
    monkeypatch.delenv(backends.CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)  # the cache: ~/.cache/audiotok, in dac_home
    real_convert = backend_cache._convert_openvino
    said_before: list[str] = []

    def convert(module: Any, example: torch.Tensor, folder: Path) -> None:
        said_before.extend(r.getMessage() for r in caplog.records)
        real_convert(module, example, folder)

    monkeypatch.setattr(backend_cache, "_convert_openvino", convert)
    caplog.set_level(logging.WARNING, logger="audiotok")
    _dac("openvino")
    assert said_before == [
        "converting dac-44khz's encoder for OpenVINO (once for these weights; this takes a while; "
        "cached in ~/.cache/audiotok/backends)"
    ]
    assert (dac_home / ".cache" / "audiotok" / "backends").is_dir()
    records = [(r.name, r.levelno) for r in caplog.records]
    assert records == [("audiotok.codecs.backends.cache", logging.WARNING)] * 2
    assert re.fullmatch(
        r"converted dac-44khz's encoder for OpenVINO in \d+\.\d s", caplog.records[1].getMessage()
    )
    caplog.clear()
    _dac("openvino")  # cached: nothing to say
    assert caplog.records == []


def test_gate_mismatch_falls_back_to_eager_with_one_warning(
    dac_home: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_runner = backend_cache._openvino_runner

    def off_by_a_lot(
        model: Any, threads: int, blobs: Path | None = None, static_shapes: bool = True
    ) -> Network:
        run = real_runner(model, threads, blobs, static_shapes)
        return lambda x: (run(x) + 1) % 1024  # every code off by one

    monkeypatch.setattr(backend_cache, "_openvino_runner", off_by_a_lot)
    with pytest.warns(backends.BackendFallbackWarning, match="openvino encoder .* not used .*codes equal"):
        codec = _dac("openvino")
    assert codec.backends == {}
    probe = backends.probe_signal(44100, 1)
    assert torch.equal(codec.encode(probe, 9), _dac().encode(probe, 9))
    (entry,) = (cache / "backends").iterdir()
    assert json.loads((entry / "gate.json").read_text())["passed"] is False
    # the recorded verdict is kept: no new conversion, the same fallback
    monkeypatch.setattr(backend_cache, "_convert_openvino", lambda *a: pytest.fail("converted again"))
    with pytest.warns(backends.BackendFallbackWarning, match="codes equal"):
        assert _dac("auto").backends == {}


def test_failed_conversion_leaves_no_entry(
    dac_home: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(module: object, example: torch.Tensor, folder: Path) -> None:
        (folder / "model.xml").write_text("<half")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(backend_cache, "_convert_openvino", broken)
    with pytest.warns(backends.BackendFallbackWarning, match="RuntimeError: converter crashed"):
        codec = _dac("openvino")
    assert codec.backends == {}
    assert list((cache / "backends").iterdir()) == []


def test_eager_backend_converts_nothing(dac_home: Path, cache: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _dac("eager").backends == {}
    assert not (cache / "backends").exists()  # (the sha256 memo is all it writes)


def test_probe_signal_is_fixed() -> None:
    a, b = backends.probe_signal(44100, 2), backends.probe_signal(44100, 2)
    assert a.shape == (1, 2, round(backend_gate.PROBE_SECONDS * 44100)) and torch.equal(a, b)
    assert 0.1 < float(a.abs().max()) < 0.8 and np.isfinite(a.numpy()).all()


def test_compile_backend_goes_through_the_gate(
    dac_home: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``compile`` wraps the eager module with ``torch.compile`` and keeps it only if the gate passes.

    A real ``torch.compile`` takes about a minute on this CPU (benchmarks time it); here it is
    replaced by a recorder, once faithful and once off, to check the wiring and the fallback.
    """
    seen: list[dict[str, object]] = []

    def fake_compile(module: torch.nn.Module, **kwargs: object) -> Network:
        seen.append(kwargs)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    codec = _dac("compile")
    assert codec.backends == {"encoder": "compile"} and seen == [{"dynamic": True}]
    monkeypatch.setattr(torch, "compile", lambda module, **kw: lambda x: module(x) * -1.0)
    with pytest.warns(backends.BackendFallbackWarning, match="compile encoder .*codes equal"):
        assert _dac("compile").backends == {}
    assert not (cache / "backends").exists()  # torch.compile keeps its own cache


def _network(codec: CodecBase, part: str = "encoder") -> backends.OpenVinoNetwork:
    runner = codec.__dict__["_runners"][part][0]
    assert isinstance(runner, backends.OpenVinoNetwork)
    return runner


def test_announced_lengths_get_static_models_and_nothing_depends_on_history(
    dac_home: Path, cache: Path
) -> None:
    _dac("openvino")  # converts the entry
    codec = _dac("openvino")
    net = _network(codec)
    assert codec.fixed_shapes("encoder") and not codec.fixed_shapes("decoder")
    x = backends.probe_signal(44100, 1, 0.4)
    frames = -(-x.shape[-1] // 512)
    first = codec.encode(x, 9)
    assert torch.equal(codec.encode(x, 9), first)
    assert net.compiled == 0  # not announced: the dynamic-shape model, however often it runs
    codec.expect_windows("encoder", [frames])
    assert torch.equal(codec.encode(x, 9), first) and net.compiled == 1
    (entry,) = (cache / "backends").iterdir()
    assert (entry / "compiled" / f"static-1x{frames * 512}").is_dir()
    later = _dac("openvino")
    assert torch.equal(later.encode(x, 9), first)
    assert _network(later).compiled == 0  # a blob on disk changes nothing unannounced
    # a batch runs row by row on the static model, with the codes of each row alone
    later.expect_windows("encoder", [frames])
    batch = torch.cat([x, 0.5 * x, torch.zeros_like(x)])
    rows = later.encode(batch, 9)
    for i in range(3):
        assert torch.equal(rows[i : i + 1], later.encode(batch[i : i + 1], 9))
    assert _network(later).compiled == 1


def test_static_models_are_bounded_in_memory_and_on_disk(
    dac_home: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_openvino, "STATIC_IN_MEMORY", 1)
    monkeypatch.setattr(backend_openvino, "STATIC_ON_DISK", 2)
    _dac("openvino")
    codec = _dac("openvino")
    net = _network(codec)
    (entry,) = (cache / "backends").iterdir()
    for seconds in (0.3, 0.4, 0.5):
        x = backends.probe_signal(44100, 1, seconds)
        codec.expect_windows("encoder", [-(-x.shape[-1] // 512)])
        codec.encode(x, 9)
    assert net.compiled == 3 and len(net._static) == 1
    kept = sorted(p.name for p in (entry / "compiled").glob("static-*"))
    assert kept == [f"static-1x{-(-round(s * 44100) // 512) * 512}" for s in (0.4, 0.5)]


def test_stream_encoder_announces_the_window_lengths_it_repeats(dac_home: Path, cache: Path) -> None:
    import contextlib

    from audiotok.codecs.batch import Encoded, Stream, StreamEncoder

    _dac("openvino")
    codec = _dac("openvino")
    net = _network(codec)
    audio = backends.probe_signal(44100, 1, 1.2)[0].numpy()

    class Source:
        channels, sample_rate, length = 1, 44100, audio.shape[-1]

        def read(self, a: int, b: int) -> np.ndarray:
            return audio[:, a:b]

    enc = StreamEncoder(codec, chunk_seconds=0.25)
    assert enc.fixed_windows
    stream = Stream(audio.shape[-1], (9,), lambda: contextlib.nullcontext(Source()))
    (done,) = [e for e in enc.run([stream]) if isinstance(e, Encoded)]
    window = round(0.25 * codec.frame_rate) + sum(codec.encoder_context_frames)
    assert net._expected == {(1, window * 512), (1, (window + 1) // 2 * 512)}
    assert net.compiled == 2  # the plan's windows: whole ones, and a half one for the short tail
    eager = StreamEncoder(_dac(), chunk_seconds=0.25)
    assert not eager.fixed_windows
    (want,) = [e for e in eager.run([stream]) if isinstance(e, Encoded)]
    np.testing.assert_array_equal(done.codes, want.codes)


def test_openvino_runs_shorter_windows_masked_in_a_longer_model_with_eagers_codes(
    dac_home: Path, cache: Path, shared_audio: Path
) -> None:
    """A window shorter than the announced lengths runs zero-padded in the shortest longer static model,
    masked (``dac._MaskedTokens``): eager's codes, and never the slower dynamic-shape model."""
    x = _real(shared_audio, 3.0)
    eager = _dac("eager")
    _dac("openvino")  # makes the entry
    lean = _dac("openvino")  # from the cache: a fresh runner
    runner = lean.__dict__["_runners"]["encoder"][0]
    assert isinstance(runner, backends.OpenVinoNetwork)
    lean.expect_windows("encoder", [189, 95])
    for seconds in (0.3, 1.0, 1.6, 2.1):
        clip = x[..., : int(seconds * 44100)]
        assert torch.equal(lean.encode(clip, 9), eager.encode(clip, 9)), seconds
    assert runner.compiled == 2 and runner._dynamic is None  # the 95- and 189-frame models ran them all
    # without masking (an entry whose model takes no `valid`), a shorter window is not padded
    lean.expect_windows("encoder", [189])
    runner._masked = False
    clip = x[..., : int(1.0 * 44100)]
    assert torch.equal(lean.encode(clip, 9), eager.encode(clip, 9))
    assert runner._dynamic is not None
