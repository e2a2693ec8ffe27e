"""Inference backends for a codec's encoder and decoder: eager PyTorch, ``torch.compile``, OpenVINO.

A backend replaces one network of a loaded codec with a faster equivalent:
what the codec's ``export_module(part)`` gives. DAC's ``encoder`` is its
encoder and RVQ (audio -> codes of every codebook), its ``decoder`` latents ->
audio; EnCodec 24 kHz's ``encoder`` is its encoder and RVQ for the codebooks of
its bandwidth (audio -> codes; an entry per codebook count, the codec's
``export_tag``), with a dynamic time axis (``STATIC_SHAPES = False``).

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
length, at most :data:`STATIC_ON_DISK`), ``KEY`` made of the weights'
sha256, the network, the backend, the library version and ``any`` (the
model itself has dynamic shapes). An entry is written to a temporary folder
and renamed into place, so a crash never leaves a half-written entry.
``gate.json`` also holds the codec's shape (rates, codebooks, context), so
that an encode whose entry passed its gate runs without loading the PyTorch
model at all (:func:`cached_network`).

Correctness gate: when an entry is made, the codec encodes a built-in probe
signal (:func:`probe_signal`) with the backend (OpenVINO: its dynamic-shape
model and one compiled for the probe's shape) and with eager PyTorch; the
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
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from audiotok._fsio import write_bytes_atomic
from audiotok.codecs.weights import CACHE_ENV, cache_root
from audiotok.device import usable_cpus
from audiotok.errors import AudiotokWarning, OutputError, UsageError

if TYPE_CHECKING:
    import torch

    from audiotok.codecs.base import CodecBase, Network, Part

__all__ = [
    "BACKENDS",
    "CACHE_ENV",
    "DECODER_TOLERANCE",
    "Backend",
    "BackendFallbackWarning",
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
    kind = str(getattr(device, "type", device)).split(":")[0]
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


def backend_of(codec: object, part: Part) -> str:
    """The backend running ``part`` of ``codec`` (``eager`` unless :func:`apply_backend` set one)."""
    return str(getattr(codec, "backends", {}).get(part, "eager"))


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


def _version(backend: str) -> str:
    if backend == "openvino":
        import openvino

        return str(openvino.__version__).split("-")[0]
    import torch

    return torch.__version__.split("+")[0]


ENTRY_LAYOUT = 4
"""Bumped when what an entry holds changes (2: DAC's encoder entry includes the RVQ and gives codes;
3: DAC's Snake as a polynomial and its upsampling as a convolution, see ``dac._for_export``;
4: DAC's encoder takes ``(audio, valid samples)``, see ``dac._MaskedTokens``). EnCodec's encoder
entries giving codes (``encodec._MaskedEncodecTokens``) are told apart by their tag (``-q8-``)."""


def _key(sha256: str, part: Part, backend: str, tag: str = "") -> str:
    """``SHA-PART-BACKEND-VERSION-any[-TAG]-eLAYOUT``; ``tag`` is the codec's ``export_tag(part)``."""
    extra = f"-{tag}" if tag else ""
    return f"{(sha256 or 'nosha')[:24]}-{part}-{backend}-{_version(backend)}-any{extra}-e{ENTRY_LAYOUT}"


def _export_tag(codec: object, part: Part) -> str:
    tag = getattr(codec, "export_tag", None)
    return str(tag(part)) if callable(tag) else ""


def entry_tag(codec: object, part: Part) -> str:
    """``BACKEND-VERSION-eLAYOUT`` of what runs ``part`` of ``codec`` now (keys caches of its outputs)."""
    backend = backend_of(codec, part)
    return f"{backend}-{_version(backend)}-e{ENTRY_LAYOUT}"


def _shape_json(codec: CodecBase) -> dict[str, Any] | None:
    shape = getattr(codec, "shape", None)
    return None if shape is None else cast(dict[str, Any], shape.to_json())


def cached_network(
    weights_sha256: str, part: Part, *, tag: str = "", static_shapes: bool = True
) -> tuple[Network, dict[str, Any]] | None:
    """The OpenVINO ``part`` of the weights ``weights_sha256``, if its entry passed its gate.

    What the network maps is the codec's ``export_module(part)`` (DAC:
    audio -> codes, codes -> audio; EnCodec 24 kHz: audio -> codes). ``tag``
    is the codec's ``export_tag(part)`` (EnCodec: ``q8``), ``static_shapes``
    its ``STATIC_SHAPES`` (see :class:`OpenVinoNetwork`).

    Returns
    -------
    (runner, shape) or None
        The compiled network and the codec's shape as stored in
        ``gate.json`` (DAC: :meth:`~audiotok.codecs.dac.DacShape.to_json`);
        ``None`` when openvino is not installed, there is no such entry, it
        failed its gate or holds no shape. Nothing of the PyTorch model is needed.
    """
    if not available("openvino"):
        return None
    folder = cache_root() / "backends" / _key(weights_sha256, part, "openvino", tag)
    try:
        verdict = json.loads((folder / "gate.json").read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(verdict, dict)
        or not verdict.get("passed")
        or not isinstance(verdict.get("codec"), dict)
    ):
        return None
    from audiotok.device import threads

    runner = _openvino_runner(folder / "model.xml", threads(), folder / "compiled", static_shapes)
    return runner, verdict["codec"]


def _example(codec: CodecBase, part: Part) -> torch.Tensor:
    import torch

    audio = probe_signal(codec.sample_rate, codec.channels, 0.5)
    with torch.inference_mode():
        return codec.export_example(part, audio.to(getattr(codec, "device", "cpu"))).cpu()


STATIC_IN_MEMORY = 2
"""Static-shape compiled models an OpenVINO network keeps in memory (each holds its own packed
weights: about 330 MB for DAC 44.1 kHz's encoder), least recently used first out."""
STATIC_ON_DISK = 8
"""Static-shape compiled blobs kept per cache entry (``compiled/static-SHAPE/``), oldest use first out."""


class OpenVinoNetwork:
    """An OpenVINO model compiled for the CPU, called as a :data:`Network`; compiled again per window length.

    OpenVINO fuses the element-wise chains of DAC's Snake into one kernel
    only for static shapes: measured on DAC 44.1 kHz's encoder, 2.7x real
    time per window against 1.9x with dynamic shapes. The chunk planners
    announce the two window lengths of their fixed plans (:meth:`expect`,
    :func:`audiotok.codecs.chunking.fixed_lengths`), which depend on the
    chunk size alone; those get a model compiled for exactly that shape (its
    blob cached on disk). A shorter input (a stream shorter than one window)
    runs zero-padded in the shortest announced model longer than it, when
    the model takes ``(input, valid samples)`` and masks what lies past them
    (DAC's encoder: the same codes, see :meth:`_bucket`); other lengths run
    on the dynamic-shape model. So which model runs a window depends on
    the chunk size and the stream's own length, never on the other files of
    a batch or shard, nor on what ran before: the two models may differ in a
    rare code (1 of 4662 on a tiny test model at 1 thread). A batch of
    ``B`` rows runs row by row (on the CPU a batch is no faster), so a length
    is one shape whatever the batch.

    Parameters
    ----------
    model : openvino.Model or Path
        The converted model, or its ``model.xml``.
    threads : int
        Inference threads.
    blobs : Path, optional
        Where compiled blobs are cached (``compiled/`` of the entry): the
        dynamic model's, and one folder per static shape. None: no disk cache.
    static_shapes : bool
        False: every input runs on the dynamic-shape model, and :meth:`expect`
        does nothing (EnCodec: as fast, so windows of any length share one model).

    Attributes
    ----------
    fixed_shapes : bool
        True: callers that can choose their window lengths should repeat a few
        (:func:`audiotok.codecs.chunking.plan_chunks` ``fixed=True``) and
        announce them (:meth:`expect`). ``static_shapes``.
    compiled : int
        Static-shape models compiled (or read back from their blobs) so far.
    """

    def __init__(
        self, model: Any, threads: int, blobs: Path | None = None, *, static_shapes: bool = True
    ) -> None:
        import openvino

        self.fixed_shapes = static_shapes
        self._core = openvino.Core()
        self._source = model  # a path is read only when a static shape needs it (blobs skip the read)
        self._model: Any = None if isinstance(model, (str, Path)) else model
        self._blobs = blobs
        self._config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads < usable_cpus():
            # processes that share the CPUs (Ray actors, shards on one machine) would each pin their
            # threads to the first cores: two 1-thread processes on 2 cores ran 2.3x slower pinned
            self._config["ENABLE_CPU_PINNING"] = False
        self._dynamic: Any = None
        self._static: dict[tuple[int, ...], Any] = {}  # insertion order: least recently used first
        self._expected: set[tuple[int, ...]] = set()
        self._masked: bool | None = None  # whether the model takes (input, valid); known once compiled
        self.compiled = 0

    def expect(self, shapes: Iterable[tuple[int, ...]]) -> None:
        """Run inputs of these per-row shapes (``x.shape[1:]``) on models compiled for them.

        ``shapes`` come the most used first and replace those announced
        before; only the first :data:`STATIC_IN_MEMORY` are taken (more would
        evict each other, and read their blobs again and again). A model
        compiled earlier stays in memory while there is room, and runs its
        shape again only once that shape is announced again.
        """
        if not self.fixed_shapes:
            return
        wanted = [tuple(int(d) for d in shape) for shape in shapes]
        self._expected = set(wanted[:STATIC_IN_MEMORY])

    def forget(self) -> None:
        """Drop every announced shape and its compiled model (the dynamic-shape model runs all)."""
        self._expected.clear()
        self._static.clear()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run ``x : [B, ...]`` (a tensor, or a NumPy array: then an array comes back), row by row."""
        array = isinstance(x, np.ndarray)
        data: np.ndarray[Any, Any] = x if isinstance(x, np.ndarray) else x.detach().cpu().numpy()
        data = np.ascontiguousarray(data, dtype=np.float32 if data.dtype.kind == "f" else data.dtype)
        shape = data.shape[1:]
        n = shape[-1]
        bucket = self._bucket(shape)
        if bucket is not None:  # a shorter window inside a model compiled for a longer one, masked
            request = self._request(bucket)
            padded = np.zeros((len(data), *bucket), dtype=data.dtype)
            padded[..., :n] = data
            data = padded
        else:
            request = self._request(shape)
        rows = [self._infer(request, row[None], n) for row in data]
        out = rows[0] if len(rows) == 1 else np.concatenate(rows)
        if bucket is not None:
            out = np.ascontiguousarray(out[..., : -(-out.shape[-1] * n // bucket[-1])])  # frames of n
        if array:
            return cast("torch.Tensor", out)
        import torch

        return torch.from_numpy(out)

    @staticmethod
    def _infer(request: Any, data: np.ndarray, valid: int) -> np.ndarray:
        inputs: dict[int, np.ndarray] = {0: data}
        if len(request.model_inputs) == 2:  # (input, valid samples): see _bucket
            inputs[1] = np.array([valid], dtype=np.int64)
        return np.asarray(request.infer(inputs, share_inputs=True, share_outputs=False)[0])

    def _bucket(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """The announced shape a shorter input of ``shape`` runs in, masked; ``None``: its own shape.

        For a model taking ``(input, valid)`` (DAC's encoder, see
        ``dac._MaskedTokens``): an input shorter than an announced length
        (a file shorter than one window) is zero-padded to the shortest
        such length and run on that static model with ``valid`` set, which
        gives its codes exactly, instead of on the dynamic-shape model (0.64x
        as fast). Which model runs it still depends only on its own length
        and the chunk size.
        """
        if self._masked is False or shape in self._expected:
            return None
        longer = [s for s in self._expected if s[:-1] == shape[:-1] and s[-1] > shape[-1]]
        if not longer:
            return None
        bucket = min(longer, key=lambda s: s[-1])
        if self._masked is None:
            try:
                self._masked = len(self._request(bucket).model_inputs) == 2
            except Exception:  # as _request: the dynamic model runs it
                return None
        return bucket if self._masked else None

    def _compile(self, model: Any, blobs: Path | None) -> Any:
        config = self._config if blobs is None else {**self._config, "CACHE_DIR": str(blobs)}
        return self._core.compile_model(model, "CPU", config).create_infer_request()

    def _request(self, shape: tuple[int, ...]) -> Any:
        if shape in self._expected and shape in self._static:
            self._static[shape] = self._static.pop(shape)  # most recently used
            return self._static[shape]
        if shape in self._expected:
            try:
                return self._static_request(shape)
            except Exception:  # e.g. out of memory: the dynamic model runs it, from now on
                self._expected.discard(shape)
        if self._dynamic is None:
            source = self._source if self._model is None else self._model
            self._dynamic = self._compile(str(source) if isinstance(source, Path) else source, self._blobs)
        return self._dynamic

    def _static_request(self, shape: tuple[int, ...]) -> Any:
        folder = None if self._blobs is None else self._blobs / ("static-" + "x".join(map(str, shape)))
        if folder is not None:
            _make_room(folder)
            folder.mkdir(parents=True, exist_ok=True)
            os.utime(folder)
        if self._model is None:
            self._model = self._core.read_model(str(self._source))
        model = self._model.clone()
        model.reshape({0: [1, *shape]})
        request = self._compile(model, folder)
        self.compiled += 1
        while len(self._static) >= STATIC_IN_MEMORY:
            self._static.pop(next(iter(self._static)))
        self._static[shape] = request
        return request


def _make_room(folder: Path) -> None:
    """Keep at most :data:`STATIC_ON_DISK` static-shape blob folders beside ``folder`` (oldest out)."""
    if folder.is_dir() or not folder.parent.is_dir():
        return
    others = sorted(folder.parent.glob("static-*"), key=lambda p: p.stat().st_mtime)
    for old in others[: max(0, len(others) - STATIC_ON_DISK + 1)]:
        shutil.rmtree(old, ignore_errors=True)


def _openvino_runner(
    model: Any, threads: int, blobs: Path | None = None, static_shapes: bool = True
) -> Network:
    """An OpenVINO model (or its ``model.xml``) compiled for the CPU, as a :data:`Network`.

    With ``blobs``, OpenVINO caches the compiled models there (a later
    compile of the same ``model.xml`` reads it back: 0.06 s instead of 0.6 s
    for DAC's encoder with dynamic shapes). See :class:`OpenVinoNetwork`.
    """
    return OpenVinoNetwork(model, threads, blobs, static_shapes=static_shapes)


def _convert_openvino(codec: CodecBase, part: Part, folder: Path) -> None:
    import openvino
    import torch

    module = codec.export_module(part)
    example = _example(codec, part)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings of the codec packages, not ours
        shape = openvino.PartialShape([-1, example.shape[1], -1])
        if _takes_valid(module):  # (input, valid samples): see OpenVinoNetwork's buckets
            valid = torch.tensor([example.shape[-1]], dtype=torch.int64)
            model = openvino.convert_model(
                cast(torch.nn.Module, module),
                example_input=(example, valid),
                input=[shape, openvino.PartialShape([1])],
            )
        else:
            model = openvino.convert_model(
                cast(torch.nn.Module, module), example_input=example, input=[shape]
            )
    openvino.save_model(model, folder / "model.xml", compress_to_fp16=False)


def _takes_valid(module: object) -> bool:
    """Whether an export module's ``forward`` takes ``(x, valid)`` (DAC's masked encoder)."""
    import inspect

    forward = getattr(module, "forward", None)
    return forward is not None and "valid" in inspect.signature(forward).parameters


def _gate(codec: CodecBase, part: Part, runner: Network) -> tuple[bool, str]:
    """Compare ``runner`` with eager on the probe: (passed, detail)."""
    probe = probe_signal(codec.sample_rate, codec.channels)
    k = int(getattr(codec, "export_codebooks", codec.n_codebooks))  # what the exported encoder gives
    encode = cast(Any, codec).encode
    decode = cast(Any, codec).decode
    previous, name = codec.__dict__.get("_runners", {}).get(part, (None, "eager"))
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


def _openvino_entry(codec: CodecBase, part: Part) -> tuple[Network | None, str]:
    import openvino

    root = cache_root() / "backends"
    folder = root / _key(getattr(codec, "weights_sha256", ""), part, "openvino", _export_tag(codec, part))
    from audiotok.device import threads as cpu_threads

    threads = cpu_threads()
    static = bool(getattr(codec, "STATIC_SHAPES", True))
    gate_file = folder / "gate.json"
    if gate_file.is_file():
        verdict = json.loads(gate_file.read_text())
        if not verdict.get("passed"):
            return None, str(verdict.get("detail", "failed its correctness gate"))
        shape = _shape_json(codec)
        if verdict.get("codec") is None and shape is not None:
            # made before the codec had a shape to store: add it, so later runs need no model
            with contextlib.suppress(OSError, OutputError):
                write_bytes_atomic(gate_file, json.dumps({**verdict, "codec": shape}).encode())
        return _openvino_runner(folder / "model.xml", threads, folder / "compiled", static), ""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{folder.name}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir()
    try:
        _convert_openvino(codec, part, tmp)
        runner = _openvino_runner(openvino.Core().read_model(tmp / "model.xml"), threads, None, static)
        passed, detail = _gate(codec, part, runner)
        verdict = {"passed": passed, "detail": detail, "codec": _shape_json(codec)}
        (tmp / "gate.json").write_text(json.dumps(verdict))
        with contextlib.suppress(OSError):  # another process made it first: theirs is as good
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return (runner, "") if passed else (None, detail)


def _compile_entry(codec: CodecBase, part: Part) -> tuple[Network | None, str]:
    import torch

    compiled = cast("Network", torch.compile(codec.export_module(part), dynamic=True))
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
    device = getattr(codec, "device", "cpu")
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
