"""What a codec hands a sink, without PyTorch: the token layout, the codec's identity and one file's codes.

Every codec plugin (:mod:`audiotok.codecs`) describes its tokens with a
:class:`TokenLayout` inside a :class:`CodecInfo`, and every encode gives one
:class:`Codes` value per file; the token sinks (:mod:`audiotok.sinks`), the
identity manifest written beside their outputs and the decode pipeline read
only these. Nothing here imports torch.

A *stride* is the number of finest frames one code of a codebook spans: 1
for every codebook of DAC, EnCodec and Mimi (rectangular codes ``[T, K]``),
``(4, 2, 1)`` for SNAC 24 kHz, whose coarsest level runs at a quarter of the
finest frame rate. The codec's ``hop_length`` and ``frame_rate`` are those
of the finest frames.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CodecInfo", "Codes", "TokenLayout"]

Array = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class TokenLayout:
    """The codebooks of a codec: vocabulary size and stride of each.

    Attributes
    ----------
    vocab_sizes : tuple of int
        Entries of each codebook (``K = len(vocab_sizes) >= 1``).
    strides : tuple of int
        Finest frames one code of each codebook spans (``>= 1``); default all 1.

    Raises
    ------
    ValueError
        If there is no codebook, a size or stride is below 1, or the two tuples differ in length.
    """

    vocab_sizes: tuple[int, ...]
    strides: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.strides:
            object.__setattr__(self, "strides", (1,) * len(self.vocab_sizes))
        if not self.vocab_sizes or len(self.strides) != len(self.vocab_sizes):
            raise ValueError(f"need one stride per codebook, got {self.vocab_sizes} and {self.strides}")
        if min(self.vocab_sizes) < 1 or min(self.strides) < 1:
            raise ValueError(f"vocabulary sizes and strides must be >= 1: {self.vocab_sizes}, {self.strides}")

    @classmethod
    def uniform(cls, n_codebooks: int, vocab_size: int) -> TokenLayout:
        """``n_codebooks`` codebooks of ``vocab_size`` entries, stride 1 (RVQ codecs)."""
        return cls((vocab_size,) * n_codebooks)

    @property
    def n_codebooks(self) -> int:
        """K, the number of codebooks."""
        return len(self.vocab_sizes)

    @property
    def rectangular(self) -> bool:
        """Whether every codebook has stride 1: the codes of a file are one ``[T, K]`` array."""
        return all(s == 1 for s in self.strides)

    @property
    def grid(self) -> int:
        """Finest frames of one step of every codebook: the least common multiple of the strides."""
        return math.lcm(*self.strides)

    def first(self, k: int) -> TokenLayout:
        """The layout of the first ``k`` codebooks (``1 <= k <= K``).

        Raises
        ------
        ValueError
            If ``k`` is out of range.
        """
        if not 1 <= k <= self.n_codebooks:
            raise ValueError(f"k must be in [1, {self.n_codebooks}], got {k}")
        return TokenLayout(self.vocab_sizes[:k], self.strides[:k])

    def frames(self, finest: int) -> tuple[int, ...]:
        """Codes per codebook for ``finest`` finest frames: ``ceil(finest / stride)`` each."""
        return tuple(-(-finest // s) for s in self.strides)

    @property
    def row_width(self) -> int:
        """Codes in one row, :attr:`grid` finest frames: ``sum(grid // stride)`` (K when rectangular)."""
        return sum(self.grid // s for s in self.strides)

    def to_rows(self, levels: tuple[Array, ...]) -> Array:
        """One array per codebook to rows: ``levels[k] : ndarray[R * grid / stride_k]`` -> ``ndarray[R, W]``.

        Row ``r`` holds row ``r``'s codes codebook by codebook, each in time
        order (SNAC 24 kHz: ``c0[r], c1[2r], c1[2r+1], c2[4r], ..., c2[4r+3]``),
        ``W = row_width``: the NPQ1 storage of codes with strides.

        Raises
        ------
        ValueError
            If there is not one level per codebook or the levels do not fill whole rows alike.
        """
        if len(levels) != self.n_codebooks:
            raise ValueError(f"{len(levels)} levels for {self.n_codebooks} codebooks")
        pairs = list(zip(levels, self.strides, strict=True))
        rows = {len(level) * s // self.grid for level, s in pairs}
        if len(rows) != 1 or any(len(level) * s % self.grid for level, s in pairs):
            lengths = [len(level) for level in levels]
            raise ValueError(f"levels of {lengths} codes are not whole rows of {self.strides}")
        n = rows.pop()
        parts = [np.asarray(level, dtype=np.int64).reshape(n, self.grid // s) for level, s in pairs]
        return np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), np.int64)

    @property
    def row_vocab_sizes(self) -> tuple[int, ...]:
        """The vocabulary of each code of a row (:meth:`to_rows`): codebook k's, ``grid / stride_k`` times."""
        pairs = zip(self.vocab_sizes, self.strides, strict=True)
        return tuple(v for v, s in pairs for _ in range(self.grid // s))

    def columns(self, k: int) -> int:
        """Codes per row of the first ``k`` codebooks (0 for none): ``first(k).row_width``."""
        return self.first(k).row_width if k else 0

    def from_rows(self, rows: Array) -> tuple[Array, ...]:
        """:meth:`to_rows` undone: ``ndarray[R, W]`` -> one ``ndarray[R * grid / stride_k]`` per codebook.

        Raises
        ------
        ValueError
            If ``rows`` is not ``[R, row_width]``.
        """
        if rows.ndim != 2 or rows.shape[1] != self.row_width:
            raise ValueError(f"rows must be [R, {self.row_width}], got {tuple(rows.shape)}")
        edges = np.cumsum([0, *(self.grid // s for s in self.strides)])
        spans = itertools.pairwise(edges)
        return tuple(np.ascontiguousarray(rows[:, a:b], dtype=np.int64).reshape(-1) for a, b in spans)

    def to_json(self) -> dict[str, Any]:
        """As a JSON object: ``{"vocab_sizes": [...], "strides": [...]}``."""
        return {"vocab_sizes": list(self.vocab_sizes), "strides": list(self.strides)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenLayout:
        """From :meth:`to_json`'s object (``KeyError``, ``TypeError`` or ``ValueError`` if it is not one)."""
        return cls(tuple(int(v) for v in data["vocab_sizes"]), tuple(int(s) for s in data["strides"]))


@dataclass(frozen=True)
class CodecInfo:
    """Which codec made a set of tokens, and its numbers: what a token file needs to be decoded.

    Attributes
    ----------
    codec : str
        The registry name (``dac-44khz``), or for a model not in the
        registry the checkpoint path or Hugging Face repo id it was loaded from.
    family : str
        The codec plugin (``dac``, ``encodec``).
    sample_rate : int
        Hz of the audio the encoder takes.
    output_sample_rate : int
        Hz of the audio the decoder gives (the same for every codec so far).
    channels : int
        Audio channels the codec codes jointly: 1, or 2 (EnCodec 48 kHz).
    hop_length : int
        Input samples per finest frame.
    layout : TokenLayout
        Every codebook the model has.
    weights_sha256 : str or None
        Hex sha256 of the weights file; ``None`` when not known (a dry run).
    implementation : str
        The library whose model runs (``descript-audio-codec``, ``encodec``, ``transformers``).
    version : str
        That library's version.
    """

    codec: str
    family: str
    sample_rate: int
    output_sample_rate: int
    channels: int
    hop_length: int
    layout: TokenLayout
    weights_sha256: str | None = None
    implementation: str = ""
    version: str = ""

    @property
    def frame_rate(self) -> float:
        """Finest frames per second (fps): ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    @property
    def n_codebooks(self) -> int:
        """K, the codebooks the model has."""
        return self.layout.n_codebooks

    @property
    def row_hop(self) -> int:
        """Input samples per row of codes (:meth:`TokenLayout.to_rows`): ``hop_length * layout.grid``."""
        return self.hop_length * self.layout.grid

    @property
    def row_rate(self) -> float:
        """Rows per second: the coarsest codebook's rate (``frame_rate`` for rectangular codes)."""
        return self.sample_rate / self.row_hop

    def to_json(self) -> dict[str, Any]:
        """As a JSON object (the identity manifest's ``info``), with ``frame_rate`` for readers."""
        return {
            "codec": self.codec,
            "family": self.family,
            "sample_rate": self.sample_rate,
            "output_sample_rate": self.output_sample_rate,
            "channels": self.channels,
            "hop_length": self.hop_length,
            "frame_rate": self.frame_rate,
            "layout": self.layout.to_json(),
            "weights_sha256": self.weights_sha256,
            "implementation": self.implementation,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CodecInfo:
        """From :meth:`to_json`'s object, ``frame_rate`` recomputed, not read.

        ``KeyError``, ``TypeError`` or ``ValueError`` if ``data`` is not such an object.
        """
        sha = data.get("weights_sha256")
        return cls(
            codec=str(data["codec"]),
            family=str(data["family"]),
            sample_rate=int(data["sample_rate"]),
            output_sample_rate=int(data["output_sample_rate"]),
            channels=int(data["channels"]),
            hop_length=int(data["hop_length"]),
            layout=TokenLayout.from_json(data["layout"]),
            weights_sha256=None if sha is None else str(sha),
            implementation=str(data.get("implementation", "")),
            version=str(data.get("version", "")),
        )


@dataclass(frozen=True)
class Codes:
    """The codes of one file, as a codec gives them to a sink.

    Attributes
    ----------
    data : ndarray[T, K] int64, or tuple of ndarray[T_k] int64
        Rectangular codes, frames by codebooks (columns grouped by
        :attr:`groups`); or, for a layout with strides, one array per
        codebook, ``T_k = ceil(T / stride_k)``.
    groups : tuple of int
        Codebooks per coded channel, in column order: ``(9, 4)`` for DAC's
        Mid and Side, ``(8,)`` for one channel. Default: one group of every codebook.
    extras : mapping of str to float
        Per-file values a decoder needs besides the codes: ``{"scale": s}``
        for EnCodec 48 kHz (the input was divided by ``s``).
    """

    data: Array | tuple[Array, ...]
    groups: tuple[int, ...] = ()
    extras: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.groups:
            object.__setattr__(self, "groups", (self.n_codebooks,))

    @property
    def ragged(self) -> bool:
        """Whether the codes are one array per codebook (a layout with strides)."""
        return isinstance(self.data, tuple)

    @property
    def n_codebooks(self) -> int:
        """K, codebooks of every group together."""
        return len(self.data) if isinstance(self.data, tuple) else int(self.data.shape[1])

    @property
    def n_frames(self) -> int:
        """T, finest frames (the longest level of ragged codes)."""
        if isinstance(self.data, tuple):
            return max((len(level) for level in self.data), default=0)
        return int(self.data.shape[0])

    @classmethod
    def from_rows(
        cls,
        rows: Array,
        layout: TokenLayout,
        groups: tuple[int, ...],
        extras: Mapping[str, float] | None = None,
    ) -> Codes:
        """A file's codes from ``rows : ndarray[R, sum(layout.columns(k) for k in groups)]``.

        Rectangular layouts keep the array; a layout with strides gives one
        array per codebook, group after group (:meth:`TokenLayout.from_rows`).
        """
        extras = dict(extras or {})
        if layout.rectangular:
            return cls(rows, groups, extras)
        levels: list[Array] = []
        start = 0
        for k in groups:
            width = layout.columns(k)
            if k:
                levels += layout.first(k).from_rows(rows[:, start : start + width])
            start += width
        return cls(tuple(levels), groups, extras)

    def rows(self, layout: TokenLayout) -> Array:
        """The codes as rows ``ndarray[R, W]``: :attr:`array`, or ragged codes group by group through
        :meth:`TokenLayout.to_rows` (``ValueError`` if the levels do not fit ``layout``)."""
        if not isinstance(self.data, tuple):
            return self.data
        blocks, start = [], 0
        for k in self.groups:
            if k:
                blocks.append(layout.first(k).to_rows(self.data[start : start + k]))
            start += k
        return np.concatenate(blocks, axis=1)

    @property
    def array(self) -> Array:
        """The rectangular codes ``ndarray[T, K]``.

        Raises
        ------
        TypeError
            If the codes are ragged (one array per codebook).
        """
        if isinstance(self.data, tuple):
            raise TypeError("ragged codes (one array per codebook) are not one [T, K] array")
        return self.data
