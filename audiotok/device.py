"""Compute device selection and GPU settings: the only module that probes CUDA and MPS.

- :func:`select_device` and :func:`set_threads`: where to compute, with how many CPU threads;
  :func:`cpu_only` and :func:`threads` answer the same without importing PyTorch (a run on a
  cached OpenVINO model needs none of it);
- :func:`precision`: fp32, tf32 or bf16 math for a block of code (CUDA);
- :func:`batch_size_for`: how many windows fit in the device's free memory;
- :func:`to_device`: host arrays to the device through pinned memory, without blocking;
- :func:`token_agreement`: how often two code arrays agree (a precision against fp32, say);
- :func:`peak_memory` and :func:`reset_peak_memory`: the device's peak allocation.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from audiotok.errors import DeviceFallbackWarning, PrecisionFallbackWarning, UsageError

if TYPE_CHECKING:
    import torch

__all__ = [
    "PRECISIONS",
    "Precision",
    "batch_size_for",
    "cpu_only",
    "device_kind",
    "peak_memory",
    "precision",
    "reset_peak_memory",
    "resolve_precision",
    "select_device",
    "set_threads",
    "threads",
    "to_device",
    "token_agreement",
    "usable_cpus",
]

_CUDA = re.compile(r"^cuda(?::(\d+))?$")

Precision = Literal["fp32", "tf32", "bf16"]
#: The precisions :func:`precision` knows, the default first.
PRECISIONS: tuple[Precision, ...] = ("fp32", "tf32", "bf16")


def _fallback(requested: str, why: str) -> torch.device:
    import torch

    warnings.warn(
        DeviceFallbackWarning(f"device {requested!r} is not available ({why}); using the CPU"),
        stacklevel=3,
    )
    return torch.device("cpu")


def select_device(requested: str = "auto") -> torch.device:
    """Resolve a device name to a :class:`torch.device`.

    Parameters
    ----------
    requested : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``. MPS is never chosen by ``"auto"``: DAC and
        EnCodec codes are known to come out silently wrong on MPS, so it is
        used only when asked for.

    Returns
    -------
    torch.device
        An explicitly requested device that is unavailable falls back to the CPU
        with a :class:`~audiotok.errors.DeviceFallbackWarning`.

    Raises
    ------
    UsageError
        If ``requested`` is not a device name audiotok knows.
    """
    import torch

    name = requested.strip().lower()
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = _CUDA.match(name)
    if match:
        if not torch.cuda.is_available():
            return _fallback(requested, "CUDA is not available")
        index = int(match.group(1) or 0)
        count = torch.cuda.device_count()
        if index >= count:
            return _fallback(requested, f"only {count} CUDA device(s)")
        return torch.device("cuda", index)
    if name == "mps":
        if not torch.backends.mps.is_available():
            return _fallback(requested, "MPS is not available")
        return torch.device("mps")
    raise UsageError(f"unknown device {requested!r}; expected auto, cpu, cuda, cuda:N or mps")


#: Device nodes of a CUDA (NVIDIA, or AMD's ROCm) driver; WSL's GPU bridge.
_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")


def cpu_only(requested: str = "auto") -> bool:
    """Whether :func:`select_device` ``(requested)`` is surely the CPU, known without importing PyTorch.

    True for ``"cpu"``, and for ``"auto"`` where no CUDA driver's device
    nodes exist (``/dev/nvidia*``, ROCm's ``/dev/kfd``, WSL's ``/dev/dxg``):
    there CUDA cannot be available. False means "ask PyTorch"
    (:func:`select_device`), which may still answer the CPU.
    """
    name = requested.strip().lower()
    if name == "cpu":
        return True
    return name == "auto" and not any(glob.glob(pattern) for pattern in _GPU_NODES)


_threads: int | None = None


def set_threads(threads: int | None) -> None:
    """Set the number of CPU threads the codecs use (``None`` leaves the default).

    PyTorch's own count is set now if torch is imported, else through
    ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``, which torch reads when it
    is imported; :func:`threads` gives the number to other backends.

    Raises
    ------
    UsageError
        If ``threads < 1``.
    """
    global _threads
    if threads is None:
        return
    if threads < 1:
        raise UsageError(f"`threads` must be >= 1, got {threads}", param="threads")
    _threads = threads
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)


def threads() -> int:
    """CPU threads for inference: :func:`set_threads`' number, else PyTorch's if it is imported,
    else ``OMP_NUM_THREADS``, else the CPUs this process may run on."""
    if _threads is not None:
        return _threads
    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else usable_cpus()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity), or all of them."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


# -- precision ---------------------------------------------------------------------------------


def _as_device(device: torch.device | str) -> torch.device:
    import torch

    return device if isinstance(device, torch.device) else torch.device(device)


def device_kind(device: torch.device | str) -> str:
    """``cpu``, ``cuda`` or ``mps`` of a device or its name, without importing PyTorch."""
    return str(getattr(device, "type", device)).split(":")[0]


def resolve_precision(name: str, device: torch.device | str) -> Precision:
    """The precision that :func:`precision` ``(name, device)`` computes in.

    ``tf32`` and ``bf16`` need a CUDA device of compute capability 8.0 or
    newer (Ampere: A100, H100, ...); elsewhere (the CPU, MPS, older GPUs)
    they fall back to ``fp32`` with a
    :class:`~audiotok.errors.PrecisionFallbackWarning`, as an unavailable
    device falls back to the CPU: a command written for a GPU machine still
    runs, more slowly, where there is none.

    Raises
    ------
    UsageError
        If ``name`` is not ``fp32``, ``tf32`` or ``bf16``.
    """
    return _resolve(name, device, stacklevel=3)


def _resolve(name: str, dev: torch.device | str, *, stacklevel: int) -> Precision:
    key = name.strip().lower()
    if key not in PRECISIONS:
        raise UsageError(f"unknown `precision` {name!r}; expected {', '.join(PRECISIONS)}", param="precision")
    wanted: Precision = key
    if wanted == "fp32":
        return wanted
    kind = device_kind(dev)
    if kind != "cuda":
        why = f"needs a CUDA device, not {kind}"
    else:
        import torch

        major, minor = torch.cuda.get_device_capability(_as_device(dev))
        if (major, minor) >= (8, 0):
            return wanted
        why = f"needs a CUDA device of compute capability 8.0 or newer, not {major}.{minor}"
    warnings.warn(PrecisionFallbackWarning(f"precision {wanted!r} {why}; using fp32"), stacklevel=stacklevel)
    return "fp32"


@contextlib.contextmanager
def precision(name: str = "fp32", device: torch.device | str = "cpu") -> Iterator[Precision]:
    """Compute in ``name`` precision on ``device`` inside the ``with`` block.

    ``fp32``
        Full float32 on CUDA: TF32 off for matrix products *and* cuDNN
        convolutions (torch's default lets cuDNN use TF32).
    ``tf32``
        float32 tensors, TF32 tensor-core math for matrix products and cuDNN
        convolutions (``torch.backends.cuda.matmul.allow_tf32``,
        ``torch.backends.cudnn.allow_tf32``).
    ``bf16``
        ``torch.autocast("cuda", dtype=torch.bfloat16)``: convolutions and
        matrix products in bfloat16, the rest in float32 (TF32 allowed).

    On the CPU every precision is plain float32 (see :func:`resolve_precision`
    for the fallback). The TF32 switches are process-wide and restored on
    exit; autocast applies to the calling thread only, so the codec must run
    in the thread that entered the block.

    Yields
    ------
    Precision
        The precision in effect (``fp32`` after a fallback).

    Raises
    ------
    UsageError
        If ``name`` is not a known precision.
    """
    used = _resolve(name, device, stacklevel=4)  # past this generator and contextlib's __enter__
    if device_kind(device) != "cuda":
        yield used
        return
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = used != "fp32"
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16) if used == "bf16" else contextlib.nullcontext():
            yield used
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# -- memory ------------------------------------------------------------------------------------


def batch_size_for(
    device: torch.device | str,
    window_samples: int,
    bytes_per_sample_estimate: float,
    *,
    headroom: float = 0.8,
    max_batch: int = 256,
) -> int:
    """How many windows of ``window_samples`` fit in one encoder call on ``device``.

    On CUDA: ``headroom`` of the free memory (``torch.cuda.mem_get_info``)
    divided by ``window_samples * bytes_per_sample_estimate`` (the peak
    memory one batch row takes per input sample, activations included),
    between 1 and ``max_batch``. Elsewhere 1: the CPU gains nothing from
    batching windows, and MPS reports no free memory.

    Parameters
    ----------
    device : torch.device or str
    window_samples : int
        Input samples of one batch row (chunk plus context, one channel).
    bytes_per_sample_estimate : float
        Peak bytes per input sample of one row; measure it as the growth of
        :func:`peak_memory` over one encoder call divided by its samples.
    headroom : float
        Part of the free memory to plan for, in ``(0, 1]``.
    max_batch : int
        Upper bound.

    Raises
    ------
    UsageError
        If a size is not positive or ``headroom`` is outside ``(0, 1]``.
    """
    if window_samples < 1:
        raise UsageError(f"`window_samples` must be >= 1, got {window_samples}", param="window_samples")
    if not bytes_per_sample_estimate > 0:
        raise UsageError(
            f"`bytes_per_sample_estimate` must be > 0, got {bytes_per_sample_estimate}",
            param="bytes_per_sample_estimate",
        )
    if not 0 < headroom <= 1:
        raise UsageError(f"`headroom` must be in (0, 1], got {headroom}", param="headroom")
    if max_batch < 1:
        raise UsageError(f"`max_batch` must be >= 1, got {max_batch}", param="max_batch")
    import torch

    dev = _as_device(device)
    if dev.type != "cuda":
        return 1
    free, _total = torch.cuda.mem_get_info(dev)
    rows = int(free * headroom // (window_samples * bytes_per_sample_estimate))
    return max(1, min(max_batch, rows))


def peak_memory(device: torch.device | str) -> int:
    """Peak bytes allocated on a CUDA ``device`` since the last reset (0 elsewhere)."""
    import torch

    dev = _as_device(device)
    return int(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else 0


def reset_peak_memory(device: torch.device | str) -> None:
    """Start :func:`peak_memory` afresh (nothing elsewhere than CUDA)."""
    import torch

    dev = _as_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def to_device(
    array: np.ndarray[Any, Any] | torch.Tensor, device: torch.device | str, *, non_blocking: bool = True
) -> torch.Tensor:
    """``array`` as a tensor on ``device``; to CUDA through pinned host memory, without blocking.

    On the CPU the result shares ``array``'s memory when it can (a C-ordered,
    writeable array; else a copy). To CUDA the data is copied into
    page-locked memory (torch's caching host allocator, so repeated batches
    of one size reuse it) and from there with ``non_blocking``, so the host
    can read the next window while the copy runs; work queued on the device
    afterwards sees the data, and so does ``.cpu()``.
    """
    import torch

    dev = _as_device(device)
    if isinstance(array, torch.Tensor):
        tensor = array
    else:
        contiguous = np.ascontiguousarray(array)
        tensor = torch.from_numpy(contiguous if contiguous.flags.writeable else contiguous.copy())
    if dev.type == "cpu":
        return tensor
    if dev.type == "cuda":
        if tensor.device.type == "cpu" and not tensor.is_pinned():
            tensor = tensor.pin_memory()
        return tensor.to(dev, non_blocking=non_blocking)
    return tensor.to(dev)


# -- comparing codes ---------------------------------------------------------------------------


def token_agreement(a: np.ndarray[Any, Any] | torch.Tensor, b: np.ndarray[Any, Any] | torch.Tensor) -> float:
    """The fraction of positions where codes ``a`` and ``b`` are equal, in ``[0, 1]``.

    For comparing the codes of one input from two runs (bf16 against fp32, a
    GPU against the CPU). ``a`` and ``b`` are integer arrays of one shape,
    e.g. ``[T, K]`` as ``.npq`` files hold them.

    Raises
    ------
    UsageError
        If the shapes differ or the arrays are empty.
    """
    x = a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
    y = b.detach().cpu().numpy() if hasattr(b, "detach") else np.asarray(b)
    if x.shape != y.shape:
        raise UsageError(f"codes of shapes {x.shape} and {y.shape} cannot be compared", param=("a", "b"))
    if x.size == 0:
        raise UsageError("no codes to compare", param=("a", "b"))
    return float(np.count_nonzero(x == y)) / x.size
