"""audiotok.device: device selection, threads, precision, batch sizing, pinned copies, token agreement."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from audiotok import device
from audiotok.cli._errors import format_error
from audiotok.errors import DeviceFallbackWarning, PrecisionFallbackWarning, UsageError


@pytest.fixture
def no_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without CUDA or MPS, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine that reports two CUDA devices (nothing is run on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.usefixtures("no_accelerator")
@pytest.mark.parametrize("name", ["auto", "cpu", "CPU", " auto ", "Auto"])
def test_cpu_without_accelerators(name: str) -> None:
    assert device.select_device(name) == torch.device("cpu")


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize(
    ("name", "expected"),
    [("auto", torch.device("cuda")), ("cuda", torch.device("cuda", 0)), ("cuda:1", torch.device("cuda", 1))],
)
def test_cuda_when_present(name: str, expected: torch.device) -> None:
    assert device.select_device(name) == expected
    assert device.select_device("cpu") == torch.device("cpu")


def test_auto_never_picks_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.select_device("auto") == torch.device("cpu")
    assert device.select_device("mps") == torch.device("mps")


@pytest.mark.usefixtures("no_accelerator")
@pytest.mark.parametrize(
    ("name", "why"),
    [("cuda", "CUDA is not available"), ("cuda:0", "CUDA is not available"), ("mps", "MPS is not available")],
)
def test_unavailable_device_falls_back_to_cpu_with_a_warning(name: str, why: str) -> None:
    with pytest.warns(DeviceFallbackWarning) as record:
        got = device.select_device(name)
    assert got == torch.device("cpu")
    (warning,) = record
    assert str(warning.message) == f"device {name!r} is not available ({why}); using the CPU"
    assert warning.filename == __file__  # points at the caller, not at device.py


@pytest.mark.usefixtures("two_gpus")
def test_cuda_index_beyond_the_devices_falls_back() -> None:
    with pytest.warns(DeviceFallbackWarning, match=r"'cuda:2' is not available \(only 2 CUDA device\(s\)\)"):
        assert device.select_device("cuda:2") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "cuda:-1", "tpu", "", "cpu:0", "cuda 0"])
def test_unknown_names_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError, match="unknown device") as info:
        device.select_device(name)
    assert "auto, cpu, cuda, cuda:N or mps" in str(info.value)


@pytest.fixture
def threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("threads")
def test_set_threads() -> None:
    device.set_threads(1)
    assert torch.get_num_threads() == 1
    device.set_threads(2)
    assert torch.get_num_threads() == 2
    device.set_threads(None)  # leaves torch's setting alone
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("threads", [0, -3])
def test_set_threads_refuses_less_than_one(threads: int) -> None:
    before = torch.get_num_threads()
    with pytest.raises(UsageError, match=f"`threads` must be >= 1, got {threads}"):
        device.set_threads(threads)
    assert torch.get_num_threads() == before


@pytest.mark.gpu
def test_cuda_is_selected_and_usable() -> None:
    picked = device.select_device("auto")
    assert picked.type == "cuda"
    assert device.select_device("cuda:0") == torch.device("cuda", 0)
    x = torch.arange(6, dtype=torch.float32, device=picked).reshape(2, 3)
    assert (x @ x.T).cpu().tolist() == [[5.0, 14.0], [14.0, 50.0]]


# -- precision ---------------------------------------------------------------------------------


@pytest.fixture
def tf32_flags() -> Iterator[None]:
    """Put torch's process-wide TF32 switches back as they were."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch, tf32_flags: None) -> list[tuple[str, torch.dtype]]:
    """A Hopper-class CUDA device as far as ``precision`` asks; records ``torch.autocast`` calls."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    calls: list[tuple[str, torch.dtype]] = []

    @contextlib.contextmanager
    def autocast(device_type: str, dtype: torch.dtype) -> Iterator[None]:
        calls.append((device_type, dtype))
        yield

    monkeypatch.setattr(torch, "autocast", autocast)
    return calls


def _flags() -> tuple[bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@pytest.mark.parametrize("name", ["fp32", "FP32", " fp32"])
def test_fp32_on_the_cpu_is_plain(name: str, tf32_flags: None) -> None:
    before = _flags()
    with device.precision(name, torch.device("cpu")) as used:
        assert used == "fp32"
        assert _flags() == before  # nothing to switch on the CPU
    assert device.resolve_precision(name, "cpu") == "fp32"


@pytest.mark.parametrize("name", ["bf16", "tf32"])
def test_reduced_precision_on_the_cpu_falls_back_to_fp32_with_a_warning(name: str) -> None:
    with pytest.warns(PrecisionFallbackWarning) as record, device.precision(name, "cpu") as used:
        assert used == "fp32"
        x = torch.ones(2, 2)
        assert (x @ x).dtype == torch.float32
    (warning,) = record
    assert str(warning.message) == f"precision {name!r} needs a CUDA device, not cpu; using fp32"
    assert warning.filename == __file__  # points at the caller's `with`, not at device.py or contextlib
    with pytest.warns(PrecisionFallbackWarning) as record:
        assert device.resolve_precision(name, torch.device("cpu")) == "fp32"
    assert record[0].filename == __file__


@pytest.mark.parametrize("name", ["fp16", "float32", "", "bf 16", "int8"])
def test_unknown_precision_is_a_one_line_usage_error_naming_the_parameter(name: str) -> None:
    with pytest.raises(UsageError) as info, device.precision(name, "cpu"):
        pass  # pragma: no cover
    err = info.value
    assert err.param == "precision"
    assert str(err) == f"unknown `precision` {name!r}; expected fp32, tf32, bf16"
    assert "--" not in str(err)  # the CLI maps `precision` to its flag
    assert format_error(err) == f"usage error: unknown --precision {name!r}; expected fp32, tf32, bf16"


def test_fp32_on_cuda_turns_tf32_off_and_restores_it(fake_cuda: list[tuple[str, torch.dtype]]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True  # torch's defaults
    with device.precision("fp32", torch.device("cuda")) as used:
        assert used == "fp32"
        assert _flags() == (False, False)  # cuDNN convolutions in real fp32 too
    assert _flags() == (False, True)
    assert fake_cuda == []


def test_tf32_on_cuda_turns_tf32_on_and_restores_it(fake_cuda: list[tuple[str, torch.dtype]]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, False
    with device.precision("tf32", "cuda:0") as used:
        assert used == "tf32"
        assert _flags() == (True, True)
    assert _flags() == (False, False)
    assert fake_cuda == []


def test_bf16_on_cuda_is_autocast(fake_cuda: list[tuple[str, torch.dtype]]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    with device.precision("bf16", torch.device("cuda")) as used:
        assert used == "bf16"
        assert fake_cuda == [("cuda", torch.bfloat16)]
        assert _flags() == (True, True)  # what autocast leaves in fp32 may use TF32
    assert _flags() == (False, True)


def test_precision_restores_the_switches_after_an_error(fake_cuda: list[tuple[str, torch.dtype]]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    with pytest.raises(RuntimeError, match="boom"), device.precision("tf32", "cuda"):
        raise RuntimeError("boom")
    assert _flags() == (False, True)


@pytest.mark.usefixtures("tf32_flags")
def test_reduced_precision_on_a_pre_ampere_gpu_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    with pytest.warns(PrecisionFallbackWarning, match=r"capability 8.0 or newer, not 7.0; using fp32"):
        with device.precision("bf16", torch.device("cuda")) as used:
            assert used == "fp32"
            assert _flags() == (False, False)


# -- batch size, peak memory -------------------------------------------------------------------


def test_batch_size_on_the_cpu_is_one() -> None:
    assert device.batch_size_for("cpu", 44100 * 5, 2000.0) == 1
    assert device.batch_size_for(torch.device("mps"), 10, 1.0) == 1


@pytest.mark.parametrize(
    ("free", "expected"),
    [
        (10 * 2**30, 85),  # 0.8 * 10 GiB / (100_000 samples * 1000 B)
        (2**20, 1),  # never below 1
        (10**15, 256),  # never above max_batch
    ],
)
def test_batch_size_fills_free_cuda_memory(monkeypatch: pytest.MonkeyPatch, free: int, expected: int) -> None:
    asked: list[torch.device] = []

    def mem_get_info(dev: torch.device) -> tuple[int, int]:
        asked.append(dev)
        return free, 2 * free

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    assert device.batch_size_for("cuda:0", 100_000, 1000.0) == expected
    assert asked == [torch.device("cuda", 0)]


def test_batch_size_headroom_and_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev: (1000, 1000))
    assert device.batch_size_for("cuda", 10, 1.0, headroom=1.0) == 100
    assert device.batch_size_for("cuda", 10, 1.0, headroom=0.5, max_batch=20) == 20


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"window_samples": 0}, "window_samples"),
        ({"bytes_per_sample_estimate": 0.0}, "bytes_per_sample_estimate"),
        ({"bytes_per_sample_estimate": float("nan")}, "bytes_per_sample_estimate"),
        ({"headroom": 0.0}, "headroom"),
        ({"headroom": 1.5}, "headroom"),
        ({"max_batch": 0}, "max_batch"),
    ],
)
def test_batch_size_refuses_bad_sizes(kwargs: dict[str, float], param: str) -> None:
    args: dict[str, Any] = {"window_samples": 100, "bytes_per_sample_estimate": 1.0, **kwargs}
    with pytest.raises(UsageError, match=f"`{param}` must be") as info:
        device.batch_size_for("cpu", **args)
    assert info.value.param == param


def test_peak_memory_is_zero_off_cuda() -> None:
    device.reset_peak_memory("cpu")
    assert device.peak_memory(torch.device("cpu")) == 0


# -- to_device ---------------------------------------------------------------------------------


def test_to_device_on_the_cpu_shares_memory() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = device.to_device(x, "cpu")
    assert t.dtype == torch.float32 and t.shape == (3, 4)
    t[0, 0] = 42.0
    assert x[0, 0] == 42.0  # no copy
    same = torch.zeros(2)
    assert device.to_device(same, torch.device("cpu")) is same


def test_to_device_copies_what_it_cannot_share() -> None:
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    t = device.to_device(x.T, "cpu")  # not C-ordered
    assert t.tolist() == x.T.tolist() and t.is_contiguous()
    ro = np.arange(4, dtype=np.float32)
    ro.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about read-only arrays: none here
        t = device.to_device(ro, "cpu")
    t[0] = 9.0
    assert ro[0] == 0.0


def test_to_device_to_cuda_pins_then_copies_without_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[object] = []

    def pin_memory(self: torch.Tensor) -> torch.Tensor:
        events.append("pin")
        return self.clone()

    def to(self: torch.Tensor, dev: torch.device, non_blocking: bool = False) -> torch.Tensor:
        events.append((dev, non_blocking))
        return self

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    monkeypatch.setattr(torch.Tensor, "to", to)
    out = device.to_device(np.ones((2, 3), dtype=np.float32), "cuda")
    assert events == ["pin", (torch.device("cuda"), True)]
    assert out.shape == (2, 3)


# -- token agreement ---------------------------------------------------------------------------


def test_token_agreement() -> None:
    a = np.arange(20).reshape(10, 2)
    assert device.token_agreement(a, a.copy()) == 1.0
    b = a.copy()
    b[:5, 0] += 1  # 5 of 20
    assert device.token_agreement(a, b) == 0.75
    assert device.token_agreement(torch.from_numpy(a), torch.from_numpy(b)) == 0.75
    assert device.token_agreement(a, a + 1) == 0.0


@pytest.mark.parametrize(
    ("a", "b"), [(np.zeros((3, 2)), np.zeros((2, 3))), (np.zeros((0, 4)), np.zeros((0, 4)))]
)
def test_token_agreement_refuses_what_cannot_be_compared(a: np.ndarray, b: np.ndarray) -> None:
    with pytest.raises(UsageError, match="compare") as info:
        device.token_agreement(a, b)
    assert info.value.param == "a"


# -- on a GPU ----------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.usefixtures("tf32_flags")
def test_precisions_on_cuda() -> None:
    dev = device.select_device("cuda")
    x = torch.randn(64, 64, device=dev)
    with device.precision("bf16", dev) as used:
        assert used == "bf16"
        assert (x @ x).dtype == torch.bfloat16
    with device.precision("fp32", dev):
        assert (x @ x).dtype == torch.float32
        assert not torch.backends.cudnn.allow_tf32


@pytest.mark.gpu
def test_to_device_batch_size_and_peak_memory_on_cuda() -> None:
    dev = device.select_device("cuda")
    device.reset_peak_memory(dev)
    x = np.random.default_rng(0).standard_normal((4, 1, 44100)).astype(np.float32)
    t = device.to_device(x, dev)
    assert t.device.type == "cuda"
    assert np.array_equal(t.cpu().numpy(), x)  # .cpu() waits for the copy
    assert device.peak_memory(dev) >= x.nbytes
    assert device.batch_size_for(dev, 44100, 1.0) > 1


@pytest.mark.gpu
@pytest.mark.usefixtures("tf32_flags")
def test_dac_codes_per_precision_agree_with_fp32(tiny_weights: Any) -> None:
    """A tiny DAC on CUDA: every precision gives codes of the same shape, mostly those of fp32."""
    from audiotok.codecs import registry

    dev = device.select_device("cuda")
    codec = registry.load_codec(tiny_weights, family="dac", device=dev)
    x = np.random.default_rng(0).standard_normal((2, 1, 44100)).astype(np.float32) * 0.1
    codes = {}
    for name in device.PRECISIONS:
        with device.precision(name, dev):
            codes[name] = codec.encode(device.to_device(x, dev), 4).cpu()
    cpu = registry.load_codec(tiny_weights, family="dac").encode(torch.from_numpy(x), 4)
    assert device.token_agreement(codes["fp32"], cpu) > 0.95
    for name in ("tf32", "bf16"):
        assert codes[name].shape == codes["fp32"].shape
        assert device.token_agreement(codes[name], codes["fp32"]) > 0.5


def test_cpu_only_is_known_without_torch_from_the_name_and_the_driver_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(device.glob, "glob", lambda pattern: [])
    assert device.cpu_only("cpu") and device.cpu_only(" Auto ")
    assert not device.cpu_only("cuda") and not device.cpu_only("mps")
    nvidia = lambda pattern: ["/dev/nvidia0"] if "nvidia" in pattern else []  # noqa: E731
    monkeypatch.setattr(device.glob, "glob", nvidia)
    assert not device.cpu_only("auto") and device.cpu_only("cpu")  # auto: torch decides


def test_threads_follow_set_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "_threads", None)
    before = torch.get_num_threads()
    assert device.threads() == before  # torch is imported here: its count
    try:
        device.set_threads(1)
        assert device.threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert 1 <= device.usable_cpus() <= (os.cpu_count() or 1)
