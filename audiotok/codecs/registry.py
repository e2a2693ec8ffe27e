"""Known codecs by name, and checkpoint paths, mapped to the functions that load them.

================  =============  =========  ========  ===  =====  ==
name              alias          rate (Hz)  channels  hop  fps    K
================  =============  =========  ========  ===  =====  ==
dac-44khz         44khz          44100      1         512  86.13  9
dac-24khz         24khz          24000      1         320  75     32
dac-16khz         16khz          16000      1         320  50     12
dac-44khz-16kbps  44khz-16kbps   44100      1         512  86.13  18
encodec-24khz     encodec_24khz  24000      1         320  75     32
encodec-48khz     encodec_48khz  48000      2         320  150    16
================  =============  =========  ========  ===  =====  ==

Every codebook has 1024 entries. The alias is the name audiotok used before
these names and still writes into records and files (``.ecdc`` files carry
``encodec_24khz``, EnCodec's own name). Names are matched case-insensitively.

:func:`load_codec` also takes a checkpoint file: ``.th`` is an EnCodec state
dict (the architecture is read from it), anything else a DAC checkpoint; or a
Hugging Face DAC repo id or model folder (``descript/dac_44khz``).

Adding a codec: write ``codecs/<name>.py`` with a class satisfying
:class:`~audiotok.codecs.base.Codec` and a loader ``load(path, name, entry,
device, fast)``; name that loader in :data:`LOADERS`, add one :class:`CodecEntry`
per published model to :data:`CODECS` (and its checkpoint suffix to
:data:`CHECKPOINT_FAMILIES`, if it has its own).

This module imports no torch: loaders are imported when first used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from audiotok._types import FramesPerSecond, Hz, Kbps
from audiotok.codecs.weights import Weights, fetch, offline
from audiotok.errors import ModelError, UsageError

if TYPE_CHECKING:
    import torch

    from audiotok.codecs.base import Codec, CodecBase, Part
    from audiotok.codecs.encodec_cached import EncodecCodecBase

__all__ = [
    "CHECKPOINT_FAMILIES",
    "CODECS",
    "LOADERS",
    "CodecEntry",
    "Family",
    "entries",
    "get",
    "load_codec",
    "lookup",
]

Family = Literal["dac", "encodec"]
Loader = Callable[[Path, str, "CodecEntry | None", "torch.device", bool], "Codec"]
"""``load(path, name, entry, device, fast) -> Codec``: a checkpoint file to a codec.

``name`` is the entry's short name, or the path as the user gave it; ``entry``
is ``None`` for a file named by path alone."""

_DAC = "https://github.com/descriptinc/descript-audio-codec/releases/download"
_ENCODEC = "https://dl.fbaipublicfiles.com/encodec/v0"


@dataclass(frozen=True)
class CodecEntry:
    """A published model: its facts (known without loading it), weights and loader.

    Attributes
    ----------
    name : str
        Canonical name (``dac-44khz``).
    short_name : str
        The earlier name, an alias (``44khz``); written into records and files.
    family : {"dac", "encodec"}
        Which codec module loads it.
    sample_rate : int
        Hz.
    channels : int
        Audio channels per batch item.
    hop_length : int
        Samples per frame.
    n_codebooks : int
        RVQ codebooks of the model.
    codebook_size : int
        Entries per codebook.
    weights : Weights
        Download URL and cache location.
    """

    name: str
    short_name: str
    family: Family
    sample_rate: Hz
    channels: int
    hop_length: int
    n_codebooks: int
    codebook_size: int
    weights: Weights

    @property
    def frame_rate(self) -> FramesPerSecond:
        """Frames per second, ``sample_rate / hop_length`` (86.1328125 at 44.1 kHz)."""
        return self.sample_rate / self.hop_length

    @property
    def names(self) -> tuple[str, str]:
        """Every name this entry answers to: canonical, then the alias."""
        return (self.name, self.short_name)


def _dac(name: str, short: str, rate: Hz, hop: int, k: int, url: str, filename: str) -> CodecEntry:
    weights = Weights(url=f"{_DAC}/{url}", filename=filename, cache="descript")
    return CodecEntry(name, short, "dac", rate, 1, hop, k, 1024, weights)


def _encodec(name: str, short: str, rate: Hz, channels: int, k: int, filename: str) -> CodecEntry:
    sha = filename.rsplit("-", 1)[1].split(".")[0]
    weights = Weights(url=f"{_ENCODEC}/{filename}", filename=filename, cache="torch-hub", sha256_prefix=sha)
    return CodecEntry(name, short, "encodec", rate, channels, 320, k, 1024, weights)


CODECS: tuple[CodecEntry, ...] = (
    _dac("dac-44khz", "44khz", 44100, 512, 9, "0.0.1/weights.pth", "weights_44khz_8kbps_0.0.1.pth"),
    _dac("dac-24khz", "24khz", 24000, 320, 32, "0.0.4/weights_24khz.pth", "weights_24khz_8kbps_0.0.4.pth"),
    _dac("dac-16khz", "16khz", 16000, 320, 12, "0.0.5/weights_16khz.pth", "weights_16khz_8kbps_0.0.5.pth"),
    _dac(
        "dac-44khz-16kbps",
        "44khz-16kbps",
        44100,
        512,
        18,
        "1.0.0/weights_44khz_16kbps.pth",
        "weights_44khz_16kbps_1.0.0.pth",
    ),
    _encodec("encodec-24khz", "encodec_24khz", 24000, 1, 32, "encodec_24khz-d7cc33bc.th"),
    _encodec("encodec-48khz", "encodec_48khz", 48000, 2, 16, "encodec_48khz-7e698e3e.th"),
)
"""Every known model, in the order ``models list`` shows them."""

LOADERS: dict[Family, str] = {"dac": "audiotok.codecs.dac:load", "encodec": "audiotok.codecs.encodec:load"}
"""Each family's :data:`Loader` as ``"module:function"``, imported on first use."""

