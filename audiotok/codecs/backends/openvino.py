"""OpenVINO for the backends: converting a codec's export module, and running it per window length.

- :func:`_convert_openvino`: a PyTorch export module to ``model.xml`` + ``model.bin``, with dynamic
  batch and length (and ``(input, valid samples)`` where its ``forward`` takes them, :func:`_takes_valid`);
- :class:`OpenVinoNetwork`: that model compiled for the CPU, called as a
  :data:`~audiotok.codecs.plugin.Network`; compiled again for each announced window length;
- compiled blobs: OpenVINO caches them under an entry's ``compiled/`` (the dynamic model's), and
  ``compiled/static-SHAPE/`` per window length, at most :data:`STATIC_ON_DISK` (:func:`_make_room`).

Nothing here imports ``openvino`` or ``torch`` until a model is converted or compiled.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from audiotok.device import usable_cpus

if TYPE_CHECKING:
    import torch

    from audiotok.codecs.plugin import Network


def installed() -> bool:
    """Whether the ``openvino`` package can be imported here (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


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


def _convert_openvino(module: Network, example: torch.Tensor, folder: Path) -> None:
    """Convert ``module`` (traced on ``example : Tensor[1, ...]``) to ``folder/model.xml`` + ``model.bin``.

    The model takes any batch and length (``[-1, example.shape[1], -1]``),
    and ``valid : int64[1]`` besides when the module's ``forward`` takes it
    (:func:`_takes_valid`); weights stay float32.
    """
    import openvino
    import torch

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
