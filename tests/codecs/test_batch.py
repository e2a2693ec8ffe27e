"""StreamEncoder: zero items from the cache are exact, streams fail alone, the reading thread stops."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotok.audio.stream import FileSource, ResampledSource, SampleSource
from audiotok.codecs import registry
from audiotok.codecs.batch import Advanced, Encoded, Failed, Stream, StreamEncoder
from audiotok.codecs.plugin import Codec
from audiotok.codecs.stream import encode_source
from audiotok.errors import InputError
from tests._encodec import in_memory


@pytest.fixture
def dac(dac_home: Path) -> Codec:
    return registry.load_codec("dac-44khz")


def _dual_mono_with_silence(shared: Path, path: Path) -> Path:
    x, sr = sf.read(shared / "music_48k_stereo.wav", dtype="float32", always_2d=True)
    left = x[: 3 * sr, 0].copy()
    left[sr : 2 * sr] = 0.0  # digital silence: Mid is zero there too
    sf.write(path, np.stack([left, left], axis=1), sr, subtype="FLOAT")
    return path


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "audiotok-read"]


def test_zero_items_from_the_cache_are_exact(dac: Codec, shared_audio: Path, tmp_path: Path) -> None:
    wav = _dual_mono_with_silence(shared_audio, tmp_path / "dual.wav")

    def codes(reuse: bool, batch_size: int) -> tuple[np.ndarray, int]:
        enc = StreamEncoder(dac, chunk_seconds=0.2, batch_size=batch_size, reuse_silence=reuse)
        with FileSource(wav, "mid-side") as f:
            src = ResampledSource(f, 44100)
            stream = Stream(src.length, (9, 4), lambda: contextlib.nullcontext(src))
            (done,) = [e for e in enc.run([stream]) if isinstance(e, Encoded)]
        return done.codes, enc.rows

    full, full_rows = codes(False, 1)
    for batch_size in (1, 3):
        cached, rows = codes(True, batch_size)
        np.testing.assert_array_equal(cached, full)
        assert rows < full_rows * 0.6  # Side of every window and Mid of the silent second: mostly cached
    assert full_rows == 2 * 16  # Mid and Side rows of ceil(259 frames / 17) windows


def test_streams_fail_alone_and_the_reader_stops(dac: Codec) -> None:
    rng = np.random.default_rng(0)
    xs = [(0.1 * rng.standard_normal((1, n))).astype(np.float32) for n in (3000, 5000, 3000, 3000)]

    class Broken:
        channels, sample_rate, length = 1, 44100, 5000

        def read(self, start: int, stop: int) -> np.ndarray:
            if stop > 2000:
                raise InputError("decoding failed at sample 2048 (a test)")
            return xs[1][:, start:stop]

    def refuse() -> contextlib.AbstractContextManager[SampleSource]:
        raise InputError("cannot decode audio (a test)")

    streams = [
        Stream(3000, (9,), lambda: contextlib.nullcontext(in_memory(xs[0], 44100))),
        Stream(5000, (9,), lambda: contextlib.nullcontext(Broken())),
        Stream(3000, (9,), refuse),
        Stream(3000, (4,), lambda: contextlib.nullcontext(in_memory(xs[3], 44100))),
        Stream(0, (9,), refuse),
    ]
    enc = StreamEncoder(dac, chunk_seconds=0.02, batch_size=4)
    events = list(enc.run(streams, prefetch=2))
    done = {e.stream: e.codes for e in events if isinstance(e, Encoded)}
    errors = {e.stream: str(e.error) for e in events if isinstance(e, Failed)}
    assert sorted(done) == [0, 3]
    assert errors == {
        1: "decoding failed at sample 2048 (a test)",
        2: "cannot decode audio (a test)",
        4: "no samples to encode",
    }
    for j in (0, 3):
        alone = encode_source(in_memory(xs[j], 44100), dac, streams[j].codebooks, chunk_seconds=0.02)
        np.testing.assert_array_equal(done[j], alone)
        assert sum(e.samples for e in events if isinstance(e, Advanced) and e.stream == j) == 3000
    assert not _readers()


def test_closing_a_run_early_stops_its_reading_thread(dac: Codec) -> None:
    x = np.zeros((1, 44100 * 60), dtype=np.float32)  # a minute of windows the reader would read ahead

    def slow() -> Iterator[SampleSource]:
        yield in_memory(x, 44100)

    streams = [Stream(x.shape[1], (9,), contextlib.contextmanager(slow)) for _ in range(3)]
    run = StreamEncoder(dac, chunk_seconds=0.5).run(streams, prefetch=2)
    assert isinstance(next(run), Advanced) and _readers()
    run.close()
    assert not _readers()


def test_fixed_windows_give_the_same_codes_and_one_zero_encode_per_frame_count(
    dac: Codec, shared_audio: Path, tmp_path: Path
) -> None:
    """Windows of one length (a backend compiled per shape) change no code. A dual-mono file's Side
    is encoded once: its last window, shorter in samples, pads to the same zeros (DAC pads with zeros)."""
    from audiotok.codecs.chunking import plan_chunks
    from audiotok.codecs.silence import SilenceCache

    x, sr = sf.read(shared_audio / "music_48k_stereo.wav", dtype="float32", always_2d=True)
    dual = tmp_path / "dual.wav"
    sf.write(dual, np.stack([x[: 3 * sr + 77, 0]] * 2, axis=1), sr, subtype="FLOAT")
    other = tmp_path / "other.wav"
    sf.write(other, x[sr : 4 * sr + 77], sr, subtype="FLOAT")  # the same length; its Side is not zero

    def codes(fixed: bool, seconds: float) -> tuple[list[np.ndarray], StreamEncoder, int]:
        enc = StreamEncoder(dac, chunk_seconds=seconds, fixed_windows=fixed, silence=SilenceCache(512))
        with FileSource(dual, "mid-side") as f, FileSource(other, "mid-side") as g:
            srcs = [ResampledSource(f, 44100), ResampledSource(g, 44100)]
            streams = [Stream(s.length, (9, 4), lambda s=s: contextlib.nullcontext(s)) for s in srcs]
            done = sorted((e for e in enc.run(streams) if isinstance(e, Encoded)), key=lambda e: e.stream)
        assert srcs[0].length % 512
        return [d.codes for d in done], enc, -(-srcs[0].length // 512)

    plain, _, frames = codes(False, 0.2)
    for seconds in (0.2, 2.0):
        fixed, enc, _ = codes(True, seconds)
        for a, b in zip(plain, fixed, strict=True):
            np.testing.assert_array_equal(a, b)
        chunk = round(seconds * dac.frame_rate)
        plan = plan_chunks(frames, chunk, dac.encoder_context_frames, fixed=True)
        windows, lengths = len(plan), {c.window for c in plan}
        # every Mid and the Side of `other`; the zero Side once per window length
        assert (enc.calls, enc.rows) == (2 * windows, 3 * windows + len(lengths))
