"""What the encode and decode commands share: this process's device, and the encode summary line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from audiotok.cli._groups import Compute
from audiotok.cli._lazy import lazy_import

if TYPE_CHECKING:
    import torch

    from audiotok import device as device_lib
    from audiotok.services.encode import EncodeSummary
    from audiotok.services.engines.ray import RayOptions
else:
    device_lib = lazy_import("audiotok.device")

__all__ = ["encode_summary_line", "local_device"]


@contextlib.contextmanager
def local_device(compute: Compute, rays: RayOptions | None) -> Iterator[torch.device | str | None]:
    """This process's device under ``--precision`` (local engine); nothing here for Ray's actors.

    ``"cpu"`` without importing PyTorch where the CPU is sure (:func:`~audiotok.device.cpu_only`):
    an encode on a cached OpenVINO model then needs no PyTorch at all.
    """
    if rays is not None:  # each actor applies device, precision and threads (RayOptions)
        yield None
        return
    device_lib.set_threads(compute.threads)
    device = compute.device
    dev: torch.device | str = "cpu" if device_lib.cpu_only(device) else device_lib.select_device(device)
    with device_lib.precision(compute.precision, dev):
        yield dev


def encode_summary_line(summary: EncodeSummary, mono: str = "NPQ1") -> str:
    """Counts; speed and model only when something was encoded (failures are on stderr already).

    ``mono`` names what mono inputs became under Mid/Side (``NPQ1`` for ``npq encode``).
    """
    counts = f"{summary.files_ok} ok, {summary.files_skipped} skipped, {summary.files_failed} failed"
    if not summary.files_written:
        return counts
    monos = f"{summary.files_mono} mono → {mono}; " if summary.files_mono else ""
    return (
        f"{counts}; {monos}{summary.audio_hours:.3f} h of audio in {summary.wall_seconds:.1f} s "
        f"({summary.real_time_factor:.2f}x real time); model {summary.model}"
        + (f" sha256 {summary.weights_sha256[:16]}…" if summary.weights_sha256 else "")
    )
