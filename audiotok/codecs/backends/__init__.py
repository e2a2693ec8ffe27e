"""Inference backends for a codec's encoder and decoder: eager PyTorch, ``torch.compile``, OpenVINO.

A backend replaces one network of a loaded codec with a faster equivalent:
what the codec's ``export_module(part)`` gives. DAC's ``encoder`` is its
encoder and RVQ (audio -> codes of every codebook), its ``decoder`` latents ->
audio; EnCodec 24 kHz's ``encoder`` is its encoder and RVQ for the codebooks of
its bandwidth (audio -> codes; an entry per codebook count, the codec's
``export_tag``), with a dynamic time axis (``caps.static_shapes`` False).

========== ====================================================================
backend    what runs the network
========== ====================================================================
eager      PyTorch, as loaded (DAC: weight norm folded, in-place Snake)
compile    ``torch.compile(dynamic=True)``; inductor keeps its own disk cache
openvino   an OpenVINO model converted from the PyTorch module (``openvino``
           extra), f32 inference; converted with dynamic batch and length,
           and compiled again for each window length in repeated use
           (:class:`OpenVinoNetwork`: static shapes fuse DAC's Snake)
auto       ``openvino`` on the CPU when installed, for codecs whose networks
           convert with dynamic shapes (DAC, EnCodec 24 kHz), else ``eager``
========== ====================================================================

Cache: converted OpenVINO models live in :func:`cache_root` ``/backends/KEY/``
(``model.xml``, ``model.bin``, ``gate.json``, and OpenVINO's compiled blobs
under ``compiled/``: the dynamic model's, and ``static-SHAPE/`` per window
length, at most :data:`~audiotok.codecs.backends.openvino.STATIC_ON_DISK`),
``KEY`` made of the weights' sha256, the network, the backend, the library
version, ``any`` (the model itself has dynamic shapes), the codec's
``export_tag`` and its family and ``caps.export_layout`` (``dac4``). An
entry is written to a temporary folder and renamed into place, so a crash
never leaves a half-written entry. Making one is announced before it
starts, and its cost once done (log records at WARNING: the CLI shows each
as one line on stderr, not with ``-q``): converting a full-size model takes
tens of seconds, once for its weights. ``gate.json`` also holds the codec's
shape (rates, codebooks, context), so that an encode whose entry passed its
gate runs without loading the PyTorch model at all (:func:`cached_network`).

Correctness gate: when an entry is made, the codec encodes a built-in probe
signal (:func:`probe_signal`) with the backend (OpenVINO: its dynamic-shape
model and one compiled for the probe's shape) and with eager PyTorch; the
codes must be equal token for token (decoder: the audio within
:data:`DECODER_TOLERANCE`). The verdict is stored in ``gate.json``; on a
mismatch (now or recorded earlier) the network stays eager and a one-line
:class:`BackendFallbackWarning` says why.

Modules: this one is the public API (resolving a backend, applying it to a
codec); :mod:`~audiotok.codecs.backends.openvino` converts a module and runs
it (:class:`OpenVinoNetwork`, the compiled blobs);
:mod:`~audiotok.codecs.backends.cache` makes and reads the cache entries
(:func:`cached_network`); :mod:`~audiotok.codecs.backends.gate` is the probe
signal and the correctness gate. None of them imports torch or openvino
until a network is converted or compiled.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal, cast

from audiotok.codecs.backends.cache import _openvino_entry, cached_network, entry_tag
from audiotok.codecs.backends.gate import DECODER_TOLERANCE, _gate, probe_signal
from audiotok.codecs.backends.openvino import OpenVinoNetwork, installed
from audiotok.codecs.weights import CACHE_ENV, cache_root
from audiotok.device import device_kind
from audiotok.errors import AudiotokWarning, UsageError

if TYPE_CHECKING:
    import torch

    from audiotok.codecs.plugin import Codec, Network, Part

__all__ = [
    "BACKENDS",
    "CACHE_ENV",
    "DECODER_TOLERANCE",
    "Backend",
    "BackendFallbackWarning",
    "OpenVinoNetwork",
    "apply_backend",
    "available",
    "backend_of",
    "cache_root",
    "cached_network",
    "entry_tag",
    "probe_signal",
    "resolve",
]

Backend = Literal["auto", "eager", "compile", "openvino"]
BACKENDS: tuple[Backend, ...] = ("auto", "eager", "compile", "openvino")


class BackendFallbackWarning(AudiotokWarning):
    """A backend could not be used for a network, which runs eagerly instead."""


def available(backend: str) -> bool:
    """Whether ``backend`` can run here (``openvino``: the package is installed)."""
    if backend == "openvino":
        return installed()
    return backend in BACKENDS


def resolve(backend: str, device: torch.device | str, auto: tuple[str, ...] = ("openvino",)) -> str:
    """The concrete backend ``backend`` means on ``device`` (``auto`` -> ``openvino`` or ``eager``).

    ``auto`` lists the backends ``auto`` may pick for the codec, fastest first.

    Raises
    ------
    UsageError
        If ``backend`` is unknown, or ``openvino`` is asked for but not
        installed or the device is not the CPU.
    """
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; expected {', '.join(BACKENDS)}", param="backend")
    kind = device_kind(device)
    if backend == "auto":
        return "openvino" if "openvino" in auto and kind == "cpu" and available("openvino") else "eager"
    if backend == "openvino":
        if not available("openvino"):
            raise UsageError(
                "the openvino backend needs the openvino package: pip install 'audiotok[openvino]'",
                param="backend",
            )
        if kind != "cpu":
            raise UsageError(f"the openvino backend runs on the CPU, not {kind}", param="backend")
    return backend


def backend_of(codec: Codec, part: Part) -> str:
    """The backend running ``part`` of ``codec`` (``eager`` unless :func:`apply_backend` set one)."""
    return codec.backend_of(part)


def _compile_entry(codec: Codec, part: Part) -> tuple[Network | None, str]:
    import torch

    compiled = cast("Network", torch.compile(codec.export_module(part), dynamic=True))
    passed, detail = _gate(codec, part, compiled)
    return (compiled, "") if passed else (None, detail)


def apply_backend(codec: Codec, backend: str, parts: tuple[Part, ...] = ("encoder",)) -> str:
    """Run ``parts`` of ``codec`` on ``backend`` (see the module docstring); return the backend used.

    Parameters
    ----------
    codec : Codec
        A loaded codec; ``codec.caps.auto_backends`` is what ``auto`` may pick.
    backend : {"auto", "eager", "compile", "openvino"}
    parts : tuple of {"encoder", "decoder"}
        The networks the command needs (an encode never converts the decoder).

    Returns
    -------
    str
        ``eager``, ``compile`` or ``openvino``: what now runs every one of
        ``parts`` (``eager`` if any fell back).

    Raises
    ------
    UsageError
        As :func:`resolve`.

    Warns
    -----
    BackendFallbackWarning
        When a network fails its correctness gate, or cannot be converted; it stays eager.
    """
    chosen = resolve(backend, codec.device, codec.caps.auto_backends)
    if chosen == "eager":
        return "eager"
    if backend == "auto":  # only the networks the codec says convert and pass the gate
        parts = tuple(p for p in parts if p in codec.caps.auto_parts)
        if not parts:
            return "eager"
    used = chosen
    for part in parts:
        try:
            runner, why = (_openvino_entry if chosen == "openvino" else _compile_entry)(codec, part)
        except Exception as exc:  # conversion failures come in many types; eager still works
            runner, why = None, " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        if runner is None:
            warnings.warn(
                BackendFallbackWarning(
                    f"{chosen} {part} of {codec.name} not used ({why}); running it eagerly"
                ),
                stacklevel=2,
            )
            used = "eager"
            continue
        codec.set_runner(part, runner, chosen)
    return used
