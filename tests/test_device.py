"""audiotok.device: select_device() and set_threads(), the only code that probes CUDA and MPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from audiotok import device
from audiotok.errors import DeviceFallbackWarning, UsageError


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