CHECKPOINT_FAMILIES: dict[str, Family] = {".th": "encodec"}
"""Which family reads a checkpoint file, by suffix; any other existing file is a DAC checkpoint."""

_MISSING_SUFFIXES = (".pth", ".pt", ".th")

_BY_NAME = {n.lower(): entry for entry in CODECS for n in entry.names}


def lookup(name: str) -> CodecEntry | None:
    """The entry a name or alias refers to (case-insensitive), or ``None``."""
    return _BY_NAME.get(name.strip().lower())


def entries(family: Family | None = None) -> list[CodecEntry]:
    """Known models, all or of one family, in :data:`CODECS` order."""
    return [e for e in CODECS if family is None or e.family == family]


_LABELS: dict[Family | None, str] = {None: "model", "dac": "DAC model", "encodec": "EnCodec model"}
_A_LABEL: dict[Family, str] = {"dac": "a DAC model", "encodec": "an EnCodec model"}


def _known(family: Family | None) -> str:
    return "known: " + ", ".join(n for e in entries(family) for n in e.names)


def get(name: str, family: Family | None = None) -> CodecEntry:
    """The entry for a name or alias, of ``family`` when given.

    Raises
    ------
    UsageError
        If no entry (of that family) has that name; the message lists the known names.
    """
    entry = lookup(name)
    if entry is None:
        raise UsageError(f"unknown {_LABELS[family]} {name!r}; {_known(family)}")
    if family is not None and entry.family != family:
        raise UsageError(f"{name!r} is {_A_LABEL[entry.family]}, not {_A_LABEL[family]}; {_known(family)}")
    return entry


def _loader(family: Family) -> Loader:
    module, _, attr = LOADERS[family].partition(":")
    return cast(Loader, getattr(importlib.import_module(module), attr))


def load_codec(
    model: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    family: Family | None = None,
    device: torch.device | str | None = None,
    download: bool = True,
    fast: bool = True,
    backend: str = "eager",
    parts: tuple[Part, ...] = ("encoder",),
    bandwidth: Kbps | None = None,
) -> Codec:
    """Load a codec by name, from a checkpoint file, or from the Hugging Face Hub.

    Parameters
    ----------
    model : str or os.PathLike
        A name or alias of :data:`CODECS`; a checkpoint file (``.th``: an
        EnCodec state dict, else a DAC checkpoint ``{"state_dict",
        "metadata": {"kwargs"}}``); or a Hugging Face repo id / model folder
        for transformers' ``DacModel`` (needs the ``hf`` extra).
    checkpoint : str or os.PathLike, optional
        With a name: read the weights from this file instead of the cache.
    family : {"dac", "encodec"}, optional
        Refuse models of another family (a command that writes one format).
    device : torch.device or str, optional
        Defaults to the CPU. A DAC model whose networks are all in the
        backend cache loads without PyTorch
        (:class:`~audiotok.codecs.dac_cached.CachedDacCodec`), and so does
        an EnCodec 24 kHz encoder at a bandwidth whose entry is cached
        (:class:`~audiotok.codecs.encodec_cached.CachedEncodecCodec`).
    download : bool
        Allow downloading a named model that is not cached.
    fast : bool
        Inference speed-ups with identical outputs (DAC: weight norm folded,
        an in-place Snake).
    backend : {"eager", "auto", "compile", "openvino"}
        What runs ``parts`` (:func:`audiotok.codecs.backends.apply_backend`):
        converted or compiled once, cached, checked against eager on a probe.
    parts : tuple of {"encoder", "decoder"}
        The networks the caller will run.
    bandwidth : float, optional
        EnCodec: the target bandwidth in kbps the codec encodes at (its
        backend entry is per codebook count); default the codec's own (6).

    Raises
    ------
    ModelError
        If the weights are missing (message: URL and cache path), unreadable,
        do not fit the architecture, or ``model`` is none of the above.
    UsageError
        If the model is not of ``family``, or ``bandwidth`` is not one an EnCodec model offers.
    """
    dev: torch.device | str = device or "cpu"
    located = _locate(model, checkpoint, family, download)  # once: a named model's file is fetched here
    if backend != "eager" and parts and located is not None:
        if located[0] == "dac":
            cached = _cached(located[1], located[2], dev, backend, parts)
        else:

            def eager() -> Codec:
                return load_codec(
                    model, checkpoint=checkpoint, family=family, device=dev, download=download,
                    fast=fast, bandwidth=bandwidth,
                )  # fmt: skip

            cached = _cached_encodec(located, dev, backend, parts, bandwidth, eager)
        if cached is not None:
            return cached
    import torch

    codec = _load(model, located, family, torch.device(dev), download, fast)
    if bandwidth is not None and hasattr(codec, "bandwidth"):
        cast("EncodecCodecBase", codec).spec.check_bandwidth(bandwidth)
        cast("EncodecCodecBase", codec).bandwidth = bandwidth  # before the backend: its entry is per count
    if backend != "eager":
        from audiotok.codecs.backends import apply_backend

        apply_backend(cast("CodecBase", codec), backend, parts)
    return codec


