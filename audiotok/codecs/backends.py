"""Inference backends for a codec's encoder and decoder: eager PyTorch, ``torch.compile``, OpenVINO.

A backend replaces one network of a loaded codec (``encoder``: audio ->
latents; ``decoder``: latents -> audio) with a faster equivalent; the RVQ
quantizer always runs in PyTorch, so the codes are the quantizer's choice on
the backend's latents.

========== ====================================================================
backend    what runs the network
========== ====================================================================
eager      PyTorch, as loaded (DAC: weight norm folded, in-place Snake)
compile    ``torch.compile(dynamic=True)``; inductor keeps its own disk cache
openvino   an OpenVINO model converted from the PyTorch module (``openvino``
           extra), f32 inference; one model per network serves every window
           length (dynamic batch and length: static shapes ran no faster)
auto       ``openvino`` on the CPU when installed, for codecs whose networks
           convert with dynamic shapes (DAC), else ``eager``
========== ====================================================================

Cache: converted OpenVINO models live in :func:`cache_root` ``/backends/KEY/``
(``model.xml``, ``model.bin``, ``gate.json``), ``KEY`` made of the weights'
sha256, the network, the backend, the library version and the window length
(``any``: dynamic shapes). An entry is written to a temporary folder and
renamed into place, so a crash never leaves a half-written entry.

Correctness gate: when an entry is made, the codec encodes a built-in probe
signal (:func:`probe_signal`) with the backend and with eager PyTorch; the
codes must be equal token for token (decoder: the audio within
:data:`DECODER_TOLERANCE`). The verdict is stored in ``gate.json``; on a
mismatch (now or recorded earlier) the network stays eager and a one-line
:class:`BackendFallbackWarning` says why.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch

from audiotok.errors import AudiotokWarning, UsageError

if TYPE_CHECKING:
    from audiotok.codecs.base import CodecBase, Network, Part

__all__ = [
    "BACKENDS",
    "DECODER_TOLERANCE",
    "Backend",
    "BackendFallbackWarning",
    "apply_backend",
    "available",
    "backend_of",
    "cache_root",
    "probe_signal",
    "resolve",
]

Backend = Literal["auto", "eager", "compile", "openvino"]
BACKENDS: tuple[Backend, ...] = ("auto", "eager", "compile", "openvino")
CACHE_ENV = "AUDIOTOK_CACHE_DIR"
"""Environment variable: the cache folder (default ``$XDG_CACHE_HOME/audiotok`` or ``~/.cache/audiotok``)."""
DECODER_TOLERANCE = 1e-4
"""Largest absolute difference from eager a decoder backend may make on the probe (full scale 1.0)."""
PROBE_SECONDS = 1.5


class BackendFallbackWarning(AudiotokWarning):
    """A backend could not be used for a network, which runs eagerly instead."""


def available(backend: str) -> bool:
    """Whether ``backend`` can run here (``openvino``: the package is installed)."""
    if backend == "openvino":
        return importlib.util.find_spec("openvino") is not None
    return backend in BACKENDS


def resolve(backend: str, device: torch.device, auto: tuple[str, ...] = ("openvino",)) -> str:
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
    if backend == "auto":
        return (
            "openvino" if "openvino" in auto and device.type == "cpu" and available("openvino") else "eager"
        )
    if backend == "openvino":
        if not available("openvino"):
            raise UsageError(
                "the openvino backend needs the openvino package: pip install 'audiotok[openvino]'",
                param="backend",
            )
        if device.type != "cpu":
            raise UsageError(f"the openvino backend runs on the CPU, not {device.type}", param="backend")
    return backend


def backend_of(codec: object, part: Part) -> str:
    """The backend running ``part`` of ``codec`` (``eager`` unless :func:`apply_backend` set one)."""
    return str(getattr(codec, "backends", {}).get(part, "eager"))


def cache_root() -> Path:
    """The cache: ``$AUDIOTOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/audiotok`` or ``~/.cache/audiotok``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "audiotok"


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
    return torch.from_numpy(audio.astype(np.float32)).reshape(1, channels, n)


def _version(backend: str) -> str:
    if backend == "openvino":
        import openvino

        return str(openvino.__version__).split("-")[0]
    return torch.__version__.split("+")[0]


def _key(codec: CodecBase, part: Part, backend: str) -> str:
    sha = getattr(codec, "weights_sha256", "") or "nosha"
    return f"{sha[:24]}-{part}-{backend}-{_version(backend)}-any"


