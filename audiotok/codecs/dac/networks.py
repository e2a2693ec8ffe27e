"""DAC's networks as audiotok runs them: sped up for eager inference, and rewritten for the backends.

- :func:`speed_up`: weight norm folded and an in-place Snake (:class:`FastSnake`),
  the same outputs with less work per call;
- :func:`for_export`: a copy for OpenVINO with Snake's ``sin`` as a polynomial
  (:class:`ExportSnake`) and the upsampling as convolutions (:class:`PhaseConvTranspose`);
- :class:`Tokens`, :class:`MaskedTokens` (audio -> codes, the encoder and its
  RVQ as one network) and :class:`FromCodes` (codes -> audio);
- :func:`receptive_field` and :func:`reach`: how far an encoder output looks, for the chunk context.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

__all__ = [
    "ExportSnake",
    "FastSnake",
    "FromCodes",
    "MaskedTokens",
    "PhaseConvTranspose",
    "Tokens",
    "for_export",
    "reach",
    "receptive_field",
    "remove_weight_norm",
    "speed_up",
]


def receptive_field(module: nn.Module) -> int:
    """Receptive field, in input samples, of a stack of 1-d convolutions in module order.

    Every ``nn.Conv1d`` in ``module`` (residual branches included, which is an
    over-estimate and therefore safe) widens the field by
    ``dilation * (kernel - 1)`` times the stride accumulated before it.
    """
    field, jump = 1, 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d):
            field += layer.dilation[0] * (layer.kernel_size[0] - 1) * jump
            jump *= layer.stride[0]
    return field


def reach(module: nn.Module) -> tuple[int, int]:
    """Input samples before and after its own position that one output sample depends on.

    ``(left, right)``: output ``o`` of a stack of 1-d convolutions in module
    order depends on inputs ``[o * J - left, o * J + right]`` (``J`` the total
    stride). Each ``nn.Conv1d`` adds ``padding * jump`` on the left and
    ``(dilation * (kernel - 1) - padding) * jump`` on the right; a residual
    branch reaches at least as far as its identity path, so taking the
    branches in sequence is exact for DAC's encoder (checked by gradient in
    the tests).
    """
    left = right = 0
    jump = 1
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d):
            pad = int(cast(int, layer.padding[0]))
            left += pad * jump
            right += (layer.dilation[0] * (layer.kernel_size[0] - 1) - pad) * jump
            jump *= layer.stride[0]
    return left, right


def remove_weight_norm(model: nn.Module) -> None:
    """Fold weight norm into plain weights (inference only; same outputs, less work per call)."""
    for layer in model.modules():
        if hasattr(layer, "weight_g") and hasattr(layer, "weight_v"):
            torch.nn.utils.remove_weight_norm(layer)


class FastSnake(nn.Module):
    """Snake activation ``x + sin(alpha x)^2 / alpha`` with fewer temporaries than DAC's.

    Same maths as ``dac.nn.layers.snake``: ``1 / (alpha + 1e-9)`` is precomputed
    once and the element-wise chain runs in place on one buffer.
    """

    def __init__(self, alpha: torch.Tensor) -> None:
        super().__init__()
        self.alpha = nn.Parameter(alpha.detach().clone(), requires_grad=False)
        self.register_buffer("inv_alpha", (alpha.detach() + 1e-9).reciprocal())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inv_alpha = cast(torch.Tensor, self.inv_alpha)
        y = torch.mul(x, self.alpha)
        y.sin_().square_().mul_(inv_alpha).add_(x)
        return y


# sin(y) = sin(r) with r = y - n pi, n = round(y / pi) (the sign is squared away). pi is split in
# three floats (Cody-Waite, as Cephes' sinf), so r is exact to float32 for |y| < 2 ** 16 pi.
_PI_PARTS = (3.140625, 9.67502593994140625e-4, 1.509957990978376432e-7)
_INV_PI = 0.318309886183790671537767526745
# Taylor series of sin(r) / r - 1 in r^2 for |r| <= pi / 2: the truncation error is below 7e-10.
_SIN_TAYLOR = (-1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800, 1 / 6227020800)


class ExportSnake(nn.Module):
    """Snake ``x + sin(alpha x)^2 / alpha`` with ``sin`` as a range reduction and a polynomial.

    For the backends only (:meth:`DacCodec.export_module`). OpenVINO has no
    vectorised ``Sin`` on the CPU: its reference kernel, and the layout
    changes around it, took a third of the encoder's time. Multiplies, adds
    and ``Round`` fuse into one compiled kernel per Snake instead. ``sin``
    matches ``torch.sin`` to about 1e-7 for ``|alpha x| < 2 ** 16``; the
    backends' correctness gate compares the codes with eager.
    """

    def __init__(self, alpha: torch.Tensor, inv_alpha: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("alpha", alpha.detach().clone())
        self.register_buffer("inv_alpha", inv_alpha.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * cast(torch.Tensor, self.alpha)
        n = torch.round(y * _INV_PI)
        r = y
        for part in _PI_PARTS:
            r = r - n * part
        r2 = r * r
        poly: torch.Tensor | float = _SIN_TAYLOR[-1]
        for c in _SIN_TAYLOR[-2::-1]:
            poly = c + r2 * poly
        s = r + (r * r2) * poly
        return x + cast(torch.Tensor, self.inv_alpha) * (s * s)


class PhaseConvTranspose(nn.Module):
    """DAC's upsampling ``ConvTranspose1d`` (kernel ``2 s``, stride ``s``) as a convolution and a reshape.

    For the backends only. Output sample ``t`` of the transposed convolution
    takes input frames ``q = (t + p) // s`` and ``q - 1`` with the kernel taps
    of its phase ``(t + p) % s``: a kernel-2 ``Conv1d`` giving ``s`` phases
    of ``C_out`` channels, interleaved. The same products, summed in another
    order; OpenVINO runs the convolution with its fast kernels, where the
    transposed one used a generic GEMM (23 % of the decoder's time).

    ``x : Tensor[B, C_in, L] -> Tensor[B, C_out, L * s + s - 2 p]``.
    """

    def __init__(self, conv: nn.ConvTranspose1d) -> None:
        super().__init__()
        w = conv.weight.detach()  # [C_in, C_out, 2 s]
        self.stride = int(conv.stride[0])
        self.padding = int(conv.padding[0])  # type: ignore[index]
        self.out_channels = int(w.shape[1])
        s = self.stride
        taps = torch.stack([w[:, :, s:], w[:, :, :s]], dim=-1)  # [C_in, C_out, s, 2]: x[q - 1], x[q]
        self.register_buffer("weight", taps.permute(2, 1, 0, 3).reshape(s * w.shape[1], w.shape[0], 2))
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(w.shape[1])
        self.register_buffer("bias", bias.reshape(1, -1, 1).clone())

    @staticmethod
    def fits(conv: nn.Module) -> bool:
        """Whether ``conv`` is a transposed convolution this rewrites exactly."""
        return (
            isinstance(conv, nn.ConvTranspose1d)
            and conv.kernel_size[0] == 2 * conv.stride[0]
            and conv.dilation[0] == 1
            and conv.groups == 1
            and conv.output_padding[0] == 0
            and int(conv.padding[0]) <= conv.stride[0]  # type: ignore[index]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, n = x.shape
        s, c = self.stride, self.out_channels
        z = nn.functional.conv1d(nn.functional.pad(x, (1, 1)), cast(torch.Tensor, self.weight))
        z = z.reshape(b, s, c, n + 1).permute(0, 2, 3, 1).reshape(b, c, (n + 1) * s)
        out = z[:, :, self.padding : self.padding + n * s + s - 2 * self.padding]
        return out + cast(torch.Tensor, self.bias)


def for_export(module: nn.Module) -> nn.Module:
    """A copy of a DAC network for a backend: :class:`ExportSnake` for every Snake, and
    :class:`PhaseConvTranspose` for every upsampling layer (the eager network is kept as it is)."""
    import copy

    from dac.nn.layers import Snake1d

    out = copy.deepcopy(module)
    for parent in list(out.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FastSnake):
                setattr(parent, name, ExportSnake(child.alpha, cast(torch.Tensor, child.inv_alpha)))
            elif isinstance(child, Snake1d):
                alpha = child.alpha.detach()
                setattr(parent, name, ExportSnake(alpha, (alpha + 1e-9).reciprocal()))
            elif PhaseConvTranspose.fits(child):
                setattr(parent, name, PhaseConvTranspose(cast(nn.ConvTranspose1d, child)))
    return out


def speed_up(model: nn.Module) -> None:
    from dac.nn.layers import Snake1d

    remove_weight_norm(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Snake1d):
                setattr(parent, name, FastSnake(child.alpha))


class Tokens(nn.Module):
    """DAC's encoder, then its RVQ with every codebook.

    ``audio : Tensor[B, 1, S] -> codes : IntTensor[B, n_codebooks, S / hop]``.

    The RVQ runs in fp32 even under ``--precision bf16`` (autocast off).
    The first ``k`` codebooks' codes are those of a ``k``-codebook encode:
    residual quantization goes codebook by codebook.
    """

    def __init__(self, encoder: nn.Module, quantizer: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.quantizer = quantizer

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        z = self.encoder(audio)
        with torch.autocast(audio.device.type, enabled=False):
            _, codes, *_ = self.quantizer(z.float(), None)
        return cast(torch.Tensor, codes).int()


class MaskedTokens(nn.Module):
    """:class:`Tokens` that can run a shorter input inside a longer buffer, exactly (for the backends).

    ``forward(audio, valid)``: ``audio : Tensor[B, 1, L]`` holds ``valid``
    samples (``LongTensor[1]``, a multiple of the hop) and zeros after them.
    The activations past each layer's share of ``valid`` are set to zero
    before every convolution that reads them, as the convolutions' own zero
    padding at the end of a ``valid``-sample input would be, so the codes of
    the first ``valid / hop`` frames are those of the ``valid`` samples run
    alone (the products and sums of those frames are the same; past them
    only zeros are added). A backend compiled for ``L`` then also runs every
    shorter window. ``valid = None`` (or ``L``) is :class:`Tokens`.

    Only for DAC's own encoder layout (:meth:`fits`): an input convolution,
    ``EncoderBlock`` s of three ``ResidualUnit`` s, a Snake and a strided
    convolution each, then a Snake and the output convolution.
    """

    def __init__(self, encoder: nn.Module, quantizer: nn.Module) -> None:
        super().__init__()
        self.tokens = Tokens(encoder, quantizer)
        layers = list(cast(nn.Sequential, encoder.block))
        self.first, self.blocks, self.last = layers[0], layers[1:-2], layers[-2:]
        self.strides = [int(cast(nn.Conv1d, cast(nn.Sequential, b.block)[4]).stride[0]) for b in self.blocks]

    @staticmethod
    def fits(encoder: nn.Module) -> bool:
        """Whether ``encoder`` has DAC's layout (``dac.model.dac.Encoder``), which masking relies on."""
        from dac.model.dac import EncoderBlock, ResidualUnit

        block = getattr(encoder, "block", None)
        if not isinstance(block, nn.Sequential) or len(block) < 4:
            return False
        blocks = list(block)[1:-2]
        return all(
            isinstance(b, EncoderBlock)
            and len(b.block) == 5
            and all(isinstance(u, ResidualUnit) for u in list(b.block)[:3])
            and isinstance(list(b.block)[4], nn.Conv1d)
            for b in blocks
        ) and isinstance(list(block)[-1], nn.Conv1d)

    def forward(self, audio: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if valid is None:
            return cast(torch.Tensor, self.tokens(audio))

        def mask(y: torch.Tensor, step: int) -> torch.Tensor:  # y[..., t] stands for samples t * step
            pos = torch.arange(y.shape[-1], device=y.device).reshape(1, 1, -1) * step
            return y * (pos < valid).to(y.dtype)

        y, step = self.first(audio), 1
        for block, stride in zip(self.blocks, self.strides, strict=True):
            units = list(cast(nn.Sequential, block.block))
            for unit in units[:3]:
                y = unit(mask(y, step))
            y = units[4](units[3](mask(y, step)))
            step *= stride
        y = mask(y, step)
        for layer in self.last:
            y = layer(y)
        with torch.autocast(audio.device.type, enabled=False):
            _, codes, *_ = self.tokens.quantizer(y.float(), None)
        return cast(torch.Tensor, codes).int()


class FromCodes(nn.Module):
    """DAC's RVQ lookup, then its decoder.

    ``codes : LongTensor[B, n_codebooks, T] -> audio : Tensor[B, 1, T * hop]``.

    A code of ``-1`` marks a codebook left out: it contributes nothing, as in
    a decode of fewer codebooks (one module serves every ``K``). The lookup is
    that of DAC's ``ResidualVectorQuantize.from_codes``.
    """

    def __init__(self, quantizer: Any, decoder: nn.Module) -> None:
        super().__init__()
        self.quantizers = quantizer.quantizers
        self.decoder = decoder

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor | float = 0.0
        for i, q in enumerate(self.quantizers):
            c = codes[:, i, :]
            keep = (c >= 0).unsqueeze(1).float()
            z_p = nn.functional.embedding(c.clamp(min=0), q.codebook.weight).transpose(1, 2)
            z = z + q.out_proj(z_p) * keep
        return cast(torch.Tensor, self.decoder(z))
