"""SNAC in PyTorch through the ``snac`` package: loading, encode to rows of codes, decode.

The codec hands the pipeline rows (:meth:`~audiotok.tokens.TokenLayout.to_rows`):
:attr:`SnacCodec.hop_length` is a coarsest frame's samples (the finest hop
times the strides' least common multiple) and :meth:`SnacCodec.encode`
returns ``[B, sum(grid / stride_k), rows]``, so the chunk planner, the batch
encoder and the sinks handle SNAC as frames of one rate. ``SNAC.encode`` pads
its input with zeros to a multiple of its padding grid (``hop * lcm(stride_0,
attention window)``: 2048 samples at 24 kHz, 12288 at 32 and 44.1 kHz, 4
rows); :attr:`SnacCodec.frame_grid` puts chunk boundaries on that grid, so
a window's attention windows and pooled codebooks line up with the whole
file's, and the context each side covers the receptive field.

This module holds tensors only: no audio files are read or written here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audiotok.codecs.codec import Capabilities, Codec, Context, Part
from audiotok.codecs.plugin import Located
from audiotok.codecs.weights import sha256_file
from audiotok.errors import ModelError
from audiotok.tokens import TokenLayout

__all__ = ["SnacCodec", "load"]

#: Audio each side of an encoded chunk, seconds, at least: the coarsest codebook's receptive field is
#: about +-0.24 s at 24 kHz (4 rows, 0.34 s).
CONTEXT_SECONDS = 0.3
#: And at least this many padding grids: at 32 and 44.1 kHz a frame's code depends on its whole
#: attention window (0.38 s at 32 kHz) and the convolutions after it reach into the next (8 rows).
CONTEXT_GRIDS = 2
#: The seed of the decoder's noise, per call.
DECODE_SEED = 0


class SnacCodec(Codec):
    """A loaded SNAC model (``snac.SNAC``) in inference mode.

    Attributes
    ----------
    model : snac.SNAC
    strides : tuple of int
        Finest frames per code of each codebook (``vq_strides``).
    pad_to : int
        Samples of SNAC's padding grid, ``hop * lcm(stride_0, attention window)``.
    """

    family = "snac"
    #: Not ``exact_chunking``: a chunk's latents equal the whole file's to float32 rounding, often bit for
    #: bit, but PyTorch's CPU convolutions choose their blocking by input length for some shapes (the full
    #: 32 kHz model's 512 -> 1024 channel one), so a quantizer near-tie may flip a code (README, SNAC).
    #: ``auto`` runs the encoder (and quantizer, :class:`SnacRows`) on OpenVINO behind the gate; the
    #: decoder stays eager (its noise blocks draw from PyTorch's generator).
    caps = Capabilities(
        zero_pads_to_hop=True, exact_chunking=False, auto_backends=("openvino",), auto_parts=("encoder",)
    )
    implementation = "snac"

    def __init__(
        self, model: Any, *, name: str, weights_path: Path, weights_sha256: str, device: torch.device
    ) -> None:
        self.model = model
        self.name = name
        self.weights_path = weights_path
        self.weights_sha256 = weights_sha256
        self.device = device
        self.sample_rate = int(model.sampling_rate)
        self.channels = 1
        self.strides = tuple(int(s) for s in model.vq_strides)
        self.n_codebooks = len(self.strides)
        self.codebook_size = int(model.codebook_size)
        finest = int(model.hop_length)
        self.hop_length = finest * math.lcm(*self.strides)  # one row: a coarsest frame
        self.pad_to = finest * math.lcm(self.strides[0], int(model.attn_window_size or 1))
        self.frame_grid = max(1, self.pad_to // self.hop_length)
        samples = max(CONTEXT_SECONDS * self.sample_rate, CONTEXT_GRIDS * self.pad_to)
        step = self.hop_length * self.frame_grid
        rows = self.frame_grid * math.ceil(samples / step)
        self._context = Context(rows, rows)
        self.DECODE_CONTEXT_FRAMES = rows

    @property
    def layout(self) -> TokenLayout:
        """``n_codebooks`` codebooks of ``codebook_size`` entries with SNAC's strides."""
        return TokenLayout((self.codebook_size,) * self.n_codebooks, self.strides)

    @property
    def encoder_context_frames(self) -> Context:
        """Rows each side (:data:`CONTEXT_SECONDS`, :data:`CONTEXT_GRIDS`): 4 at 24 kHz, 8 at 32 kHz."""
        return self._context

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, n_codebooks: int) -> torch.Tensor:
        """``audio : Tensor[B, 1, S]`` to rows ``codes : LongTensor[B, W, R]``: ``SNAC.encode``.

        ``R = ceil(S / hop_length)`` rows (a coarsest frame each), ``W =
        columns(n_codebooks)`` codes per row (24 kHz, 3 codebooks: 7), each
        row codebook by codebook in time order. ``SNAC.encode`` pads to its
        grid; rows past ``R`` (codes of that padding alone) are dropped.
        Raises ``ValueError`` as :meth:`~audiotok.codecs.codec.Codec.check_audio`.
        """
        self.check_audio(audio, n_codebooks)
        n = audio.shape[-1]
        rows = -(-n // self.hop_length)
        if "encoder" in self.backends:  # a backend runs encoder and quantizer: rows of every codebook
            x = nn.functional.pad(audio.to(self.device, torch.float32), (0, -n % self.pad_to))
            out: torch.Tensor = self.run("encoder", x)
            return out[:, : self.columns(n_codebooks), :rows].long()
        levels = self.model.encode(audio.to(self.device, torch.float32))[:n_codebooks]
        parts = []
        for level, stride in zip(levels, self.strides, strict=False):
            per_row = self.layout.grid // stride
            parts.append(level[:, : rows * per_row].reshape(level.shape[0], rows, per_row))
        return torch.cat(parts, dim=2).transpose(1, 2).long()

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Rows ``codes : LongTensor[B, W, R]`` to ``audio : Tensor[B, 1, R * hop_length]``: ``SNAC.decode``.

        ``W`` is the width of the first ``k`` codebooks' rows (missing
        codebooks contribute nothing). Rows are padded to SNAC's grid with
        the last row repeated and the audio cut back. SNAC's decoder adds
        noise, drawn here from a generator seeded with :data:`DECODE_SEED` on
        each call, so the same codes decode to the same audio (the caller's
        random state is left as it was).

        Raises
        ------
        ValueError
            If ``W`` is no codebook count's row width.
        """
        widths = {self.columns(k): k for k in range(1, self.n_codebooks + 1)}
        if codes.ndim != 3 or codes.shape[1] not in widths:
            raise ValueError(f"codes must be [B, W, R] with W in {sorted(widths)}, got {tuple(codes.shape)}")
        k = widths[codes.shape[1]]
        b, _, rows = codes.shape
        pad = -rows % self.frame_grid
        x = codes.to(self.device, torch.long)
        if pad:
            x = torch.cat([x, x[:, :, -1:].expand(b, x.shape[1], pad)], dim=2)
        quantizers = self.model.quantizer.quantizers
        z_q: torch.Tensor | float = 0.0
        start = 0
        for stride, vq in zip(self.strides[:k], quantizers, strict=False):  # SNAC's from_codes, any k
            per_row = self.layout.grid // stride
            level = x[:, start : start + per_row].transpose(1, 2).reshape(b, -1)
            z_q = z_q + vq.out_proj(vq.decode_code(level)).repeat_interleave(stride, dim=-1)
            start += per_row
        cuda = [self.device] if torch.device(self.device).type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # the noise blocks' draws, the same for the same codes
            torch.manual_seed(DECODE_SEED)
            audio: torch.Tensor = self.model.decoder(z_q)
        return audio[..., : rows * self.hop_length].float()

    def network(self, part: Part) -> nn.Module:
        """SNAC's encoder or decoder module."""
        module: nn.Module = self.model.encoder if part == "encoder" else self.model.decoder
        return module

    def export_module(self, part: Part) -> nn.Module:
        """The encoder and quantizer (:class:`SnacRows`: audio -> rows of every codebook), or the decoder.

        A copy whose Snake activations are :class:`~audiotok.codecs.dac.networks.ExportSnake` (SNAC's
        blocks are DAC's), for a backend; the eager model is left as it is.
        """
        if part == "decoder":
            return self.model.decoder  # type: ignore[no-any-return]
        import copy

        from snac.layers import Snake1d

        from audiotok.codecs.dac.networks import ExportSnake

        model = copy.deepcopy(self.model)
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, Snake1d):
                    alpha = child.alpha.detach()
                    setattr(parent, name, ExportSnake(alpha, (alpha + 1e-9).reciprocal()))
        return SnacRows(model.encoder, model.quantizer, self.strides)

    def export_example(self, part: Part, audio: torch.Tensor) -> torch.Tensor:
        """Audio padded to the padding grid for the encoder (rows of codes for the decoder)."""
        if part == "encoder":
            return nn.functional.pad(audio, (0, -audio.shape[-1] % self.pad_to))
        return self.encode(audio, self.n_codebooks)


