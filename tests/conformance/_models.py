"""Tiny random models of every codec family, a test signal, and one token-sink job, for the conformance tests.

:data:`TINY_MODELS` maps a codec family (the name its plugin is registered
under) to a :class:`TinyFactory`: how to write a tiny random checkpoint of
that family's architecture for one registry entry (the entry's rates, hop
and codebooks; smaller layers), and how to make the family's loader build
the tiny architecture when a checkpoint does not describe itself. A new
family needs one here: ``test_every_registered_family_has_a_tiny_model``
fails until it has.

Nothing here imports torch at module level: :func:`sink_case` also runs in a
child process that is killed mid-write (``test_sinks.py``).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from audiotok.audio import probe
from audiotok.codecs.plugin import CodecEntry
from audiotok.sinks import FileJob, SinkContext, TokenSink, sinks
from audiotok.tokens import CodecInfo, Codes, TokenLayout
from tests.dac_helpers import write_audio

if TYPE_CHECKING:
    import torch

__all__ = [
    "SINK_INFO",
    "TINY_MODELS",
    "ArraySource",
    "SinkCase",
    "TinyFactory",
    "noise_chirp",
    "sink_case",
    "sink_context",
]

Build = Callable[[CodecEntry, Path, pytest.FixtureRequest], None]


def _no_patch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A family whose checkpoints describe their own architecture needs no patch."""


@dataclass(frozen=True)
class TinyFactory:
    """How to make a tiny random model of one codec family.

    Attributes
    ----------
    build : callable
        ``build(entry, path, request)``: write a tiny random checkpoint for
        ``entry`` at ``path`` (a model folder for Hugging Face Hub weights),
        one that ``load_codec(entry.name)`` reads once it is in the entry's
        weights cache. Deterministic per session (the
        conformance tests write it once), so that its OpenVINO conversion is
        made once per session.
    patch : callable
        ``patch(monkeypatch)``: make the family's loader build the tiny
        architecture (EnCodec builds its architecture from the entry, not
        from the checkpoint).
    keeps_codebooks : bool
        The tiny model has the entry's codebooks (count and size); rates and
        hop are always the entry's.
    """

    build: Build
    patch: Callable[[pytest.MonkeyPatch], None] = _no_patch
    keeps_codebooks: bool = True


# -- the test signal ---------------------------------------------------------------------------------------