def _example(codec: CodecBase, part: Part) -> torch.Tensor:
    audio = probe_signal(codec.sample_rate, codec.channels, 0.5)
    if part == "encoder":
        return audio
    with torch.inference_mode():
        return codec.network("encoder")(audio.to(getattr(codec, "device", "cpu"))).cpu()


def _openvino_runner(model: Any, threads: int) -> Network:
    import openvino

    core = openvino.Core()
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
    }  # fmt: skip
    if threads < _usable_cpus():
        # processes that share the CPUs (Ray actors, shards on one machine) would each pin their
        # threads to the first cores: two 1-thread processes on 2 cores ran 2.3x slower pinned
        config["ENABLE_CPU_PINNING"] = False
    compiled = core.compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def run(x: torch.Tensor) -> torch.Tensor:
        data = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        out = request.infer({0: data}, share_inputs=True, share_outputs=False)
        return torch.from_numpy(np.asarray(out[0]))

    return run


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity), or all of them."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _convert_openvino(codec: CodecBase, part: Part, folder: Path) -> None:
    import openvino

    module = codec.network(part)
    example = _example(codec, part)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings of the codec packages, not ours
        shape = openvino.PartialShape([-1, example.shape[1], -1])
        model = openvino.convert_model(cast(torch.nn.Module, module), example_input=example, input=[shape])
    openvino.save_model(model, folder / "model.xml", compress_to_fp16=False)


def _gate(codec: CodecBase, part: Part, runner: Network) -> tuple[bool, str]:
    """Compare ``runner`` with eager on the probe: (passed, detail)."""
    probe = probe_signal(codec.sample_rate, codec.channels)
    k = codec.n_codebooks
    encode = cast(Any, codec).encode
    decode = cast(Any, codec).decode
    previous, name = codec.__dict__.get("_runners", {}).get(part, (None, "eager"))
    try:
        codec.set_runner(part, None)
        codes = encode(probe, k)
        want = decode(codes) if part == "decoder" else codes
        codec.set_runner(part, runner, "gate")
        got = decode(codes) if part == "decoder" else encode(probe, k)
    finally:
        codec.set_runner(part, previous, name)
    if part == "encoder":
        equal = float((got == want).float().mean())
        return equal == 1.0, f"codes equal to eager on the probe: {equal:.4%}"
    diff = float((got.float() - want.float()).abs().max())
    return diff <= DECODER_TOLERANCE, f"largest difference from eager on the probe: {diff:.2e}"


def _openvino_entry(codec: CodecBase, part: Part) -> tuple[Network | None, str]:
    import openvino

    root = cache_root() / "backends"
    folder = root / _key(codec, part, "openvino")
    threads = torch.get_num_threads()
    gate_file = folder / "gate.json"
    if gate_file.is_file():
        verdict = json.loads(gate_file.read_text())
        if not verdict.get("passed"):
            return None, str(verdict.get("detail", "failed its correctness gate"))
        return _openvino_runner(openvino.Core().read_model(folder / "model.xml"), threads), ""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{folder.name}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir()
    try:
        _convert_openvino(codec, part, tmp)
        runner = _openvino_runner(openvino.Core().read_model(tmp / "model.xml"), threads)
        passed, detail = _gate(codec, part, runner)
        (tmp / "gate.json").write_text(json.dumps({"passed": passed, "detail": detail}))
        with contextlib.suppress(OSError):  # another process made it first: theirs is as good
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return (runner, "") if passed else (None, detail)


def _compile_entry(codec: CodecBase, part: Part) -> tuple[Network | None, str]:
    compiled = cast("Network", torch.compile(codec.network(part), dynamic=True))
    passed, detail = _gate(codec, part, compiled)
    return (compiled, "") if passed else (None, detail)


def apply_backend(codec: CodecBase, backend: str, parts: tuple[Part, ...] = ("encoder",)) -> str:
    """Run ``parts`` of ``codec`` on ``backend`` (see the module docstring); return the backend used.

    Parameters
    ----------
    codec : CodecBase
        A loaded codec (DAC or EnCodec).
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
    device = getattr(codec, "device", torch.device("cpu"))
    chosen = resolve(backend, device, getattr(codec, "AUTO_BACKENDS", ()))
    if chosen == "eager":
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
