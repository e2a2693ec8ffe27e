"""What an encode is asked to do: the codec to load, the options, and how a file's channels are coded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from audiotok.audio import AudioInfo, ChannelMode
from audiotok.codecs.plugin import EncodeDefaults
from audiotok.errors import InputError, UsageError
from audiotok.formats._base import FrozenModel
from audiotok.records import BatchSummary

__all__ = [
    "BatchSize",
    "ChannelPlan",
    "ChunkSeconds",
    "Codebooks",
    "CodecChoice",
    "EncodeOptions",
    "EncodeRunSummary",
    "EncodeSummary",
    "Overwrite",
    "Settings",
    "SideCodebooks",
    "settle",
]

Stereo = Literal["mid-side", "downmix"]

# Options ``audiotok encode`` shares with its presets (``npq encode``), constrained and described once.
Codebooks = Annotated[int, Field(ge=1)]
"""A codebook count (K) of a coded channel."""
SideCodebooks = Annotated[int, Field(ge=0)]
"""Side's codebook count under Mid/Side (0: Mid only)."""
ChunkSeconds = Annotated[
    float,
    Field(
        gt=0,
        description="Audio per encoder chunk, seconds. Bounds peak memory; the codes of a codec with exact "
        "chunking are the same for any value.",
    ),
]
BatchSize = Annotated[
    int | None,
    Field(
        ge=1,
        description="Windows per encoder call, batched across files (only windows of exactly equal length "
        "share a call). None: 1 for eager PyTorch on the CPU, 8 on a backend compiled per window length "
        "(OpenVINO: one length's windows run back to back), on CUDA what fits in free GPU memory "
        "(codecs.sizing.auto_batch_size).",
    ),
]
Overwrite = Annotated[bool, Field(description="Encode again outputs that already exist.")]


class EncodeOptions(FrozenModel):
    """How to encode (the options of ``audiotok encode``; ``None``: the codec family's default)."""

    codebooks: Codebooks | None = Field(
        default=None, description="K for one coded channel (mono, downmix, Mid)."
    )
    mid_codebooks: Codebooks | None = Field(
        default=None, description="K for Mid under Mid/Side; None: as `codebooks`."
    )
    side_codebooks: SideCodebooks | None = Field(
        default=None, description="K for Side under Mid/Side (0: Mid only)."
    )
    stereo: Stereo | None = Field(
        default=None,
        description="What a mono codec does with stereo input: mid-side (Mid and Side coded, each with "
        "its own codebooks; NPQ2) or downmix (the mean of the channels).",
    )
    chunk_seconds: ChunkSeconds | None = Field(
        default=None, description="Audio per encoder chunk, seconds; bounds peak memory (ChunkSeconds)."
    )
    context_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Context each side of a chunk, seconds, for codecs whose context can be set (EnCodec). "
        "None: the codec's own (its receptive field; EnCodec 1 s).",
    )
    batch_size: BatchSize = None
    overwrite: Overwrite = False


class EncodeSummary(BatchSummary):
    """The whole run: counts, audio seconds, speed and provenance."""

    files_mono: int = Field(
        default=0,
        description="Of the files written, planned or skipped: mono inputs written as one coded channel "
        "in the Mid/Side mode (expected, not a problem; downmix codes every file as one channel).",
    )
    files_cut: int = Field(
        default=0,
        description="Of the files written: those longer than the longest window of a codec with a global "
        "receptive field, cut into segments encoded separately at quiet points (their records give the "
        "segments; their codes differ from a whole-file encode).",
    )

    @property
    def audio_hours(self) -> float:
        """:attr:`audio_seconds` in hours."""
        return self.audio_seconds / 3600


class EncodeRunSummary(EncodeSummary):
    """:class:`EncodeSummary` of ``audiotok encode``, with the codec and sink it ran."""

    codec: str | None = Field(default=None, description="The codec's registry name (or checkpoint, repo id).")
    sink: str = Field(default="", description="Where the codes went (--to).")
    exact_chunking: bool | None = Field(
        default=None,
        description="Whether the codes equal the codec's whole-file encode (False: only nearly, where a "
        "file came in chunks and the codec's chunking is not exact, e.g. EnCodec's LSTM, or a file of a "
        "codec with a global receptive field was cut); None when no model was loaded.",
    )


