"""Compute device selection: the only module that probes CUDA and MPS."""

from __future__ import annotations

import re
import warnings

import torch

from audiotok.errors import DeviceFallbackWarning, UsageError

__all__ = ["select_device", "set_threads"]

_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def _fallback(requested: str, why: str) -> torch.device:
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


def set_threads(threads: int | None) -> None:
    """Set the number of CPU threads torch uses (``None`` leaves torch's default).

    Raises
    ------
    UsageError
        If ``threads < 1``.
    """
    if threads is None:
        return
    if threads < 1:
        raise UsageError(f"`threads` must be >= 1, got {threads}", param="threads")
    torch.set_num_threads(threads)