def _cached(
    path: Path, name: str, dev: torch.device | str, backend: str, parts: tuple[Part, ...]
) -> Codec | None:
    """A DAC codec straight from its backend cache entries, when there are all of them (no PyTorch)."""
    from audiotok.codecs.backends import resolve
    from audiotok.codecs.dac_cached import CachedDacCodec, load_cached

    if resolve(backend, dev, CachedDacCodec.AUTO_BACKENDS) != "openvino":
        return None
    return load_cached(path, name, parts)


def _cached_encodec(
    located: tuple[Family, Path, str],
    dev: torch.device | str,
    backend: str,
    parts: tuple[Part, ...],
    bandwidth: Kbps | None,
    eager: Callable[[], Codec],
) -> Codec | None:
    """An EnCodec 24 kHz codec straight from its cached encoder entry at ``bandwidth`` (no PyTorch)."""
    from audiotok.codecs.backends import resolve
    from audiotok.codecs.encodec_cached import ENCODEC_MODELS, CachedEncodecCodec, load_cached

    entry = lookup(located[2])
    spec = ENCODEC_MODELS.get(entry.short_name) if entry is not None else None
    if (
        spec is None
        or parts != ("encoder",)
        or resolve(backend, dev, CachedEncodecCodec.AUTO_BACKENDS) != "openvino"
    ):
        return None  # a bare state-dict file (architecture told from its tensors), a decoder, GPUs
    kbps = 6.0 if bandwidth is None else bandwidth
    spec.check_bandwidth(kbps)
    return load_cached(located[1], spec, kbps, cast("Callable[[], CodecBase]", eager))


def _locate(
    model: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str] | None,
    family: Family | None,
    download: bool,
) -> tuple[Family, Path, str] | None:
    """The family, checkpoint file and name of a registry name or checkpoint path; ``None`` otherwise.

    Raises
    ------
    ModelError
        If a named model's weights are missing and cannot be downloaded.
    UsageError
        If the model is not of ``family``.
    """
    ref = os.fspath(model)
    entry = lookup(ref)
    if entry is not None:
        if family is not None:
            get(ref, family)  # raises for a model of another family
        path = (
            Path(checkpoint)
            if checkpoint is not None
            else fetch(entry.short_name, entry.weights, download=download)
        )
        return entry.family, path, entry.short_name
    path = Path(ref)
    if path.is_file():
        kind = CHECKPOINT_FAMILIES.get(path.suffix.lower(), "dac")
        if family is not None and kind != family:
            raise UsageError(f"{_A_LABEL[kind]} checkpoint, not {_A_LABEL[family]}", ref)
        return kind, path, ref
    return None


def _load(
    model: str | os.PathLike[str],
    located: tuple[Family, Path, str] | None,
    family: Family | None,
    dev: torch.device,
    download: bool,
    fast: bool,
) -> Codec:
    """Load what :func:`_locate` found, or a Hugging Face model; else a ModelError naming what was wrong."""
    ref = os.fspath(model)
    if located is not None:
        kind, path, name = located
        return _loader(kind)(path, name, lookup(ref), dev, fast)
    path = Path(ref)
    if path.suffix.lower() in _MISSING_SUFFIXES:
        raise ModelError("no such checkpoint file", ref)
    if family in (None, "dac"):
        from audiotok.codecs._dac_hf import is_hf_reference

        if is_hf_reference(ref):
            from audiotok.codecs.dac import load_hf

            return load_hf(ref, device=dev, offline=not download or offline(), fast=fast)
    known = ", ".join(n for e in entries(family) for n in e.names)
    raise ModelError(f"not a known model name ({known}), checkpoint file or Hugging Face model", ref)