@dataclass(frozen=True)
class CodecChoice:
    """Which codec a run loads (plain values: Ray sends it to its actors).

    Attributes
    ----------
    model : str
        A registry name, a checkpoint file or a reference a plugin claims (a Hugging Face repo id).
    checkpoint : str, optional
        With a name: read the weights from this file instead of the cache.
    family : str, optional
        Refuse models of another family (the ``npq`` and ``esf`` presets).
    backend : str
        What runs the encoder (:mod:`audiotok.codecs.backends`).
    """

    model: str
    checkpoint: str | None = None
    family: str | None = None
    backend: str = "auto"


@dataclass(frozen=True)
class ChannelPlan:
    """How every file's channels are coded, for a codec of ``channels`` channels.

    Attributes
    ----------
    channels : int
        The codec's audio channels: 2 codes stereo itself (a mono file is duplicated).
    stereo : {"mid-side", "downmix"}
        For a mono codec: stereo files as Mid and Side, or mixed to one channel (any channel count).
    codebooks, mid_codebooks, side_codebooks : int
        K of one coded channel, of Mid and of Side.
    """

    channels: int
    stereo: Stereo
    codebooks: int
    mid_codebooks: int
    side_codebooks: int

    @property
    def widest(self) -> tuple[int, ...]:
        """The groups of the widest file: ``(k_mid, k_side)`` under Mid/Side, else ``(k,)``."""
        mid_side = self.channels == 1 and self.stereo == "mid-side"
        return (self.mid_codebooks, self.side_codebooks) if mid_side else (self.codebooks,)

    @property
    def most(self) -> int:
        """The most codebooks any coded channel gets."""
        return (
            max(self.codebooks, self.mid_codebooks, self.side_codebooks)
            if self.stereo == "mid-side"
            else (self.codebooks)
        )

    def layout(self, info: AudioInfo, path: Path) -> tuple[ChannelMode, tuple[int, ...]]:
        """The channel mode and the codebooks per coded channel of a file.

        Raises
        ------
        InputError
            If the file has channels the plan cannot code (more than 2, unless mixed down).
        """
        if self.channels == 2:
            if info.channels > 2:
                raise InputError(f"the codec takes 1 or 2 channels, file has {info.channels}", path)
            return "stereo", (self.codebooks,)
        if self.stereo == "downmix" or info.channels == 1:
            return "mono", (self.codebooks,)
        if info.channels == 2:
            return "mid-side", (self.mid_codebooks, self.side_codebooks)
        raise InputError(
            f"{info.channels} channels; only mono and stereo are encoded (use `mono` to mix)",
            path,
            param="mono",
        )


@dataclass(frozen=True)
class Settings:
    """The options with every default settled for one codec."""

    plan: ChannelPlan
    chunk_seconds: float
    context_seconds: float | None
    batch_size: int | None
    overwrite: bool


def settle(opts: EncodeOptions, defaults: EncodeDefaults, *, n_codebooks: int, channels: int) -> Settings:
    """``opts`` with the family's ``defaults`` filled in, checked against the model's codebooks.

    Raises
    ------
    UsageError
        If a codebook count exceeds the model's.
    """
    k = opts.codebooks if opts.codebooks is not None else min(defaults.codebooks or n_codebooks, n_codebooks)
    mid = k if opts.mid_codebooks is None else opts.mid_codebooks
    side = opts.side_codebooks if opts.side_codebooks is not None else defaults.side_codebooks
    side = mid if side is None else min(side, n_codebooks)
    for name, value in (("codebooks", k), ("mid_codebooks", mid)):
        if value > n_codebooks:
            raise UsageError(f"`{name}` {value} is more than the model's {n_codebooks} codebooks", param=name)
    if side > n_codebooks:
        raise UsageError(
            f"`side_codebooks` {side} is more than the model's {n_codebooks}", param="side_codebooks"
        )
    plan = ChannelPlan(channels, opts.stereo or defaults.stereo, k, mid, side)
    chunk = opts.chunk_seconds if opts.chunk_seconds is not None else defaults.chunk_seconds
    return Settings(plan, chunk, opts.context_seconds, opts.batch_size, opts.overwrite)