class SnacRows(nn.Module):
    """SNAC's encoder, then its quantizer, as rows of every codebook (what a backend runs).

    ``audio : Tensor[B, 1, S]`` (``S`` a multiple of the padding grid) ``-> codes :
    LongTensor[B, W, S / row hop]``, each row codebook by codebook in time order.
    """

    def __init__(self, encoder: nn.Module, quantizer: nn.Module, strides: tuple[int, ...]) -> None:
        super().__init__()
        self.encoder = encoder
        self.quantizer = quantizer
        self.strides = strides
        self.grid = math.lcm(*strides)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        _, levels = self.quantizer(self.encoder(audio))
        b = audio.shape[0]
        parts = [level.reshape(b, -1, self.grid // s) for level, s in zip(levels, self.strides, strict=True)]
        return torch.cat(parts, dim=2).transpose(1, 2)


def _fold_weight_norm(model: nn.Module) -> None:
    """Compute each weight-normed convolution's weight once (the same values its forward computes on every
    call), so that neither eager runs nor a backend's conversion recompute it."""
    from torch.nn.utils import parametrize

    for module in list(model.modules()):
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


def load(located: Located, device: torch.device, fast: bool) -> SnacCodec:
    """Load a SNAC model folder (``config.json`` and ``pytorch_model.bin``, the Hub layout) offline.

    Parameters
    ----------
    located : Located
        ``path`` the ``pytorch_model.bin`` of a model folder, ``config.json`` beside it.
    device : torch.device
    fast : bool
        Unused.

    Raises
    ------
    ModelError
        If the ``snac`` package is missing, or the files are unreadable or do not fit SNAC.
    """
    try:
        from snac import SNAC
    except ImportError:
        raise ModelError("SNAC needs snac: pip install 'audiotok[codecs]'", located.name) from None
    folder = located.path.parent
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        model = SNAC(**config)
        # weights_only: tensors and containers only, never code from the file
        state = torch.load(located.path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        _fold_weight_norm(model)
    except (OSError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ModelError(f"cannot load SNAC model ({reason})", located.name) from None
    model.eval()
    model.to(device)
    return SnacCodec(
        model,
        name=located.name,
        weights_path=located.path,
        weights_sha256=sha256_file(located.path),
        device=device,
    )
