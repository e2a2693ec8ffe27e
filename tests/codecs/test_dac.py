"""DAC loading by name and path, tensor encode/decode shapes, missing-weights errors."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest
import torch

from audiotok.codecs import registry
from audiotok.codecs.dac import networks as dac_networks
from audiotok.codecs.dac.model import DacCodec
from audiotok.codecs.weights import cache_path, sha256_file
from audiotok.errors import ModelError
from tests.dac_helpers import TINY


def load_codec(model: str | Path, **kwargs: object) -> DacCodec:
    codec = registry.load_codec(model, **kwargs)  # type: ignore[arg-type]
    assert isinstance(codec, DacCodec)
    return codec


def test_registry_rates_and_cache_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = registry.get("44khz")
    assert spec.frame_rate == 86.1328125
    assert registry.get("24khz").frame_rate == 75.0
    assert registry.get("16khz").frame_rate == 50.0
    assert cache_path(spec.weights) == tmp_path / ".cache/descript/dac/weights_44khz_8kbps_0.0.1.pth"
    assert cache_path(registry.get("44khz-16kbps").weights).name == "weights_44khz_16kbps_1.0.0.pth"


def test_load_by_name_from_cache(dac_home: Path) -> None:
    codec = load_codec("44khz")
    weights = dac_home / ".cache/descript/dac/weights_44khz_8kbps_0.0.1.pth"
    assert codec.weights_path == weights
    assert codec.weights_sha256 == sha256_file(weights)
    assert (codec.sample_rate, codec.hop_length, codec.n_codebooks) == (44100, 512, 9)
    x = torch.randn(2, 1, 5000) * 0.1
    codes = codec.encode(x, 4)
    assert codes.shape == (2, 4, 10) and codes.dtype == torch.long  # ceil(5000 / 512) = 10
    assert int(codes.max()) < 1024 and int(codes.min()) >= 0
    audio = codec.decode(codes)
    assert audio.shape == (2, 1, 10 * 512)


def test_encode_rejects_too_many_codebooks(tiny_weights: Path) -> None:
    codec = load_codec(tiny_weights)
    with pytest.raises(ValueError, match=r"\[1, 9\]"):
        codec.encode(torch.zeros(1, 1, 512), 10)


def test_fast_path_gives_identical_codes(tiny_weights: Path) -> None:
    x = torch.randn(1, 1, 44100) * 0.2
    fast = load_codec(tiny_weights, fast=True).encode(x, 9)
    plain = load_codec(tiny_weights, fast=False).encode(x, 9)
    assert torch.equal(fast, plain)


def test_offline_and_not_cached_names_url_and_cache_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AUDIOTOK_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        load_codec("24khz")
    message = str(info.value)
    assert "\n" not in message
    assert (
        "https://github.com/descriptinc/descript-audio-codec/releases/download/0.0.4/weights_24khz.pth"
        in message
    )
    assert str(tmp_path / ".cache/descript/dac/weights_24khz_8kbps_0.0.4.pth") in message


def test_bad_checkpoints_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such checkpoint"):
        load_codec(tmp_path / "missing.pth")
    with pytest.raises(ModelError, match="not a known model name"):
        load_codec(str(tmp_path / "missing"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read DAC checkpoint"):
        load_codec(junk)
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(Path("/")))  # arbitrary objects are never unpickled
    with pytest.raises(ModelError):
        load_codec(evil)
    wrong = tmp_path / "wrong.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "metadata": {"kwargs": {}}}, wrong)
    with pytest.raises(ModelError, match="missing tensors"):
        load_codec(wrong)


def test_full_size_encoder_receptive_field() -> None:
    import dac

    model = dac.DAC()
    # first conv 6 + blocks (78 + 3) * 1, (78 + 7) * 2, (78 + 15) * 8, (78 + 15) * 64 + last conv 2 * 512, + 1
    assert dac_networks.receptive_field(model.encoder) == 7978


def _cone(network: torch.nn.Module, x: torch.Tensor, out: slice) -> tuple[int, int]:
    """First and last input position (last axis) with a nonzero gradient from ``network(x)[..., out]``."""
    x = x.clone().requires_grad_(True)
    network(x)[..., out].sum().backward()
    assert x.grad is not None
    used = (x.grad.abs().sum(dim=(0, 1)) != 0).nonzero().flatten()
    return int(used.min()), int(used.max())


def test_contexts_cover_what_a_frame_depends_on() -> None:
    """Encoder and decoder contexts hold every input a kept frame's gradient reaches (float64)."""
    import dac

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = dac.DAC(**TINY).double().eval()
    cpu = torch.device("cpu")
    codec = DacCodec(model, name="tiny", weights_path=Path("x"), weights_sha256="", device=cpu)
    hop, t = codec.hop_length, 40
    lo, hi = _cone(model.encoder, torch.randn(1, 1, 80 * hop, dtype=torch.float64), slice(t, t + 1))
    assert codec.encoder_reach == (t * hop - lo, hi - t * hop)  # the formula is exact
    before, after = codec.encoder_context_frames
    assert (before, after) == (8, 8)
    assert lo >= (t - before) * hop and hi < (t + 1 + after) * hop
    z = torch.randn(1, model.latent_dim, 80, dtype=torch.float64)
    lo, hi = _cone(model.decoder, z, slice(t * hop, (t + 1) * hop))
    before, after = codec.decoder_context_frames
    assert (t - lo, hi - t) == (10, 10)
    assert lo >= t - before and hi <= t + after


