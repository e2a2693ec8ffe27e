"""Codec plugins: the registration of codec families (:func:`register_codec`), their published models
(:class:`CodecEntry`), defaults and loading (:class:`CodecPlugin`).

A codec family (DAC, EnCodec, ...) is one package under ``audiotok/codecs/``
whose ``__init__`` (torch-free) defines a :class:`CodecPlugin` subclass
decorated with ``@register_codec("name")``: its published models
(:class:`CodecEntry`, facts known without loading), its defaults for the
encode pipeline and how its models load into a
:class:`~audiotok.codecs.codec.Codec` (re-exported here with
:class:`~audiotok.codecs.codec.Capabilities`, :class:`~audiotok.codecs.codec.Context`
and the type aliases, so one import serves codec authors).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from audiotok._registry import Registry
from audiotok._types import FramesPerSecond, Hz, Seconds
from audiotok.codecs.codec import Array, Capabilities, Codec, CodecBase, Context, Network, Part, StereoMode
from audiotok.codecs.weights import HubWeights, Weights
from audiotok.tokens import CodecInfo, TokenLayout

__all__ = [
    "BUILTIN_CODECS",
    "Array",
    "CachedLoad",
    "Capabilities",
    "Codec",
    "CodecBase",
    "CodecEntry",
    "CodecPlugin",
    "Context",
    "EncodeDefaults",
    "Located",
    "Network",
    "Part",
    "StereoMode",
    "plugins",
    "register_codec",
]


BUILTIN_CODECS: tuple[str, ...] = (
    "audiotok.codecs.dac",
    "audiotok.codecs.encodec",
    "audiotok.codecs.mimi",  # needs the codecs extra (transformers) only when a Mimi model loads
    "audiotok.codecs.snac",  # needs the codecs extra (snac) only when a SNAC model loads
    "audiotok.codecs.hf_audio",  # XCodec2, NeuCodec, X-Codec, Higgs: the same, through transformers
)
"""The packages of the codec families audiotok ships, imported (registering them) on first use."""


@dataclass(frozen=True)
class CodecEntry:
    """A published model: its facts (known without loading it) and where its weights are.

    Attributes
    ----------
    name : str
        Canonical name (``dac-44khz``).
    short_name : str
        The earlier name, an alias (``44khz``); written into records and files.
    family : str
        The plugin that loads it.
    sample_rate : int
        Hz.
    channels : int
        Audio channels per batch item.
    hop_length : int
        Samples per frame.
    n_codebooks : int
        Codebooks of the model.
    codebook_size : int
        Entries per codebook.
    weights : Weights or HubWeights
        A file in a codec package's own cache (download URL), or files of a Hugging Face Hub repo.
    normalizes : bool
        The model expects its input divided by one scale per file (EnCodec 48 kHz).
    licence : str
        The weights' licence (SPDX id where there is one), for ``models list``.
    strides : tuple of int
        Finest frames per code of each codebook (SNAC 24 kHz ``(4, 2, 1)``;
        ``hop_length`` is then the finest hop); default all 1.
    output_sample_rate : int, optional
        Hz of the decoded audio when it differs from ``sample_rate`` (NeuCodec: 24000).
    """

    name: str
    short_name: str
    family: str
    sample_rate: Hz
    channels: int
    hop_length: int
    n_codebooks: int
    codebook_size: int
    weights: Weights | HubWeights
    normalizes: bool = False
    licence: str = ""
    strides: tuple[int, ...] = ()
    output_sample_rate: Hz | None = None

    @property
    def frame_rate(self) -> FramesPerSecond:
        """Frames per second, ``sample_rate / hop_length`` (86.1328125 at 44.1 kHz)."""
        return self.sample_rate / self.hop_length

    @property
    def names(self) -> tuple[str, str]:
        """Every name this entry answers to: canonical, then the alias."""
        return (self.name, self.short_name)

    @property
    def layout(self) -> TokenLayout:
        """Its codebooks."""
        return TokenLayout((self.codebook_size,) * self.n_codebooks, self.strides)

    def info(self, weights_sha256: str | None = None) -> CodecInfo:
        """Its :class:`~audiotok.tokens.CodecInfo` as known without loading it."""
        return CodecInfo(
            codec=self.name, family=self.family, sample_rate=self.sample_rate,
            output_sample_rate=self.output_sample_rate or self.sample_rate, channels=self.channels,
            hop_length=self.hop_length,
            layout=self.layout, weights_sha256=weights_sha256,
        )  # fmt: skip


@dataclass(frozen=True)
class Located:
    """A model found but not loaded.

    Attributes
    ----------
    plugin : CodecPlugin
        Its family's plugin.
    path : Path
        The weights file: a checkpoint, or the weights of a Hugging Face model folder.
    name : str
        The codec's :attr:`Codec.name`: the entry's short name, or the path or repo id as given.
    entry : CodecEntry or None
        The registry entry of a named model.
    source : {"checkpoint", "hf"}
        A checkpoint file, or a Hugging Face model folder (``config.json`` beside ``path``).
    """

    plugin: CodecPlugin
    path: Path
    name: str
    entry: CodecEntry | None = None
    source: Literal["checkpoint", "hf"] = "checkpoint"


@dataclass(frozen=True)
class CachedLoad:
    """What a codec built from its backend cache alone is asked for (:meth:`CodecPlugin.load_cached`).

    Attributes
    ----------
    device : torch.device or str
        The device asked for.
    backend : str
        The backend asked for (``auto``, ``openvino``, ``compile``).
    parts : tuple of {"encoder", "decoder"}
        The networks the caller will run.
    codebooks : int or None
        The codebooks the caller will encode (``None``: the family's default).
    eager : callable
        Loads the PyTorch model (what a cached codec may fall back on).
    """

    device: Any
    backend: str
    parts: tuple[Part, ...]
    codebooks: int | None
    eager: Callable[[], Codec]

    def on_openvino(self, caps: Capabilities) -> bool:
        """Whether the backend asked for is OpenVINO on this device for a codec of ``caps``."""
        from audiotok.codecs.backends import resolve

        return resolve(self.backend, self.device, caps.auto_backends) == "openvino"


@dataclass(frozen=True)
class EncodeDefaults:
    """What ``audiotok encode`` does with a family's models when the user does not say.

    Attributes
    ----------
    codebooks : int or None
        K for mono (and Mid); ``None``: every codebook of the model.
    side_codebooks : int or None
        K for Side under Mid/Side; ``None``: as ``codebooks``.
    stereo : {"mid-side", "downmix"}
        What a mono codec does with stereo input.
    chunk_seconds : float
        Audio per encoder chunk; never changes the codes of a codec with exact chunking.
    sink : str
        The token container ``--to`` defaults to.
    """

    codebooks: int | None = None
    side_codebooks: int | None = None
    stereo: StereoMode = "downmix"
    chunk_seconds: Seconds = 10.0
    sink: str = "npq"


class CodecPlugin:
    """A codec family: its published models, defaults and loading. Subclass and :func:`register_codec` it.

    Must (a subclass):

    - set :attr:`entries` (every published model, facts known without loading)
      and :attr:`label`;
    - set :attr:`model_module` (or override :meth:`load`): its ``load``
      function turns a checkpoint (or model folder) into a :class:`Codec`
      subclass that declares ``caps`` and implements ``encode``, ``decode``,
      ``encoder_context_frames`` and ``network``.

    May: claim checkpoint suffixes (:attr:`checkpoint_suffixes`) or other
    references (:meth:`claims`, :meth:`locate_reference`, e.g. Hugging Face
    repo ids); build a codec from its backend cache without PyTorch
    (:meth:`load_cached`); set :attr:`defaults`.

    Don't: import torch at module level in the package's ``__init__`` (the
    registry is read by torch-free commands); read or write files other than
    weights.
    """

    family: ClassVar[str] = ""
    label: ClassVar[str] = "a model"
    entries: ClassVar[tuple[CodecEntry, ...]] = ()
    checkpoint_suffixes: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[EncodeDefaults] = EncodeDefaults()
    #: The module (imported on first load: it imports torch) whose ``load(located, device, fast)``
    #: builds the PyTorch codec (``audiotok.codecs.dac.model``).
    model_module: ClassVar[str] = ""

    def load(self, located: Located, device: Any, fast: bool) -> Codec:
        """Load ``located`` eagerly (PyTorch) on ``device``: :attr:`model_module`'s ``load``.

        Raises
        ------
        ModelError
            If the weights are unreadable or do not fit the architecture.
        """
        if not self.model_module:
            raise NotImplementedError(f"{type(self).__name__} sets no model_module")
        codec: Codec = importlib.import_module(self.model_module).load(located, device, fast)
        return codec

    def load_cached(self, located: Located, request: CachedLoad) -> Codec | None:
        """A codec built from its backend cache entries alone (no PyTorch), or ``None`` (default)."""
        return None

    def claims(self, ref: str) -> bool:
        """Whether ``ref`` (neither a name nor an existing checkpoint file) is a model of this family."""
        return False

    def locate_reference(self, ref: str, download: bool) -> Located:
        """The model ``ref`` names (:meth:`claims` said yes), its files fetched.

        Raises
        ------
        ModelError
            If it cannot be found.
        """
        raise NotImplementedError


P = TypeVar("P", bound=type[CodecPlugin])


_PLUGINS: Registry[CodecPlugin] = Registry("codec family", BUILTIN_CODECS, "audiotok.codecs")


def register_codec(family: str) -> Callable[[P], P]:
    """Class decorator: register a :class:`CodecPlugin` subclass as codec family ``family`` (``ValueError``
    if another has that name)."""
    return lambda cls: _PLUGINS.add(family, cls, cls(), "family")


def plugins() -> dict[str, CodecPlugin]:
    """Every registered codec family by name: the built-in ones, and those of the ``audiotok.codecs``
    entry point group (third-party packages)."""
    return _PLUGINS.all()