def noise_chirp(sample_rate: int, channels: int, n: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """Noise (0.1 rms) plus a quiet rising chirp, ``float32 [channels, n]``, channels differing."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    rows = [
        0.05 * np.sin(2 * np.pi * (220 + 110 * c) * t * (1 + 0.5 * t)) + 0.1 * rng.standard_normal(n)
        for c in range(channels)
    ]
    return np.stack(rows).astype(np.float32)


class ArraySource:
    """A :class:`~audiotok.audio.stream.SampleSource` over ``float32 [C, N]`` held in memory."""

    def __init__(self, audio: np.ndarray[Any, Any], sample_rate: int) -> None:
        self.audio = np.ascontiguousarray(audio, dtype=np.float32)
        self.channels = int(self.audio.shape[0])
        self.sample_rate = sample_rate
        self.length = int(self.audio.shape[1])

    def read(self, start: int, stop: int) -> np.ndarray[Any, Any]:
        """Samples ``[start, min(stop, length))`` of every channel."""
        return self.audio[:, start : min(stop, self.length)].copy()


# -- DAC ---------------------------------------------------------------------------------------------------

_DAC_RATES = {512: [2, 4, 8, 8], 320: [2, 4, 5, 8]}
"""DAC's encoder strides by hop length (its published configurations)."""
_DAC_DEFAULTS = {
    "sample_rate": 44100, "encoder_rates": [2, 4, 8, 8], "decoder_rates": [8, 8, 4, 2],
    "n_codebooks": 9, "codebook_size": 1024,
}  # fmt: skip
"""``dac.DAC()``'s own architecture: the suite's ``tiny_weights`` (tests/dac_helpers.py)."""


def _build_dac(entry: CodecEntry, path: Path, request: pytest.FixtureRequest) -> None:
    from tests.dac_helpers import TINY, save_dac

    rates = _DAC_RATES.get(entry.hop_length)
    if rates is None:
        pytest.fail(f"{entry.name}: no DAC strides known for hop {entry.hop_length}; add them to _DAC_RATES")
    kwargs = {
        "sample_rate": entry.sample_rate, "encoder_rates": rates, "decoder_rates": rates[::-1],
        "n_codebooks": entry.n_codebooks, "codebook_size": entry.codebook_size,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    if kwargs == _DAC_DEFAULTS:  # the suite's tiny model: its OpenVINO conversion is shared with other tests
        shutil.copyfile(request.getfixturevalue("tiny_weights"), path)
    else:
        save_dac(path, **TINY, **kwargs)  # type: ignore[arg-type]


# -- EnCodec -----------------------------------------------------------------------------------------------


def _spread_encodec_codebooks(model: Any, seed: int) -> None:
    """Codebook entries drawn from encoded test-like signals (k-means-like init).

    A random EnCodec's RVQ gives only 4 distinct codes in its first codebook
    on :func:`noise_chirp` (codebooks spread from plain noise,
    ``tests/_encodec.py``); entries taken from frames of signals like the
    test's, plus a little noise, give 10+ in every one of the first 8.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    signals = [noise_chirp(model.sample_rate, model.channels, model.sample_rate, 100 + i) for i in range(16)]
    with torch.no_grad():
        latents = model.encoder(torch.from_numpy(np.stack(signals)))  # [B, D, T]
        res = latents.transpose(1, 2).reshape(-1, latents.shape[1])  # [B * T, D]
        for layer in model.quantizer.vq.layers:
            embed = layer._codebook.embed
            idx = torch.randint(0, res.shape[0], (embed.shape[0],), generator=gen)
            embed.copy_(res[idx] + torch.randn(embed.shape, generator=gen) * res.std() * 0.1)
            layer._codebook.inited.fill_(1)
            res = res - embed[layer._codebook.encode(res)]


def _build_encodec(entry: CodecEntry, path: Path, request: pytest.FixtureRequest) -> None:
    import torch

    from audiotok.codecs.encodec.cached import ENCODEC_MODELS
    from tests._encodec import tiny_architecture

    torch.manual_seed(0)
    model: torch.nn.Module = tiny_architecture(ENCODEC_MODELS[entry.short_name])
    _spread_encodec_codebooks(model, seed=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def _patch_encodec(monkeypatch: pytest.MonkeyPatch) -> None:
    from audiotok.codecs.encodec import model
    from tests._encodec import tiny_architecture

    monkeypatch.setattr(model, "_architecture", tiny_architecture)


# -- Mimi --------------------------------------------------------------------------------------------------


def _build_mimi(entry: CodecEntry, path: Path, request: pytest.FixtureRequest) -> None:
    """A model folder (Hub weights: ``config.json`` and ``model.safetensors``) of the tiny architecture."""
    pytest.importorskip("transformers")
    from tests._mimi import save_mimi

    save_mimi(path)


def _build_snac(entry: CodecEntry, path: Path, request: pytest.FixtureRequest) -> None:
    """A model folder (``config.json``, ``pytorch_model.bin``: the Hub layout) of SNAC's architecture."""
    pytest.importorskip("snac")
    from tests._snac import TINY_SNAC_24, TINY_SNAC_32, build_snac, save_snac

    config = {
        **(TINY_SNAC_24 if entry.sample_rate == 24000 else TINY_SNAC_32),
        "sampling_rate": entry.sample_rate,
    }
    save_snac(build_snac(config), config, path)


# -- XCodec2, NeuCodec, X-Codec, Higgs (transformers' classes, global receptive field) ----------------------


def _build_hf_audio(entry: CodecEntry, path: Path, request: pytest.FixtureRequest) -> None:
    """A model folder (``config.json``, ``model.safetensors``, ``preprocessor_config.json``), small layers."""
    pytest.importorskip("transformers")
    from tests._hf_audio import save_model

    save_model(entry.family, path)


TINY_MODELS: dict[str, TinyFactory] = {
    "dac": TinyFactory(_build_dac),
    "encodec": TinyFactory(_build_encodec, _patch_encodec),
    "mimi": TinyFactory(_build_mimi),
    "snac": TinyFactory(_build_snac),
    **{f: TinyFactory(_build_hf_audio) for f in ("xcodec2", "neucodec", "xcodec", "higgs-audio-v2")},
}
"""A tiny-model factory per registered codec family (every family needs one; see the module docstring)."""


# -- token sinks -------------------------------------------------------------------------------------------

SINK_INFO = CodecInfo(
    codec="tiny-codec", family="tiny", sample_rate=16_000, output_sample_rate=16_000, channels=1,
    hop_length=320, layout=TokenLayout.uniform(4, 1024), weights_sha256="0" * 64, implementation="none",
)  # fmt: skip
"""A codec as sinks see it: 4 codebooks of 1024 at 50 fps."""


def sink_context(*, normalizes: bool = False, layout: TokenLayout | None = None) -> SinkContext:
    """The run's codec for a sink: :data:`SINK_INFO`, with another layout if given."""
    info = SINK_INFO if layout is None else replace(SINK_INFO, layout=layout)
    return SinkContext(info, "tiny-codec", normalizes=normalizes)


@dataclass(frozen=True)
class SinkCase:
    """A sink of one run, one planned file (a real 0.2 s WAV) and that file's random codes."""

    sink: TokenSink
    job: FileJob
    codes: Codes
    outdir: Path


def sink_case(
    name: str,
    tmp: Path,
    *,
    groups: tuple[int, ...] = (4,),
    extras: dict[str, float] | None = None,
    seed: int = 0,
) -> SinkCase:
    """Sink ``name`` writing to ``tmp/out`` (``-o``), and the job of ``tmp/in/a.wav`` with its codes.

    ``groups`` of two: a stereo input coded as Mid and Side; ``extras`` with
    a ``scale``: a codec that normalises its input (the context says so).
    The same arguments give the same job and codes (a rerun, another process).
    """
    cls = sinks()[name]
    src = tmp / "in" / "a.wav"
    if not src.is_file():
        write_audio(src, 0.2, sr=SINK_INFO.sample_rate, channels=len(groups), seed=seed)
    outdir = tmp / "out"
    root = cls.item_root(outdir)
    dst = root / ("a" + cls.suffix)  # a sharded sink: the item's key
    audio = probe(src)
    n_samples = -(-audio.frames * SINK_INFO.sample_rate // audio.sample_rate)
    n_frames = math.ceil(n_samples / SINK_INFO.hop_length)
    mode = "mono" if len(groups) == 1 else "mid-side"
    job = FileJob(src, dst, audio, mode, groups, n_samples, n_frames)
    rng = np.random.default_rng(seed)
    data = rng.integers(0, SINK_INFO.layout.vocab_sizes[0], size=(n_frames, sum(groups)), dtype=np.int64)
    codes = Codes(data, groups, dict(extras or {}))
    context = sink_context(normalizes=bool(extras and "scale" in extras))
    return SinkCase(cls(context, outdir), job, codes, outdir)
