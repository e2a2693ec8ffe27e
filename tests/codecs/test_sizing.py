"""Encoder batch sizes: 1 on the CPU, a same-length group on a backend compiled per length,
filled from measured bytes per sample on CUDA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from audiotok.codecs import registry, sizing
from audiotok.codecs.plugin import Codec, Context


def test_cpu_batches_one_window(dac_home: Path) -> None:
    codec = registry.load_codec("dac-44khz")
    assert sizing.auto_batch_size(codec, 4.0) == 1
    ctx = codec.encoder_context_frames
    assert sizing.window_samples(codec, 4.0) == (round(4.0 * codec.frame_rate) + ctx.before + ctx.after) * 512


class _PerLengthCodec(Codec):
    """A CPU codec whose encoder backend is compiled per window length (as OpenVINO's is)."""

    device = torch.device("cpu")

    def __init__(self, fixed: bool) -> None:
        self.fixed = fixed

    def fixed_shapes(self, part: str) -> bool:
        return self.fixed and part == "encoder"


def test_a_backend_compiled_per_length_groups_windows_of_one_length() -> None:
    assert sizing.auto_batch_size(_PerLengthCodec(True), 2.0) == sizing.SAME_LENGTH_GROUP > 1
    assert sizing.auto_batch_size(_PerLengthCodec(True), 2.0, max_batch=3) == 3
    assert sizing.auto_batch_size(_PerLengthCodec(False), 2.0) == 1


class _FakeCudaCodec(Codec):
    """A codec that says it is on CUDA and 'allocates' 1000 bytes per input sample per call."""

    device = torch.device("cuda")
    channels, hop_length, sample_rate = 1, 512, 44100
    encoder_context_frames = Context(16, 16)  # type: ignore[assignment]

    def __init__(self) -> None:
        self.peak = 0
        self.calls: list[tuple[int, ...]] = []

    def encode(self, x: torch.Tensor, k: int) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        self.peak = 1000 * x.numel()
        return torch.zeros(x.shape[0], k, x.shape[-1] // 512, dtype=torch.long)


def test_cuda_batch_comes_from_one_probe_call(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = _FakeCudaCodec()
    seen: dict[str, Any] = {}

    def batch_size_for(dev: Any, window: int, per_sample: float, *, max_batch: int) -> int:
        seen.update(window=window, per_sample=per_sample, max_batch=max_batch)
        return 7

    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda dev=None: 0)
    monkeypatch.setattr(sizing.device_lib, "reset_peak_memory", lambda dev: None)
    monkeypatch.setattr(sizing.device_lib, "peak_memory", lambda dev: codec.peak)
    monkeypatch.setattr(sizing.device_lib, "to_device", lambda a, dev: torch.from_numpy(a))
    monkeypatch.setattr(sizing.device_lib, "batch_size_for", batch_size_for)
    assert sizing.auto_batch_size(codec, 4.0) == 7
    window = (round(4.0 * 44100 / 512) + 32) * 512
    assert codec.calls == [(2, 1, window)]
    assert seen == {"window": window, "per_sample": 1000 * sizing.SAFETY, "max_batch": sizing.MAX_AUTO_BATCH}


@pytest.mark.gpu
def test_real_cuda_batch_fits(dac_home: Path) -> None:
    codec = registry.load_codec("dac-44khz", device=torch.device("cuda"))
    n = sizing.auto_batch_size(codec, 4.0)
    assert 1 <= n <= sizing.MAX_AUTO_BATCH
