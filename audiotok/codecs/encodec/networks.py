"""EnCodec 24 kHz's encoder and RVQ rewritten as one network for the backends (audio -> codes).

:class:`MaskedEncodecTokens` rebuilds EnCodec's length-dependent padding from
a ``valid`` input, so one converted model with a dynamic time axis gives the
codes of any input longer than :meth:`MaskedEncodecTokens.min_samples`.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
import torch.nn.functional as F
from encodec.model import EncodecModel
from torch import nn

__all__ = ["CausalConv", "MaskedEncodecTokens"]


class CausalConv(nn.Module):
    """One of SEANet's causal ``SConv1d`` as a plain convolution (weight norm folded), padded as EnCodec pads.

    ``forward(x, valid) -> (y, valid_out)``: left reflection of the fixed
    causal padding; before a strided convolution, the samples past ``valid``
    replaced by their reflection (EnCodec's extra right padding up to whole
    strides) and ``stride - 1`` more appended, so the output has ``ceil(L /
    stride)`` frames for an input of ``L``; ``valid_out = ceil(valid / stride)``.
    """

    def __init__(self, sconv: nn.Module) -> None:
        super().__init__()
        conv: Any = cast(Any, sconv).conv.conv
        weight = conv.weight
        if hasattr(conv, "weight_g"):  # weight norm: the weight EnCodec computes before each call
            weight = torch._weight_norm(conv.weight_v, conv.weight_g, 0)
        self.conv = nn.Conv1d(
            conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0],
            dilation=conv.dilation[0], bias=conv.bias is not None,
        )  # fmt: skip
        self.conv.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        if conv.bias is not None:
            self.conv.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
        k, self.stride, d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        self.pad = (k - 1) * d - (self.stride - 1)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor | int]:
        s = self.stride
        if s > 1:
            x = F.pad(x, (0, s - 1))
            pos = torch.arange(x.shape[-1], device=x.device).reshape(1, 1, -1)
            src = torch.where(pos < valid, pos, 2 * (valid - 1) - pos).clamp(min=0)
            x = torch.gather(x, 2, src.expand(x.shape[0], x.shape[1], -1))
        if self.pad:
            x = F.pad(x, (self.pad, 0), mode="reflect")
        return self.conv(x), (valid + s - 1) // s


class MaskedEncodecTokens(nn.Module):
    """EnCodec's causal SEANet encoder and RVQ, audio -> codes, for a backend with a dynamic time axis.

    ``forward(audio, valid=None)``: ``audio : Tensor[1, 1, L]`` holds
    ``valid`` samples (``LongTensor[1]``; default ``L``) and anything after
    them; gives ``codes : IntTensor[1, K, ceil(L / hop)]`` whose first
    ``ceil(valid / hop)`` frames are those of the ``valid`` samples encoded
    alone. EnCodec pads each convolution from its input's length (reflection
    on the left; on the right, reflection up to whole strides), which a
    traced graph would freeze at the example's length. Here the left
    padding is fixed per layer, and before each strided convolution the
    samples past the layer's share of ``valid`` are replaced by their
    reflection, as EnCodec's right padding is (:class:`CausalConv`); every
    convolution is causal and the LSTM runs forward, so what lies further
    right never reaches a kept frame. The RVQ is EnCodec's
    ``EuclideanCodebook.quantize`` for ``n_q`` codebooks.

    Only for the causal layout with reflection padding (:meth:`fits`: the
    24 kHz model), and for inputs longer than :meth:`min_samples` (shorter
    ones EnCodec pads differently).
    """

    def __init__(self, model: EncodecModel, n_q: int) -> None:
        super().__init__()
        from encodec.modules.conv import SConv1d
        from encodec.modules.seanet import SEANetResnetBlock

        layers: list[nn.Module] = []
        for layer in cast(nn.Sequential, model.encoder.model):
            if isinstance(layer, SConv1d):
                layers.append(CausalConv(layer))
            elif isinstance(layer, SEANetResnetBlock):
                block = [CausalConv(m) if isinstance(m, SConv1d) else copy.deepcopy(m) for m in layer.block]
                layers.append(nn.ModuleList([nn.ModuleList(block), CausalConv(layer.shortcut)]))
            else:
                layers.append(copy.deepcopy(layer))
        self.layers = nn.ModuleList(layers)
        books = [layer._codebook.embed.detach().clone() for layer in model.quantizer.vq.layers[:n_q]]
        self.codebooks = nn.Parameter(torch.stack(books), requires_grad=False)  # [K, bins, D]

    @staticmethod
    def fits(encoder: nn.Module) -> bool:
        """Whether ``encoder`` is a causal SEANet with reflection padding and undilated strides."""
        from encodec.modules.conv import SConv1d
        from encodec.modules.lstm import SLSTM
        from encodec.modules.seanet import SEANetEncoder, SEANetResnetBlock

        if not isinstance(encoder, SEANetEncoder):
            return False
        convs: list[Any] = [m for m in encoder.modules() if isinstance(m, SConv1d)]
        ok_convs = all(
            m.causal and m.pad_mode == "reflect" and m.conv.norm_type in ("weight_norm", "none")
            and (m.conv.conv.stride[0] == 1 or m.conv.conv.dilation[0] == 1)
            and m.conv.conv.padding == (0,) and m.conv.conv.groups == 1
            for m in convs
        )  # fmt: skip
        kinds = (SConv1d, SEANetResnetBlock, SLSTM, nn.ELU)
        blocks = all(
            isinstance(b.shortcut, SConv1d) and all(isinstance(s, (SConv1d, nn.ELU)) for s in b.block)
            for b in encoder.model
            if isinstance(b, SEANetResnetBlock)
        )  # fmt: skip
        return ok_convs and blocks and all(isinstance(m, kinds) for m in cast(Any, encoder).model)

    @staticmethod
    def min_samples(encoder: nn.Module) -> int:
        """Inputs must be longer: every layer's share of them longer than its left padding."""
        from encodec.modules.conv import SConv1d

        most, rate = 0, 1
        layer: Any
        for layer in cast(Any, encoder).model:
            for m in layer.modules():
                if isinstance(m, SConv1d):
                    c: Any = cast(Any, m).conv.conv
                    pad = (c.kernel_size[0] - 1) * c.dilation[0] - (c.stride[0] - 1)
                    most = max(most, pad * rate)
            if isinstance(layer, SConv1d):
                rate *= int(cast(Any, layer).conv.conv.stride[0])
        return most

    def forward(self, audio: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        n: torch.Tensor | int = audio.shape[-1] if valid is None else valid
        x = audio
        for layer in self.layers:
            if isinstance(layer, CausalConv):
                x, n = layer(x, n)
            elif isinstance(layer, nn.ModuleList):  # a residual block: (block, shortcut)
                block, shortcut = layer
                y = x
                for sub in cast(nn.ModuleList, block):
                    y = sub(y, n)[0] if isinstance(sub, CausalConv) else sub(y)
                x = shortcut(x, n)[0] + y
            else:
                x = layer(x)
        residual = x[0].transpose(0, 1).float()  # [T, D]
        codes = []
        for book in self.codebooks:  # EnCodec's EuclideanCodebook.quantize, then the residual
            square = residual.pow(2).sum(1, keepdim=True)
            dist = -(square - 2 * residual @ book.t() + book.pow(2).sum(1)[None])
            index = dist.argmax(dim=-1)
            residual = residual - F.embedding(index, book)
            codes.append(index)
        return torch.stack(codes).int()[None]
