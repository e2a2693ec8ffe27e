"""EnCodec (``encodec`` 0.1.1) models: loading, and chunked encode/decode of codes [T, K].

Two models, both with 1024-entry codebooks (10 bits per codebook per frame):

===============  =========  ========  ===  =====  ===============================
name             rate (Hz)  channels  hop  fps    bandwidths (kbps) -> codebooks
===============  =========  ========  ===  =====  ===============================
encodec_24khz    24000      1         320  75     1.5/3/6/12/24 -> 2/4/8/16/32
encodec_48khz    48000      2         320  150    3/6/12/24 -> 2/4/8/16
===============  =========  ========  ===  =====  ===============================

``specs/esf-format.md`` says "48 kHz -> hop 640" (75 fps), but the released
48 kHz model (``encodec`` 0.1.1) uses the same encoder strides as the 24 kHz
one, hop 320, so its codes run at 150 fps. audiotok records the true frame
rate in the ``.ecdc`` file and sidecars follow it; ESF's 75 fps holds for the
24 kHz model.

Weights come from ``encodec``'s own cache (``$TORCH_HOME/hub/checkpoints``),
downloaded there by ``torch.hub`` when missing, or from a state-dict file
(``--model PATH``). Every checkpoint is loaded with ``weights_only=True``.

Long audio is encoded in chunks. The 24 kHz model is causal, but its encoder
ends in an LSTM, so a chunk is encoded together with ``context`` seconds of
the audio before it and the context frames are dropped: frame ``i`` then
sees the same receptive field as in a whole-file encode except for LSTM state
older than the context. The 48 kHz model is not causal and normalises its
input; here it is run as one stream at 150 fps (no 1 s segments), with one
scale for the whole file (RMS of the mono mix) and context on both sides of a
chunk. ``benchmarks/bench_esf.py`` and the tests measure how often chunked
codes equal a whole-file encode.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from encodec.model import ROOT_URL, EncodecModel
from encodec.utils import _get_checkpoint_url

from audiotok.errors import ModelError, UsageError

__all__ = [
    "ENCODEC_MODELS",
    "EncodecSpec",
    "ModelName",
    "decode_codes",
    "encode_audio",
    "encode_stream",
    "load_model",
    "n_frames_for",
    "spec_of",
]

ModelName = Literal["encodec_24khz", "encodec_48khz"]


@dataclass(frozen=True)
class EncodecSpec:
    """Fixed properties of a released EnCodec model."""

    name: ModelName
    sample_rate: int
    channels: int
    hop_length: int
    bandwidths: tuple[float, ...]
    checkpoint: str
    causal: bool

    @property
    def fps(self) -> float:
        """Frame rate in frames per second (75)."""
        return self.sample_rate / self.hop_length

    def n_codebooks(self, bandwidth: float) -> int:
        """Codebooks used at ``bandwidth`` kbps (10 bits per codebook per frame)."""
        return round(bandwidth * 1000 / (self.fps * 10))


ENCODEC_MODELS: dict[str, EncodecSpec] = {
    "encodec_24khz": EncodecSpec(
        "encodec_24khz", 24_000, 1, 320, (1.5, 3.0, 6.0, 12.0, 24.0), "encodec_24khz-d7cc33bc.th", True
    ),
    "encodec_48khz": EncodecSpec(
        "encodec_48khz", 48_000, 2, 320, (3.0, 6.0, 12.0, 24.0), "encodec_48khz-7e698e3e.th", False
    ),
}


def _spec(name: str) -> EncodecSpec:
    try:
        return ENCODEC_MODELS[name]
    except KeyError:
        raise UsageError(f"unknown EnCodec model {name!r}; choose from {sorted(ENCODEC_MODELS)}") from None


def _architecture(spec: EncodecSpec) -> EncodecModel:
    norm = "weight_norm" if spec.causal else "time_group_norm"
    model: EncodecModel = EncodecModel._get_model(
        list(spec.bandwidths),
        spec.sample_rate,
        spec.channels,
        causal=spec.causal,
        model_norm=norm,
        audio_normalize=not spec.causal,
        segment=None if spec.causal else 1.0,
        name=spec.name,
    )
    return model


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise ModelError("no such model file", path) from None
    except Exception as exc:  # corrupt or hostile checkpoints raise many types
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"not a loadable EnCodec state dict ({why})", path) from None
    if not isinstance(state, dict):
        raise ModelError("not an EnCodec state dict", path)
    return state


def load_model(
    name: str = "encodec_24khz",
    *,
    path: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
    bandwidth: float = 6.0,
) -> EncodecModel:
    """Build an EnCodec model and load its weights.

    Parameters
    ----------
    name : {"encodec_24khz", "encodec_48khz"}
        Architecture.
    path : path, optional
        A state-dict file (e.g. ``encodec_24khz-d7cc33bc.th``). Default: the
        ``torch.hub`` cache ``encodec`` uses, downloading when missing.
    device : torch.device or str
    bandwidth : float
        Target bandwidth in kbps; sets the number of codebooks.

    Raises
    ------
    UsageError
        Unknown model or a bandwidth the model does not offer.
    ModelError
        If the weights cannot be found, downloaded or loaded.
    """
    spec = _spec(name)
    if bandwidth not in spec.bandwidths:
        raise UsageError(f"{name} offers bandwidths {list(spec.bandwidths)} kbps, not {bandwidth}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's weight_norm deprecation, not ours
        model = _architecture(spec)
    if path is not None:
        state = _load_state(Path(path))
    else:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / spec.checkpoint
        if cached.is_file():
            state = _load_state(cached)
        else:
            url = _get_checkpoint_url(ROOT_URL, spec.checkpoint)
            try:
                state = torch.hub.load_state_dict_from_url(
                    url, map_location="cpu", check_hash=True, weights_only=True
                )
            except Exception as exc:  # network, hash and disk errors
                raise ModelError(f"cannot download {spec.checkpoint} ({exc})", url) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        where = path if path is not None else spec.checkpoint
        raise ModelError(f"weights do not fit {name} ({str(exc).splitlines()[0][:200]})", where) from None
    model.set_target_bandwidth(bandwidth)
    return model.eval().to(device)


def spec_of(model: EncodecModel) -> EncodecSpec:
    """The :class:`EncodecSpec` of a loaded model."""
    return _spec(model.name)


def n_frames_for(n_samples: int, hop_length: int) -> int:
    """Frames a whole-file encode gives for ``n_samples`` samples: ``ceil(n / hop)``."""
    return math.ceil(n_samples / hop_length)


def _encode_batch(model: EncodecModel, x: torch.Tensor) -> torch.Tensor:
    """``x [B, C, N]`` -> codes ``[B, K, ceil(N / hop)]`` (no segmenting, no normalisation)."""
    emb = model.encoder(x)
    codes: torch.Tensor = model.quantizer.encode(emb, model.frame_rate, model.bandwidth)
    return codes.transpose(0, 1)


@torch.inference_mode()
def encode_stream(
    model: EncodecModel,
    read: Callable[[int, int], torch.Tensor],
    n_samples: int,
    *,
    chunk_s: float | None = 30.0,
    context_s: float = 1.0,
    batch_size: int = 1,
    on_chunk: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Encode ``n_samples`` of audio, read window by window, to codes.

    Parameters
    ----------
    model : EncodecModel
        From :func:`load_model`; its input normalisation (48 kHz) is the
        caller's job (divide by the scale before).
    read : callable
        ``read(start, end) -> Tensor[C, end - start]`` at ``model.sample_rate``,
        zero-padded past the end of the audio.
    n_samples : int
        N, samples at ``model.sample_rate``.
    chunk_s : float or None
        Seconds per chunk (rounded to whole frames); ``None`` encodes in one go.
    context_s : float
        Seconds of audio before (and, for the non-causal 48 kHz model, after)
        each chunk that are encoded with it and whose frames are dropped.
    batch_size : int
        Chunks of equal length run through the encoder together.
    on_chunk : callable, optional
        Called with the number of samples (at ``model.sample_rate``) each
        finished batch of chunks covered; they add up to ``n_samples``.

    Returns
    -------
    codes : LongTensor[T, K]
        ``T = ceil(N / hop)`` frames, K codebooks, on the CPU.
    """
    spec = spec_of(model)
    device = next(model.parameters()).device
    hop = spec.hop_length
    total = n_frames_for(n_samples, hop)
    if total == 0:
        raise ValueError("no samples to encode")
    chunk_frames = total if chunk_s is None else max(1, round(chunk_s * spec.fps))
    if total <= chunk_frames:
        x = read(0, n_samples).to(device=device, dtype=torch.float32)
        codes = _encode_batch(model, x[None])[0, :, :total].T.contiguous().cpu()
        if on_chunk is not None:
            on_chunk(n_samples)
        return codes
    chunk = chunk_frames * hop
    left = round(context_s * spec.fps) * hop
    right = 0 if spec.causal else left
    windows: list[tuple[int, int, int, int]] = []  # (start, end, frames dropped, frames kept)
    for start in range(0, n_samples, chunk):
        a = max(0, start - left)
        b = min(n_samples, start + chunk + right)
        windows.append((a, b, (start - a) // hop, n_frames_for(min(chunk, n_samples - start), hop)))
    out: list[torch.Tensor] = []
    i = 0
    while i < len(windows):
        group = [windows[i]]
        length = windows[i][1] - windows[i][0]
        while len(group) < batch_size and i + len(group) < len(windows):
            nxt = windows[i + len(group)]
            if nxt[1] - nxt[0] != length:
                break
            group.append(nxt)
        batch = torch.stack([read(a, b) for a, b, _, _ in group]).to(device=device, dtype=torch.float32)
        codes = _encode_batch(model, batch)
        out.extend(codes[j, :, drop : drop + keep].cpu() for j, (_, _, drop, keep) in enumerate(group))
        if on_chunk is not None:
            on_chunk(sum(min(keep * hop, n_samples - (a + drop * hop)) for a, _, drop, keep in group))
        i += len(group)
    return torch.cat(out, dim=-1).T.contiguous()


def encode_audio(
    model: EncodecModel,
    audio: torch.Tensor,
    *,
    chunk_s: float | None = 30.0,
    context_s: float = 1.0,
    batch_size: int = 1,
) -> tuple[torch.Tensor, float | None]:
    """Encode audio held in memory; see :func:`encode_stream`.

    Parameters
    ----------
    audio : Tensor[C, N] float32
        At ``model.sample_rate`` with ``model.channels`` channels.

    Returns
    -------
    codes : LongTensor[T, K]
        ``T = ceil(N / hop)``.
    scale : float or None
        The input scale (RMS of the mono mix) of a normalising model (48 kHz), else ``None``.
    """
    x = audio.to(torch.float32)
    scale: float | None = None
    if model.normalize:
        scale = float(x.mean(dim=0).pow(2).mean().sqrt()) + 1e-8
        x = x / scale
    codes = encode_stream(
        model,
        lambda a, b: x[:, a:b],
        x.shape[-1],
        chunk_s=chunk_s,
        context_s=context_s,
        batch_size=batch_size,
    )
    return codes, scale


@torch.inference_mode()
def decode_codes(
    model: EncodecModel,
    codes: torch.Tensor,
    *,
    scale: float | None = None,
    chunk_frames: int | None = 2250,
    context_frames: int = 75,
) -> torch.Tensor:
    """Decode codes ``[T, K]`` to audio ``[C, T * hop]`` at the model's rate.

    Long code streams are decoded in chunks of ``chunk_frames`` frames with
    ``context_frames`` frames of context (both sides), bounding memory.
    """
    spec = spec_of(model)
    device = next(model.parameters()).device
    c = codes.to(device=device, dtype=torch.long).T[:, None]  # [K, 1, T]
    total = c.shape[-1]
    hop = spec.hop_length

    def run(part: torch.Tensor) -> torch.Tensor:
        wav: torch.Tensor = model.decoder(model.quantizer.decode(part))
        return wav[0]

    if chunk_frames is None or total <= chunk_frames:
        wav = run(c)
    else:
        pieces = []
        for start in range(0, total, chunk_frames):
            a = max(0, start - context_frames)
            b = min(total, start + chunk_frames + context_frames)
            keep = min(chunk_frames, total - start)
            y = run(c[:, :, a:b])
            pieces.append(y[:, (start - a) * hop : (start - a + keep) * hop])
        wav = torch.cat(pieces, dim=-1)
    if scale is not None:
        wav = wav * scale
    return wav.cpu()
