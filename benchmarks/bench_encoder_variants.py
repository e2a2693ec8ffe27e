"""DAC 44.1 kHz encoder on OpenVINO: the shipped export against the alternatives tried for more speed.

Every variant is the same network (full size, random weights, weight norm
removed, the export's polynomial Snake) converted to OpenVINO and run on one
window, interleaved over ``--rounds`` so the machine's noise hits them alike.
It prints the median time per window, x real time (window audio over wall
time), the ratio to the shipped static-shape model, and the largest error of
the latent ``z : Tensor[1, 1024, T]`` against eager PyTorch, relative to its
largest magnitude. Variants (``--variants``, comma-separated):

  static        what ships: a model compiled for the window's exact shape
  dynamic       the same model with a dynamic time axis (what other lengths run on)
  bounded       a dynamic time axis with an upper bound (2 windows)
  karatsuba     every dilated kernel-7 convolution as three half-rate convolutions on
                the even/odd phases (polyphase Karatsuba: 5.5 instead of 7 taps per
                output, 17 % fewer multiply-adds in all), static shape
  karatsuba256  the same for the blocks of 256 and 512 channels only
  im2col        the 1-channel input convolution as a 1x1 convolution over 8 shifted
                copies of the input, static shape
  streams       2 streams of 1 thread each (OpenVINO's THROUGHPUT hint), 2 windows
                in flight; time per window

Usage::

    python benchmarks/bench_encoder_variants.py [--frames 189] [--rounds 6] [--variants static,dynamic]

The default window is the shipped one: 2 s chunks and 8 frames of context
each side (189 frames); ``--frames 95`` is its half window.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiotok.codecs.dac import networks as D

ALL = "static,dynamic,bounded,karatsuba,karatsuba256,im2col,streams"


class KaratsubaConv(nn.Module):
    """``Conv1d(C, O, 7, dilation=d, padding=3 d)`` as three convolutions on the even/odd phases.

    With the taps split ``w0 = w[0::2]``, ``w1 = w[1::2]`` (``w[7] = 0``) and
    the padded input into phases ``x0``, ``x1`` of pairs ``d`` apart, the two
    outputs of a pair are ``y0 = w0*(x0 - x1) + (w0 + w1)*x1`` and ``y1 =
    (w0 + w1)*x1 + w1*(x0' - x1)``: 4 + 4 + 3 taps per two outputs instead of 14.
    ``x : Tensor[B, C, L] -> Tensor[B, O, L]``, equal to the convolution in exact arithmetic.
    """

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        w = nn.functional.pad(conv.weight.detach(), (0, 1))
        w0, w1 = w[:, :, 0::2], w[:, :, 1::2]
        self.d = int(conv.dilation[0])
        self.register_buffer("wa", w0.clone())
        self.register_buffer("wb", (w0 + w1).clone())
        self.register_buffer("wc", w1[:, :, :3].clone())
        assert conv.bias is not None
        self.register_buffer("bias", conv.bias.detach().reshape(1, -1, 1).clone())

    @staticmethod
    def fits(conv: nn.Module, min_channels: int) -> bool:
        return (
            isinstance(conv, nn.Conv1d)
            and conv.kernel_size[0] == 7
            and conv.stride[0] == 1
            and conv.groups == 1
            and conv.in_channels >= min_channels
            and conv.padding[0] == 3 * conv.dilation[0]  # type: ignore[index]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, n = x.shape
        d = self.d
        n2 = -(-n // (2 * d)) * 2 * d
        m = (n2 + 8 * d) // (2 * d)
        phases = nn.functional.pad(x, (3 * d, n2 - n + 5 * d)).reshape(b, c, m, 2, d)
        x0 = phases[:, :, :, 0, :].reshape(b, c, m * d)
        x1 = phases[:, :, :, 1, :].reshape(b, c, m * d)
        h = n2 // 2
        conv = nn.functional.conv1d
        m1 = conv(x0[:, :, : h + 3 * d] - x1[:, :, : h + 3 * d], self.wa, dilation=d)
        m2 = conv(x1[:, :, : h + 3 * d], self.wb, dilation=d)
        m3 = conv(x0[:, :, d : h + 3 * d] - x1[:, :, : h + 2 * d], self.wc, dilation=d)
        y0, y1 = m1 + m2 + self.bias, m2 + m3 + self.bias
        o = y0.shape[1]
        y = torch.stack([y0.reshape(b, o, h // d, d), y1.reshape(b, o, h // d, d)], dim=3)
        return y.reshape(b, o, n2)[:, :, :n]


class Im2colConv(nn.Module):
    """``Conv1d(1, O, k, padding=p)`` as ``k`` shifted copies of the input (8 channels) and a 1x1 conv."""

    def __init__(self, conv: nn.Conv1d, channels: int = 8) -> None:
        super().__init__()
        w = conv.weight.detach()[:, 0, :]
        self.k, self.channels, self.p = w.shape[1], channels, int(conv.padding[0])  # type: ignore[index]
        self.register_buffer("w", nn.functional.pad(w, (0, channels - self.k)).unsqueeze(-1).clone())
        assert conv.bias is not None
        self.register_buffer("b", conv.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        padded = nn.functional.pad(x, (self.p, self.p))
        cols = torch.cat([padded[:, :, i : i + n] for i in range(self.k)], dim=1)
        cols = nn.functional.pad(cols, (0, 0, 0, self.channels - self.k))
        return nn.functional.conv1d(cols, self.w, self.b)


def swap(module: nn.Module, fits: Callable[[nn.Module], bool], make: Callable[[Any], nn.Module]) -> nn.Module:
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if fits(child):
                setattr(parent, name, make(child))
    return module


def network(encoder: nn.Module, variant: str) -> nn.Module:
    net = D.for_export(encoder)
    if variant.startswith("karatsuba"):
        least = int(variant[len("karatsuba") :] or 2)
        swap(net, lambda c: KaratsubaConv.fits(c, least), KaratsubaConv)
    elif variant == "im2col":
        net.block[0] = Im2colConv(net.block[0])  # type: ignore[index]
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=189, help="window length in frames (512 samples)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=ALL)
    args = ap.parse_args()
    import dac
    import openvino as ov

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = dac.DAC().eval()
    D.speed_up(model)
    n = args.frames * 512
    x = 0.1 * torch.randn(1, 1, n)
    with torch.inference_mode():
        want = D.for_export(model.encoder)(x).numpy()
    core = ov.Core()
    base = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": args.threads}
    runners: dict[str, Callable[[], None]] = {}
    variants = args.variants.split(",")
    example = 0.1 * torch.randn(1, 1, 16 * 512)  # a short trace: the time axis is set below
    for v in variants:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings of the codec package
            net = network(model.encoder, v)
            converted = ov.convert_model(net, example_input=example, input=[ov.PartialShape([1, 1, -1])])
        if v == "bounded":
            converted.reshape({0: ov.PartialShape([1, 1, ov.Dimension(512, 2 * n)])})
        elif v != "dynamic":
            converted.reshape({0: [1, 1, n]})
        if v == "streams":
            compiled = core.compile_model(
                converted, "CPU", {**base, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2}
            )
            queue = ov.AsyncInferQueue(compiled, 2)

            def pair(queue: Any = queue) -> None:
                for i in range(2):
                    queue.start_async({0: x.numpy()}, i)
                queue.wait_all()

            runners[v] = pair
            got = compiled.create_infer_request().infer({0: x.numpy()})[0]
        else:
            request = core.compile_model(
                converted, "CPU", {**base, "PERFORMANCE_HINT": "LATENCY"}
            ).create_infer_request()
            runners[v] = lambda request=request: request.infer({0: x.numpy()})
            got = request.infer({0: x.numpy()})[0]
        err = float(np.abs(np.asarray(got) - want).max() / np.abs(want).max())
        print(f"  compiled {v:13s} latent error vs eager {err:.1e}", flush=True)
        runners[v]()
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            t = time.perf_counter()
            runners[v]()
            times[v].append((time.perf_counter() - t) / (2 if v == "streams" else 1))
    seconds = n / 44100
    ref = statistics.median(times[variants[0]])
    print(f"\n{args.frames}-frame window ({seconds:.2f} s), {args.threads} threads, median of {args.rounds}:")
    print(f"  {'variant':13s} {'ms/window':>9s} {'x real time':>11s} {'vs ' + variants[0]:>12s}")
    for v in variants:
        med = statistics.median(times[v])
        print(f"  {v:13s} {med * 1e3:9.0f} {seconds / med:11.2f} {ref / med:12.2f}")


if __name__ == "__main__":
    main()
