"""Mimi's SEANet encoder for a backend (OpenVINO): the convolutions as plain tensor operations.

:class:`ExportSeanet` is what :meth:`audiotok.codecs.mimi.model.MimiCodec.export_module` gives for the
encoder; :func:`seanet_reach` is how far back it reads (the context a chunk is run with).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

__all__ = ["ExportSeanet", "seanet_reach"]


class ExportSeanet(nn.Module):
    """Mimi's SEANet encoder for a backend: ``audio : Tensor[B, 1, S]`` to ``Tensor[B, D, ceil(S / 960)]``.

    The same convolutions as ``MimiEncoder`` without its padding cache: each
    causal convolution pads ``kernel - stride`` zeros on the left and, from
    the input's length, the ``extra padding`` zeros on the right that make
    its frames whole (``MimiConv1d`` with ``pad_mode="constant"``, which every
    SEANet convolution has), so that OpenVINO converts it with a dynamic length.
    """

    def __init__(self, seanet: nn.Module) -> None:
        super().__init__()
        from transformers.models.mimi.modeling_mimi import MimiConv1d, MimiResnetBlock

        def part(layer: nn.Module) -> nn.Module:
            if isinstance(layer, MimiConv1d):
                if layer.pad_mode != "constant":
                    raise ValueError(f"SEANet convolution with pad_mode {layer.pad_mode!r}")
                return _CausalConv(layer)
            if isinstance(layer, MimiResnetBlock):
                if not isinstance(layer.shortcut, nn.Identity):
                    raise ValueError("SEANet residual block with a convolution shortcut")
                return _Residual(nn.Sequential(*(part(b) for b in layer.block)))
            return layer

        self.layers = nn.Sequential(*(part(layer) for layer in cast(Any, seanet).layers))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layers(audio)
        return out


class _CausalConv(nn.Module):
    """``MimiConv1d`` (causal, zero padding) as plain tensor operations on a dynamic length."""

    def __init__(self, conv: Any) -> None:
        super().__init__()
        self.conv = conv.conv
        self.left = int(conv.padding_total)
        self.stride = int(conv.conv.stride[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:  # the end padding that makes the frames whole: (-length) mod stride zeros
            extra = (self.stride - x.shape[-1] % self.stride) % self.stride
            x = torch.cat([x, x.new_zeros(x.shape[0], x.shape[1], extra)], -1)
        out: torch.Tensor = self.conv(nn.functional.pad(x, (self.left, 0)))
        return out


class _Residual(nn.Module):
    """``MimiResnetBlock`` with an identity shortcut: ``x + block(x)``."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.block(x)
        return out


def seanet_reach(seanet: Any) -> int:
    """Samples before an output frame's own that the SEANet reads (its causal receptive field)."""
    reach, per_frame = 0, 1
    for name in seanet._conv1d_layer_names:
        conv = seanet.get_submodule(name).conv
        reach += (int(conv.kernel_size[0]) - 1) * int(conv.dilation[0]) * per_frame
        per_frame *= int(conv.stride[0])
    return reach
