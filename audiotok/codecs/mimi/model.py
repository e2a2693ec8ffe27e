"""Mimi in PyTorch through transformers' ``MimiModel``: loading, whole-file and streamed encode, decode.

The streamed encode (:meth:`MimiCodec.stream_step`) is transformers' own
streaming mode (``use_streaming=True``: each causal convolution's padding
cache and the transformer's sliding-window key/value cache carried from call
to call) plus one thing it lacks: a row that ends inside a chunk is padded,
in every causal convolution of the encoder, as the whole-file encode pads the
end of the file (``extra padding`` of ``pad_mode``: zeros, or the last value
repeated for the downsampling convolution), by forward pre-hooks that
write those values after the row's last real position. Convolutions are
strictly causal per output frame, so frames before a row's end never see what
follows it; the codes equal ``MimiModel.encode`` of the whole file.

Backend (``--backend auto`` / ``openvino``): the SEANet convolutions (about
85 % of an encode on the CPU) run on OpenVINO (:class:`ExportSeanet`, dynamic
length, a file's end padded as ``MimiConv1d`` pads it); the transformer,
the downsampling convolution and the quantizer stay in PyTorch with their
carried state. The SEANet's state is not carried: each row's chunk is run
with the ``seanet_context`` samples before it (4800: its receptive field
reaches 4279 samples back), and the frames of that context dropped, so the latents equal
eager PyTorch's to float32 rounding.

This module holds tensors only: no audio files are read or written here.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from audiotok.codecs._hf import from_pretrained
from audiotok.codecs.codec import Array, Capabilities, Context, Part
from audiotok.codecs.mimi.export import ExportSeanet, seanet_reach
from audiotok.codecs.plugin import Located
from audiotok.codecs.streaming import StreamingCodec
from audiotok.codecs.weights import sha256_file

__all__ = ["MimiCodec", "MimiState", "load"]


@dataclass
class MimiState:
    """A streamed encode's state: transformers' caches (``None`` before the first call) and the codebooks."""

    n_codebooks: int
    padding_cache: Any = None
    encoder_cache: Any = None
    #: ``Array[rows, 1, seanet_context]``: each row's last samples, when a backend runs the SEANet
    context: Array | None = None


class MimiCodec(StreamingCodec):
    """A loaded Mimi model (transformers' ``MimiModel``) in inference mode.

    Mono (``channels == 1``), ``hop_length`` 1920 at 24 kHz (12.5 fps) for
    the published model; numbers are read from the model's config.

    Attributes
    ----------
    model : transformers.MimiModel
    encoder_strides : dict
        Each causal convolution of the encoder (module) to the audio samples
        per frame of its input (1 for the first, 960 for the downsampling one).
    """

    family = "mimi"
    #: Not ``exact_chunking``: streamed latents equal the whole-file encode's to float32 rounding, but the
    #: quantizer (``torch.cdist`` through a matrix product) can flip a near-tie, as transformers' own
    #: encode does between a file and its pieces (README, Mimi).
    caps = Capabilities(
        static_shapes=False, streaming=True, exact_chunking=False,
        auto_backends=("openvino",), auto_parts=("encoder",),
    )  # fmt: skip
    #: Decoded chunks get 2 s of codes each side (the decoder is causal; its transformer's memory is longer,
    #: so chunked decoding is close to, not equal to, a whole-file decode).
    DECODE_CONTEXT_FRAMES = 25
    implementation = "transformers"

    def __init__(
        self, model: Any, *, name: str, weights_path: Any, weights_sha256: str, device: torch.device
    ) -> None:
        cfg = model.config
        self.model = model
        self.name = name
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.device = device
        self.sample_rate = int(cfg.sampling_rate)
        self.channels = int(cfg.audio_channels)
        self.n_codebooks = int(cfg.num_quantizers)
        self.codebook_size = int(cfg.codebook_size)
        self.hop_length = int(cfg.frame_size)
        self.min_codebooks = int(cfg.num_semantic_quantizers)
        self.encoder_strides = _encoder_strides(model.encoder)
        #: 2: the downsampling convolution's stride (25 Hz SEANet frames to 12.5 Hz codes)
        down = model.encoder.downsample
        self.latent_stride = 1 if down is None else int(down.conv.stride[0])
        per_frame = self.hop_length // self.latent_stride
        #: samples before a chunk that the SEANet backend runs on: its reach in whole SEANet frames
        #: (4800, 5 frames of 960, for the published model, whose reach is 4279 samples)
        self.seanet_context = -(-seanet_reach(model.encoder.encoder_seanet) // per_frame) * per_frame

    @property
    def encoder_context_frames(self) -> Context:
        """None: the state is carried instead (:mod:`audiotok.codecs.streaming`)."""
        return Context(0, 0)

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """``audio : Tensor[B, 1, S]`` to ``codes : LongTensor[B, K, ceil(S / hop)]``: ``MimiModel.encode``.

        Every row is ``S`` samples long (rows of other lengths: :meth:`stream_step`).
        Raises ``ValueError`` as :meth:`~audiotok.codecs.codec.Codec.check_audio`.
        """
        self.check_audio(audio, n_codebooks)
        x = audio.to(self.device, torch.float32)
        samples = x.shape[-1]
        rows = [x[b : b + 1].cpu().numpy() for b in range(x.shape[0])]
        with self._seanet(lambda: self._seanet_rows(rows, None, samples)):
            codes: torch.Tensor = self.model.encode(x, num_quantizers=n_codebooks).audio_codes
        return codes.long()

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes : LongTensor[B, K, T]`` to ``audio : Tensor[B, 1, T * hop]`` (``MimiModel.decode``)."""
        self.check_codes(codes)
        audio: torch.Tensor = self.model.decode(codes.to(self.device, torch.long)).audio_values
        return audio.float()

    def open_stream(self, rows: int, n_codebooks: int) -> MimiState:
        """A fresh state (transformers makes its caches on the first call)."""
        if not 1 <= n_codebooks <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in [1, {self.n_codebooks}], got {n_codebooks}")
        return MimiState(n_codebooks)

    @torch.inference_mode()
    def stream_step(self, state: MimiState, audio: Array, valid: Sequence[int]) -> Array:
        """The next chunk of every row (:meth:`StreamingCodec.stream_step`), transformers' streaming encode.

        Raises
        ------
        ValueError
            If the chunk is not whole frames or ``valid`` does not fit it.
        """
        rows, _, samples = audio.shape
        if samples % self.hop_length or len(valid) != rows or not all(0 < v <= samples for v in valid):
            raise ValueError(f"a chunk is whole frames of {self.hop_length} with 0 < valid <= its length")
        dtype = next(self.model.parameters()).dtype  # float32; float64 where a test or user made it so
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device, dtype)
        cut = [np.asarray(audio[b : b + 1, :, :v], dtype=np.float32) for b, v in enumerate(valid)]
        with self._ends(valid, samples), self._seanet(lambda: self._seanet_rows(cut, state.context, samples)):
            out = self.model.encode(
                x, num_quantizers=state.n_codebooks, encoder_cache=state.encoder_cache,
                padding_cache=state.padding_cache, use_streaming=True,
            )  # fmt: skip
        state.padding_cache, state.encoder_cache = out.padding_cache, out.encoder_cache
        if self.runner("encoder") is not None:  # each row's last samples, the next chunk's context
            prev = [] if state.context is None else [state.context]
            joined = np.concatenate([*prev, np.asarray(audio, np.float32)], -1)
            state.context = joined[..., -self.seanet_context :]
        return np.asarray(out.audio_codes.long().cpu().numpy())

    def keep_rows(self, state: MimiState, rows: Sequence[int]) -> MimiState:
        """The state of ``rows`` only: every cache indexed on its batch dimension."""
        idx = torch.tensor(list(rows), dtype=torch.long, device=self.device)
        if state.padding_cache is not None:
            cached = state.padding_cache.padding_cache
            state.padding_cache.padding_cache = [
                None if t is None else t.index_select(0, idx) for t in cached
            ]
        if state.encoder_cache is not None:
            state.encoder_cache.batch_select_indices(idx)
        if state.context is not None:
            state.context = state.context[list(rows)]
        return state

    @contextlib.contextmanager
    def _seanet(self, run: Any) -> Iterator[None]:
        """While inside, the SEANet's forward is ``run()`` when a backend runs the encoder (else eager)."""
        if self.runner("encoder") is None:
            yield
            return
        seanet = self.model.encoder.encoder_seanet
        seanet.forward = lambda hidden_states, padding_cache=None: run()
        try:
            yield
        finally:
            del seanet.forward

    def _seanet_rows(self, rows: Sequence[Array], context: Array | None, samples: int) -> torch.Tensor:
        """The SEANet's output ``[B, D, ceil(samples / 960)]`` through the backend, row by row.

        ``rows[b] : Array[1, 1, valid_b]`` is a row's audio up to its end in
        this chunk; ``context : Array[B, 1, C]`` the samples before
        the chunk (``seanet_context`` of them, or all since the file's start when fewer; ``None``: the
        chunk starts the file). Frames past a row's
        end are zeros (the downsampling convolution's end padding follows).
        """
        per_frame = self.hop_length // self.latent_stride
        frames = -(-samples // per_frame)
        drop = 0 if context is None else context.shape[-1] // per_frame  # shorter near a file's start
        outs = []
        for b, row in enumerate(rows):
            x = row if context is None else np.concatenate([context[b : b + 1], row], -1)
            y = torch.as_tensor(np.asarray(self.run("encoder", cast(Any, x))))[..., drop:]
            outs.append(nn.functional.pad(y, (0, frames - y.shape[-1])))
        dtype = next(self.model.parameters()).dtype
        return torch.cat(outs).to(self.device, dtype)

    @contextlib.contextmanager
    def _ends(self, valid: Sequence[int], samples: int) -> Iterator[None]:
        """Pad the rows ending in this chunk as a whole-file encode pads the file's end (module docstring)."""
        if all(v == samples for v in valid):
            yield
            return
        handles = [
            conv.register_forward_pre_hook(_end_padding(conv, per_frame, valid))
            for conv, per_frame in self.encoder_strides.items()
        ]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def network(self, part: Part) -> nn.Module:
        """transformers' encoder or decoder model."""
        module: nn.Module = self.model.encoder if part == "encoder" else self.model.decoder
        return module

    def export_module(self, part: Part) -> nn.Module:
        """The encoder's SEANet as :class:`ExportSeanet` (audio ``[B, 1, S]`` to ``[B, D, ceil(S / 960)]``);
        the decoder model for the decoder (it stays eager under ``auto``)."""
        if part == "encoder":
            return ExportSeanet(self.model.encoder.encoder_seanet)
        return self.network(part)

    def export_tolerance(self, part: Part) -> float | None:
        """1e-5: the gate bounds the SEANet's output (relative to its peak) instead of comparing codes.

        OpenVINO's SEANet is within about 1e-6 of PyTorch's; on the probe that
        already flips a code of the random test models' deep codebooks (a
        near-tie), while a wrong conversion is off by far more.
        """
        return 1e-5 if part == "encoder" else None

    def select_codebooks(self, k: int) -> None:
        """Check ``k``: at least the semantic codebook(s), at most :attr:`n_codebooks`.

        Raises
        ------
        UsageError
            If ``k`` is not a count the model offers.
        """
        from audiotok.errors import UsageError

        if not self.min_codebooks <= k <= self.n_codebooks:
            raise UsageError(
                f"{k} codebooks asked for but {self.name} takes {self.min_codebooks} to {self.n_codebooks}"
            )


def _encoder_strides(encoder: Any) -> dict[nn.Module, int]:
    """Each causal convolution of the encoder, in forward order, to the samples per frame of its input."""
    out: dict[nn.Module, int] = {}
    per_frame = 1
    convs = [encoder.encoder_seanet.get_submodule(n) for n in encoder.encoder_seanet._conv1d_layer_names]
    if encoder.downsample is not None:
        convs.append(encoder.downsample)
    for conv in convs:
        out[conv] = per_frame
        per_frame *= int(conv.conv.stride[0])
    return out


def _end_padding(conv: Any, per_frame: int, valid: Sequence[int]) -> Any:
    """A forward pre-hook: the whole-file end padding of ``conv`` after each ending row's last frame."""
    stride = int(conv.conv.stride[0])
    replicate = conv.pad_mode == "replicate"

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[Any, ...] | None:
        x = args[0]
        width = x.shape[-1]
        lengths = [(b, math.ceil(v / per_frame)) for b, v in enumerate(valid)]
        ends = [(b, n, -n % stride) for b, n in lengths if n < width and -n % stride]
        if not ends:
            return None
        x = x.clone()
        for b, n, extra in ends:
            x[b, :, n : n + extra] = x[b, :, n - 1 : n] if replicate else 0.0
        return (x, *args[1:])

    return hook


def load(located: Located, device: torch.device, fast: bool) -> MimiCodec:
    """Load a Mimi model folder (transformers' ``save_pretrained`` layout) offline (the Mimi plugin's loader).

    Parameters
    ----------
    located : Located
        ``path`` the weights file of a model folder (``config.json`` beside it).
    device : torch.device
    fast : bool
        Unused (the backends, ``apply_backend``, are Mimi's speed-up).

    Raises
    ------
    ModelError
        If transformers (with ``MimiModel``) is missing or the folder cannot be loaded.
    """

    def from_folder(folder: str) -> Any:
        from transformers import MimiModel

        return MimiModel.from_pretrained(folder, local_files_only=True)

    model = from_pretrained(located, from_folder, "Mimi")
    model.eval()  # type: ignore[no-untyped-call]
    model.to(device)  # type: ignore[arg-type]
    return MimiCodec(
        model,
        name=located.name,
        weights_path=located.path,
        weights_sha256=sha256_file(located.path),
        device=device,
    )
