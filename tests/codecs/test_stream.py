"""One chunked stream encoder/decoder for every codec: chunked == whole-file, and today's EnCodec windows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from audiotok.codecs import registry, stream
from audiotok.codecs.encodec.model import EncodecCodec
from audiotok.codecs.plugin import Codec
from tests._encodec import in_memory, install


@pytest.fixture
def dac(dac_home: Path) -> Codec:
    return registry.load_codec("dac-44khz")


def _stereo(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 44100
    tones = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)])
    return (tones + 0.05 * rng.standard_normal((2, n))).astype(np.float32)


@pytest.mark.parametrize(
    ("n", "chunk_seconds", "batch_size"),
    [
        (3 * 44100 + 123, 0.5, 1),
        (3 * 44100 + 123, 0.5, 3),
        (3 * 44100 + 123, 0.05, 4),  # chunks shorter than the context
        (43800, 0.5, 4),  # two windows of 59 frames, the last one 232 samples short
    ],
)
def test_dac_chunked_equals_whole_file_bit_exact(
    dac: Codec, n: int, chunk_seconds: float, batch_size: int
) -> None:
    x = _stereo(n)
    whole = stream.encode_source(in_memory(x, 44100), dac, (9, 4))
    seen: list[int] = []
    chunked = stream.encode_source(
        in_memory(x, 44100), dac, (9, 4), chunk_seconds=chunk_seconds, batch_size=batch_size,
        on_chunk=seen.append,
    )  # fmt: skip
    assert whole.shape == (math.ceil(n / 512), 13) and whole.dtype == np.int64
    np.testing.assert_array_equal(chunked, whole)
    assert sum(seen) == n and len(seen) > 1
    direct = dac.encode(torch.from_numpy(x)[:, None], 9).numpy()  # [2, 9, T]: Mid/Side as two mono items
    np.testing.assert_array_equal(whole[:, :9], direct[0].T)
    np.testing.assert_array_equal(whole[:, 9:], direct[1, :4].T)


def test_dac_chunked_decode_matches_whole(dac: Codec) -> None:
    codes = np.random.default_rng(0).integers(0, 1024, size=(300, 13))
    whole = np.concatenate(list(stream.decode_codes(codes, dac, (9, 4))), axis=1)
    pieces = list(stream.decode_codes(codes, dac, (9, 4), chunk_frames=43))
    assert len(pieces) == 7 and [p.shape[1] for p in pieces[:-1]] == [43 * 512] * 6
    chunked = np.concatenate(pieces, axis=1)
    assert whole.shape == chunked.shape == (2, 300 * 512) and chunked.dtype == np.float32
    np.testing.assert_allclose(chunked, whole, atol=1e-5, rtol=0)
    silent = np.concatenate(list(stream.decode_codes(codes[:, :9], dac, (9, 0), chunk_frames=100)), axis=1)
    np.testing.assert_array_equal(silent[1], 0)
    np.testing.assert_allclose(silent[0], whole[0], atol=1e-5, rtol=0)


def test_source_must_fit_the_codec(dac: Codec) -> None:
    x = _stereo(1000)
    with pytest.raises(ValueError, match="2 channels but 1 items"):
        stream.encode_source(in_memory(x, 44100), dac, (9,))
    with pytest.raises(ValueError, match="48000 Hz"):
        stream.encode_source(in_memory(x, 48000), dac, (9, 4))
    with pytest.raises(ValueError, match="no samples"):
        stream.encode_source(in_memory(x[:, :0], 44100), dac, (9, 4))


def _windows_before(
    c: EncodecCodec, x: torch.Tensor, k: int, chunk_s: float, context_s: float, batch_size: int
) -> np.ndarray:
    """Codes as ``encodec.encode_stream`` made them before the one planner (its own sample windows)."""
    hop, n = c.hop_length, x.shape[-1]
    total, chunk_frames = math.ceil(n / hop), max(1, round(chunk_s * c.frame_rate))
    if total <= chunk_frames:
        return c.encode(x[None], k)[0, :, :total].T.numpy()
    chunk, left = chunk_frames * hop, round(context_s * c.frame_rate) * hop
    right = 0 if c.spec.causal else left
    windows = []  # (start, end, frames dropped, frames kept)
    for start in range(0, n, chunk):
        a, b = max(0, start - left), min(n, start + chunk + right)
        windows.append((a, b, (start - a) // hop, math.ceil(min(chunk, n - start) / hop)))
    out, i = [], 0
    while i < len(windows):
        group = [windows[i]]
        while len(group) < batch_size and i + len(group) < len(windows):
            nxt = windows[i + len(group)]
            if nxt[1] - nxt[0] != group[0][1] - group[0][0]:
                break
            group.append(nxt)
        codes = c.encode(torch.stack([x[:, a:b] for a, b, _, _ in group]), k)
        out.extend(codes[j, :, d : d + keep] for j, (_, _, d, keep) in enumerate(group))
        i += len(group)
    return torch.cat(out, dim=-1).T.numpy()


@pytest.mark.parametrize("name", ["encodec_24khz", "encodec_48khz"])
@pytest.mark.parametrize(
    ("chunk_s", "context_s", "batch_size"), [(0.4, 0.2, 1), (0.4, 0.3, 3), (5.0, 1.0, 1)]
)
def test_encodec_windows_are_todays(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
    chunk_s: float,
    context_s: float,
    batch_size: int,
) -> None:
    install(monkeypatch, tmp_path / "torch", name)
    c = registry.load_codec(name)
    assert isinstance(c, EncodecCodec)
    x = (
        torch.randn(c.channels, int(c.sample_rate * 2.3) + 17, generator=torch.Generator().manual_seed(1))
        * 0.1
    )
    got = stream.encode_source(
        in_memory(x, c.sample_rate), c, (4,), chunk_seconds=chunk_s, context=c.encoder_context(context_s),
        batch_size=batch_size,
    )  # fmt: skip
    np.testing.assert_array_equal(got, _windows_before(c, x, 4, chunk_s, context_s, batch_size))