@pytest.mark.parametrize("scale", [0.1, 1.0, 30.0, 1000.0])
def test_export_snake_is_as_accurate_as_torch_sin(scale: float) -> None:
    """The backends' polynomial Snake errs from float64 no more than PyTorch's float32 Snake does."""
    from audiotok.codecs.dac.networks import ExportSnake as _ExportSnake
    from audiotok.codecs.dac.networks import FastSnake as _FastSnake

    gen = torch.Generator().manual_seed(0)
    alpha = torch.empty(1, 16, 1).uniform_(0.05, 50.0, generator=gen)
    x = torch.randn(2, 16, 4000, generator=gen) * scale
    eager = _FastSnake(alpha)
    export = _ExportSnake(alpha, eager.inv_alpha)
    xd, ad = x.double(), alpha.double()
    exact = xd + (ad + 1e-9).reciprocal() * torch.sin(ad * xd) ** 2
    err_eager = (eager(x.clone()).double() - exact).abs().max().item()
    err_export = (export(x).double() - exact).abs().max().item()
    assert err_export <= 1.5 * err_eager + 1e-7


def test_export_module_swaps_every_snake_and_keeps_the_eager_model(dac_home: Path) -> None:
    from audiotok.codecs.dac.networks import ExportSnake as _ExportSnake
    from audiotok.codecs.dac.networks import FastSnake as _FastSnake

    codec = registry.load_codec("dac-44khz")
    exported = codec.export_module("encoder")
    snakes = [m for m in exported.modules() if isinstance(m, (_FastSnake, _ExportSnake))]
    assert snakes and all(isinstance(m, _ExportSnake) for m in snakes)
    assert any(isinstance(m, _FastSnake) for m in codec.network("encoder").modules())
    x = torch.randn(1, 1, 512 * 40, generator=torch.Generator().manual_seed(1)) * 0.3
    with torch.inference_mode():
        assert torch.equal(exported(x).long(), codec.encode(x, codec.n_codebooks))


@pytest.mark.parametrize(("stride", "length"), [(8, 13), (4, 5), (2, 1), (3, 7)])
def test_phase_conv_transpose_equals_conv_transpose(stride: int, length: int) -> None:
    """The backends' upsampling (a convolution, phases interleaved) is DAC's transposed convolution."""
    import math

    from audiotok.codecs.dac.networks import PhaseConvTranspose as _PhaseConvTranspose

    torch.manual_seed(stride)
    conv = torch.nn.ConvTranspose1d(6, 5, 2 * stride, stride=stride, padding=math.ceil(stride / 2)).double()
    assert _PhaseConvTranspose.fits(conv)
    x = torch.randn(2, 6, length, dtype=torch.float64)
    want = conv(x)
    got = _PhaseConvTranspose(conv)(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert not _PhaseConvTranspose.fits(torch.nn.ConvTranspose1d(6, 5, 3, stride=2))
