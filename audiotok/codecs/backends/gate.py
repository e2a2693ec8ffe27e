"""The backends' correctness gate: a backend's network against eager PyTorch on a fixed probe signal.

:func:`probe_signal` is the same on every machine; :func:`_gate` encodes it
(or decodes its codes) with the backend and with eager PyTorch. An encoder
passes when the codes are equal token for token, a decoder when its audio is
within :data:`DECODER_TOLERANCE` of eager's. An OpenVINO network is checked
three ways: on its dynamic-shape model, on a model compiled for the probe's
length, and inside one compiled for twice that length (masked, where the
model takes ``valid``). A codec whose exported encoder stops before its
quantizer may name a tolerance instead (``Codec.export_tolerance``: Mimi's
SEANet): then the export module's output on the probe, relative to its peak,
must be that close to eager's, since a near-tie in a deep codebook of the
probe can flip a code under any change of rounding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np

from audiotok.codecs.backends.openvino import OpenVinoNetwork

if TYPE_CHECKING:
    import torch

    from audiotok.codecs.plugin import Codec, Network, Part

DECODER_TOLERANCE = 1e-4
"""Largest absolute difference from eager a decoder backend may make on the probe (full scale 1.0)."""
PROBE_SECONDS = 1.5
"""Length of the gate's probe signal (seconds)."""


def probe_signal(sample_rate: int, channels: int, seconds: float = PROBE_SECONDS) -> torch.Tensor:
    """The gate's probe: a chirp, a chord and seeded noise at ``sample_rate``.

    Returns
    -------
    audio : Tensor[1, channels, round(seconds * sample_rate)]
        float32, peak below 0.6; the same on every machine.
    """
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    chirp = np.sin(2 * np.pi * (80 * t + 2000 * t**2))
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    noise = np.random.default_rng(20261201).standard_normal((channels, n)) * 0.05
    audio = 0.25 * chirp + 0.25 * chord + noise
    import torch

    return torch.from_numpy(audio.astype(np.float32)).reshape(1, channels, n)


def _example(codec: Codec, part: Part) -> torch.Tensor:
    """The input a conversion traces ``codec.export_module(part)`` on: from 0.5 s of the probe, on the CPU."""
    import torch

    audio = probe_signal(codec.sample_rate, codec.channels, 0.5)
    with torch.inference_mode():
        return codec.export_example(part, audio.to(codec.device)).cpu()


def _gate(codec: Codec, part: Part, runner: Network) -> tuple[bool, str]:
    """Compare ``runner`` with eager on the probe: (passed, detail)."""
    probe = probe_signal(codec.sample_rate, codec.channels)
    tolerance = codec.export_tolerance(part)
    if tolerance is not None:
        return _gate_output(codec, part, runner, probe, tolerance)
    k = codec.export_codebooks  # what the exported encoder gives
    encode = cast(Any, codec).encode
    decode = cast(Any, codec).decode
    previous, name = codec.runner(part), codec.backend_of(part)
    try:
        codec.set_runner(part, None)
        codes = encode(probe, k)
        want = decode(codes) if part == "decoder" else codes
        codec.set_runner(part, runner, "gate")
        runs = [decode(codes) if part == "decoder" else encode(probe, k)]
        if isinstance(runner, OpenVinoNetwork):  # and on a model compiled for the probe's shape
            codec.expect_windows(part, [codes.shape[-1]])
            runs.append(decode(codes) if part == "decoder" else encode(probe, k))
            # and inside a model compiled for a longer window (masked, where the model takes `valid`)
            codec.expect_windows(part, [2 * codes.shape[-1]])
            runs.append(decode(codes) if part == "decoder" else encode(probe, k))
            runner.forget()  # the probe's lengths are no one's windows
    finally:
        codec.set_runner(part, previous, name)
    if part == "encoder":
        equal = min(float((got == want).float().mean()) for got in runs)
        return equal == 1.0, f"codes equal to eager on the probe: {equal:.4%}"
    diff = max(float((got.float() - want.float()).abs().max()) for got in runs)
    return diff <= DECODER_TOLERANCE, f"largest difference from eager on the probe: {diff:.2e}"


def _gate_output(
    codec: Codec, part: Part, runner: Network, probe: torch.Tensor, tolerance: float
) -> tuple[bool, str]:
    """The export module's output on the probe through ``runner`` against eager, relative to its peak."""
    import torch

    with torch.inference_mode():
        example = codec.export_example(part, probe.to(codec.device))
        want = codec.export_module(part)(example).float().cpu()
        got = torch.as_tensor(runner(example)).float().cpu()
    if got.shape != want.shape:
        return False, f"output shape {tuple(got.shape)} on the probe, eager's {tuple(want.shape)}"
    diff = float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))
    detail = f"output within {diff:.1e} of eager's on the probe (relative; bound {tolerance:.0e})"
    return diff <= tolerance, detail
