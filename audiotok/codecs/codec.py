"""The :class:`Codec` base class every codec derives from (its :class:`Capabilities`: :mod:`.caps`).

A loaded model is a :class:`Codec`: tensors (or NumPy arrays) in and out, no
file I/O, and every fact the engine needs declared as an attribute or in
:attr:`Codec.caps`; the chunk planner, batch encoder, backends, engines and
sinks read only those (never ``getattr`` on a codec). Codec families
register through :mod:`audiotok.codecs.plugin`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import numpy as np

from audiotok._types import FramesPerSecond, Hz, Seconds
from audiotok.codecs.caps import Capabilities, Part
from audiotok.errors import UsageError
from audiotok.tokens import CodecInfo, TokenLayout

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Array", "Capabilities", "Codec", "CodecBase", "Context", "Network", "Part", "StereoMode"]

Network = Callable[["Tensor"], "Tensor"]
"""A network as a function, ``Tensor[B, C_in, N] -> Tensor[B, C_out, M]`` (an OpenVINO network also
maps NumPy arrays to arrays, see :class:`~audiotok.codecs.backends.OpenVinoNetwork`)."""
StereoMode = Literal["mid-side", "downmix"]
"""What a mono codec does with stereo input: Mid and Side coded separately, or the channels averaged."""
Array = np.ndarray[Any, Any]


class Context(NamedTuple):
    """Frames of context a chunk is run with, on each side.

    Attributes
    ----------
    before : int
        Frames of real signal before the chunk (``>= 0``).
    after : int
        Frames after it (``>= 0``; 0 for a causal network).
    """

    before: int
    after: int


class Codec:
    """A loaded neural audio codec in inference mode (the base of every codec class).

    Attributes
    ----------
    family : str
        Its plugin (``dac``, ``encodec``).
    name : str
        The model's name in records and files: the registry's short name
        (``44khz``, ``encodec_24khz``), or the checkpoint path or repo id it was loaded from.
    codec_id : str
        The registry's canonical name (``dac-44khz``), else as :attr:`name`; set by the registry.
    sample_rate : int
        Hz of the audio :meth:`encode` takes (and :meth:`decode` returns, unless
        :attr:`output_sample_rate` differs).
    channels : int
        Audio channels per batch item: 1, or 2 for a stereo codec (EnCodec 48 kHz).
    hop_length : int
        Samples per frame of the codes :meth:`encode` returns: for a layout
        with strides (SNAC), per row, the finest hop times ``layout.grid``
        (:meth:`~audiotok.tokens.TokenLayout.to_rows`).
    frame_grid : int
        Chunk boundaries fall on multiples of this many frames (SNAC 32 kHz:
        4, its attention windows); 1 for most codecs.
    n_codebooks : int
        Codebooks the model has (the largest ``K``).
    codebook_size : int
        Entries per codebook.
    device : torch.device or str
        Where it runs (``"cpu"`` for a codec on OpenVINO).
    weights_path : Path or None
        The weights file read.
    weights_sha256 : str
        Hex sha256 of the weights file, for provenance.
    caps : Capabilities
    implementation, version : str
        The library that runs the model, and its version (for :attr:`info`).
    """

    family: ClassVar[str] = ""
    caps: Capabilities = Capabilities()
    #: Frames of context each side of a decoded chunk.
    DECODE_CONTEXT_FRAMES: int = 0
    name: str = ""
    codec_id: str = ""
    sample_rate: Hz
    channels: int = 1
    hop_length: int
    frame_grid: int = 1
    n_codebooks: int
    codebook_size: int
    device: Any = "cpu"
    weights_path: Path | None = None
    weights_sha256: str = ""
    implementation: str = ""
    version: str = ""

    # -- facts ------------------------------------------------------------------------------------------

    @property
    def layout(self) -> TokenLayout:
        """Every codebook of the model (:class:`~audiotok.tokens.TokenLayout`)."""
        return TokenLayout.uniform(self.n_codebooks, self.codebook_size)

    @property
    def output_sample_rate(self) -> Hz:
        """Hz of the audio :meth:`decode` returns: :attr:`sample_rate`, unless the decoder
        synthesises at another rate (NeuCodec: 16 kHz in, 24 kHz out)."""
        return self.sample_rate

    @property
    def output_hop_length(self) -> int:
        """Decoded samples per frame, at :attr:`output_sample_rate`."""
        return self.hop_length * self.output_sample_rate // self.sample_rate

    @property
    def frame_rate(self) -> FramesPerSecond:
        """Frames (rows) per second (fps), ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    def columns(self, k: int) -> int:
        """Codes per frame of the first ``k`` codebooks: ``k``, or a row's width for a layout with strides."""
        return self.layout.columns(k)

    @property
    def info(self) -> CodecInfo:
        """The codec's identity and numbers (:class:`~audiotok.tokens.CodecInfo`), for manifests."""
        return CodecInfo(
            codec=self.codec_id or self.name, family=self.family, sample_rate=self.sample_rate,
            output_sample_rate=self.output_sample_rate, channels=self.channels,
            hop_length=self.hop_length // self.layout.grid, layout=self.layout,
            weights_sha256=self.weights_sha256 or None,
            implementation=self.implementation, version=self.version or _dist_version(self.implementation),
        )  # fmt: skip

    @property
    def encoder_context_frames(self) -> Context:
        """Frames of context before and after an encoded chunk that chunked coding needs."""
        raise NotImplementedError

    @property
    def decoder_context_frames(self) -> Context:
        """:attr:`DECODE_CONTEXT_FRAMES` on both sides."""
        return Context(self.DECODE_CONTEXT_FRAMES, self.DECODE_CONTEXT_FRAMES)

    def encoder_context(self, seconds: Seconds | None = None) -> Context:
        """The encoder context: :attr:`encoder_context_frames`, or ``seconds`` of audio each side.

        ``seconds`` only for a codec with ``caps.context_seconds``.

        Raises
        ------
        UsageError
            If ``seconds`` is given for a codec whose context is its receptive field.
        """
        if seconds is None:
            return self.encoder_context_frames
        if not self.caps.context_seconds:
            raise UsageError(
                f"{self.name}'s encoder context is its receptive field; it cannot be set",
                param="context_seconds",
            )
        frames = round(seconds * self.frame_rate)
        return Context(frames, frames)

    def select_codebooks(self, k: int) -> None:
        """Prepare to encode ``k`` codebooks (EnCodec: the bandwidth, which keys its backend entry).

        Raises
        ------
        UsageError
            If ``k`` is not a count the model offers.
        """
        if not 1 <= k <= self.n_codebooks:
            raise UsageError(f"{k} codebooks asked for but {self.name} has {self.n_codebooks}")

    # -- coding -----------------------------------------------------------------------------------------

    def encode(self, audio: Tensor, n_codebooks: int) -> Tensor:
        """Encode audio to codes.

        Parameters
        ----------
        audio : Tensor[B, C, S]
            float32 at :attr:`sample_rate`, ``C = channels``. ``S`` need not be
            a multiple of :attr:`hop_length`; each codec pads the last frame its own way.
        n_codebooks : int
            K, the first K codebooks, ``1 <= K <= n_codebooks``.

        Returns
        -------
        codes : LongTensor[B, K, T]
            ``T = ceil(S / hop_length)``.

        Raises
        ------
        ValueError
            If ``n_codebooks`` is out of range or ``audio`` has the wrong shape.
        """
        raise NotImplementedError

    def decode(self, codes: Tensor) -> Tensor:
        """Decode codes to audio.

        Parameters
        ----------
        codes : LongTensor[B, K, T]
            ``1 <= K <= n_codebooks``.

        Returns
        -------
        audio : Tensor[B, C, T * output_hop_length]
            float32 at :attr:`output_sample_rate`, ``C = channels``.

        Raises
        ------
        ValueError
            If ``codes`` has the wrong shape.
        """
        raise NotImplementedError

    def encode_array(self, audio: Array, n_codebooks: int) -> Array:
        """:meth:`encode` on arrays: ``audio : ndarray[B, C, S]`` float32 -> ``ndarray[B, K, T]`` int64.

        Default: the array goes to :attr:`device` (pinned, non-blocking) and
        through :meth:`encode`; a codec with ``caps.arrays`` runs it without PyTorch.
        """
        from audiotok.device import to_device

        codes = self.encode(to_device(audio, self.device), n_codebooks)
        return np.asarray(codes.cpu().numpy())

    def decode_array(self, codes: Array) -> Array:
        """:meth:`decode` on arrays: ``codes : ndarray[B, K, T]`` -> ``audio : ndarray[B, C, T * out_hop]``
        (``out_hop``: :attr:`output_hop_length`)."""
        import torch

        return np.asarray(self.decode(torch.from_numpy(np.asarray(codes))).cpu().numpy())

    # -- backends (audiotok.codecs.backends) ------------------------------------------------------------

    @property
    def backends(self) -> dict[str, str]:
        """Which backend runs each network (``{"encoder": "openvino"}``); eager when absent."""
        return {part: name for part, (_, name) in self.__dict__.get("_runners", {}).items()}

    def backend_of(self, part: Part) -> str:
        """The backend running ``part`` (``eager`` unless one was set)."""
        return self.backends.get(part, "eager")

    def network(self, part: Part) -> Network:
        """The eager PyTorch module of ``part``, ready for inference (speed-ups applied)."""
        raise NotImplementedError

    def export_module(self, part: Part) -> Network:
        """What a backend converts or compiles for ``part`` (default: :meth:`network`; DAC's encoder
        adds its RVQ, so that a backend maps audio straight to codes)."""
        return self.network(part)

    def export_example(self, part: Part, audio: Tensor) -> Tensor:
        """An input of :meth:`export_module` ``(part)`` made from ``audio : Tensor[1, channels, S]``.

        Default: the audio for the encoder, the encoder's latents for the decoder.
        """
        if part == "encoder":
            return audio
        return self.network("encoder")(audio)

    def export_tag(self, part: Part) -> str:
        """What besides the weights keys a backend entry of ``part`` (EnCodec: ``q8``); default none."""
        return ""

    def export_tolerance(self, part: Part) -> float | None:
        """The gate's bound on ``|backend - eager| / max|eager|`` of the export module's output on the
        probe, for an encoder export that stops before the quantizer (Mimi's SEANet); ``None`` (the
        default): the gate compares the codes token for token instead."""
        return None

    @property
    def export_codebooks(self) -> int:
        """Codebooks the exported encoder gives (the gate compares that many); default all."""
        return self.n_codebooks

    def shape_json(self) -> dict[str, Any] | None:
        """The numbers a codec built from its backend cache alone needs (stored in ``gate.json``), if any."""
        return None

    def run(self, part: Part, x: Tensor) -> Tensor:
        """Run ``part`` on ``x`` through its backend (see :mod:`audiotok.codecs.backends`), else eagerly."""
        entry = self.__dict__.get("_runners", {}).get(part)
        return entry[0](x) if entry is not None else self.network(part)(x)

    def runner(self, part: Part) -> Network | None:
        """The backend network running ``part``, or ``None`` when it runs eagerly."""
        entry = self.__dict__.get("_runners", {}).get(part)
        return None if entry is None else entry[0]

    def fixed_shapes(self, part: Part) -> bool:
        """Whether ``part`` runs fastest on a few repeated input lengths (a backend compiled per shape):
        then the chunk planners cut windows of one length (:func:`~audiotok.codecs.chunking.plan_chunks`)."""
        from audiotok.codecs.backends import OpenVinoNetwork

        runner = self.runner(part)
        return isinstance(runner, OpenVinoNetwork) and runner.fixed_shapes

    def expect_windows(self, part: Part, frames: Iterable[int]) -> None:
        """Tell ``part``'s backend that windows of these lengths (frames) will run many times.

        A backend compiled per shape (:meth:`fixed_shapes`) compiles a model
        for each; otherwise nothing happens. Encoder windows are audio
        ``[channels, f * hop_length]``, decoder windows codes ``[n_codebooks, f]``.
        """
        from audiotok.codecs.backends import OpenVinoNetwork

        runner = self.runner(part)
        if isinstance(runner, OpenVinoNetwork):
            if part == "encoder":
                runner.expect([(self.channels, f * self.hop_length) for f in frames])
            else:
                runner.expect([(self.n_codebooks, f) for f in frames])

    def set_runner(self, part: Part, runner: Network | None, backend: str = "eager") -> None:
        """Run ``part`` with ``runner`` from now on (``None``: eager again); ``backend`` names it."""
        runners: dict[str, tuple[Network, str]] = self.__dict__.setdefault("_runners", {})
        if runner is None:
            runners.pop(part, None)
        else:
            runners[part] = (runner, backend)

    # -- argument checks --------------------------------------------------------------------------------

    def check_audio(self, audio: Tensor | Array, n_codebooks: int) -> None:
        """Check :meth:`encode`'s arguments.

        Raises
        ------
        ValueError
            If ``n_codebooks`` is out of range or ``audio`` is not ``[B, channels, S]``.
        """
        if not 1 <= n_codebooks <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in [1, {self.n_codebooks}], got {n_codebooks}")
        if audio.ndim != 3 or audio.shape[1] != self.channels:
            raise ValueError(f"audio must be [B, {self.channels}, S], got {tuple(audio.shape)}")

    def check_codes(self, codes: Tensor | Array) -> None:
        """Check :meth:`decode`'s argument.

        Raises
        ------
        ValueError
            If ``codes`` is not ``[B, K, T]`` with ``1 <= K <= n_codebooks``.
        """
        if codes.ndim != 3 or not 1 <= codes.shape[1] <= self.n_codebooks:
            raise ValueError(f"codes must be [B, K<={self.n_codebooks}, T], got {tuple(codes.shape)}")


CodecBase = Codec  # the earlier name


def _dist_version(distribution: str) -> str:
    """The installed version of ``distribution`` (``""`` when unknown), read without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution) if distribution else ""
    except PackageNotFoundError:
        return ""
