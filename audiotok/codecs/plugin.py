"""The ``Codec`` protocol: a neural audio codec as the engine sees it.

Tensors in, tensors out (NumPy arrays also for a codec that runs on cached
OpenVINO models, :mod:`audiotok.codecs.dac_cached`); no file I/O. Every codec module in this package
(``dac.py``, ``encodec.py``) provides a class that satisfies :class:`Codec`,
and :mod:`audiotok.codecs.registry` maps names and checkpoint paths to the
functions that load them. Chunking (:mod:`audiotok.codecs.chunking`) and the
chunked stream encoder and decoder (:mod:`audiotok.codecs.stream`) use only
what this protocol declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np

from audiotok._types import FramesPerSecond, Hz

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Codec", "CodecBase", "Context", "Network", "Part"]

Part = Literal["encoder", "decoder"]
"""A codec's networks that a backend can run: the encoder (audio -> latents) and the decoder."""
Network = Callable[["Tensor"], "Tensor"]
"""A network as a function, ``Tensor[B, C_in, N] -> Tensor[B, C_out, M]`` (an OpenVINO network also
maps NumPy arrays to arrays, see :class:`~audiotok.codecs.backends.OpenVinoNetwork`)."""


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


@runtime_checkable
class Codec(Protocol):
    """A loaded neural audio codec in inference mode.

    Attributes
    ----------
    name : str
        The model's name in records and files: the registry's short name
        (``44khz``, ``encodec_24khz``), or for a DAC model loaded from a
        checkpoint file or the Hugging Face Hub, that path or repo id.
    sample_rate : int
        Hz of the audio :meth:`encode` takes and :meth:`decode` returns.
    channels : int
        Audio channels per batch item: 1, or 2 for a stereo codec (EnCodec 48 kHz).
    hop_length : int
        Samples per frame.
    n_codebooks : int
        RVQ codebooks the model has (the largest ``K``).
    codebook_size : int
        Entries per codebook (the vocabulary of every codebook).
    encoder_context_frames : Context
        Frames of context a chunk is encoded with, before and after it, so
        that chunked codes match a whole-file encode (see
        :mod:`audiotok.codecs.chunking`).
    decoder_context_frames : Context
        The same for decoding codes to audio chunk by chunk.
    weights_sha256 : str
        Hex sha256 of the weights file read, for provenance.
    """

    name: str
    sample_rate: Hz
    channels: int
    hop_length: int
    n_codebooks: int
    codebook_size: int
    weights_sha256: str

    @property
    def frame_rate(self) -> FramesPerSecond:
        """Frames per second (fps), ``sample_rate / hop_length``."""
        ...

    @property
    def encoder_context_frames(self) -> Context:
        """Frames of context before and after an encoded chunk."""
        ...

    @property
    def decoder_context_frames(self) -> Context:
        """Frames of context before and after a decoded chunk."""
        ...

    def encode(self, audio: Tensor, n_codebooks: int) -> Tensor:
        """Encode audio to RVQ codes.

        Parameters
        ----------
        audio : Tensor[B, C, S]
            float32 at :attr:`sample_rate`, ``C = channels`` (``Tensor[B, 1, S]``
            for a mono codec). ``S`` need not be a multiple of :attr:`hop_length`;
            each codec pads the last frame its own way.
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
        ...

    def decode(self, codes: Tensor) -> Tensor:
        """Decode RVQ codes to audio.

        Parameters
        ----------
        codes : LongTensor[B, K, T]
            ``1 <= K <= n_codebooks``.

        Returns
        -------
        audio : Tensor[B, C, T * hop_length]
            float32 at :attr:`sample_rate`, ``C = channels``.

        Raises
        ------
        ValueError
            If ``codes`` has the wrong shape.
        """
        ...


class CodecBase:
    """What the codec classes share: the frame rate, the decoder context and the shape checks.

    Subclasses set the :class:`Codec` attributes and :attr:`DECODE_CONTEXT_FRAMES`.
    """

    #: Frames of context each side of a decoded chunk.
    DECODE_CONTEXT_FRAMES: int
    name: str
    sample_rate: Hz
    channels: int
    hop_length: int
    n_codebooks: int
    #: Backends ``auto`` may choose for this codec (:mod:`audiotok.codecs.backends`), fastest first.
    AUTO_BACKENDS: tuple[str, ...] = ()

    @property
    def backends(self) -> dict[str, str]:
        """Which backend runs each network (``{"encoder": "openvino"}``); eager when absent."""
        return {part: name for part, (_, name) in self.__dict__.get("_runners", {}).items()}

    def network(self, part: Part) -> Network:
        """The eager PyTorch module of ``part``, ready for inference (speed-ups applied)."""
        raise NotImplementedError

    def export_module(self, part: Part) -> Network:
        """What a backend converts or compiles for ``part`` (default: :meth:`network`).

        DAC's encoder adds its RVQ, so that a backend maps audio straight to codes.
        """
        return self.network(part)

    def export_example(self, part: Part, audio: Tensor) -> Tensor:
        """An input of :meth:`export_module` ``(part)`` made from ``audio : Tensor[1, channels, S]``.

        Default: the audio for the encoder, the encoder's latents for the decoder.
        """
        if part == "encoder":
            return audio
        return self.network("encoder")(audio)

    def run(self, part: Part, x: Tensor) -> Tensor:
        """Run ``part`` on ``x`` through its backend (see :mod:`audiotok.codecs.backends`), else eagerly."""
        entry = self.__dict__.get("_runners", {}).get(part)
        return entry[0](x) if entry is not None else self.network(part)(x)

    def fixed_shapes(self, part: Part) -> bool:
        """Whether ``part`` runs fastest on a few repeated input lengths (a backend compiled per shape).

        Then the chunk planners cut windows of one length where they can
        (:func:`audiotok.codecs.chunking.plan_chunks` ``fixed=True``).
        """
        entry = self.__dict__.get("_runners", {}).get(part)
        return entry is not None and bool(getattr(entry[0], "fixed_shapes", False))

    def expect_windows(self, part: Part, frames: Iterable[int]) -> None:
        """Tell ``part``'s backend that windows of these lengths (frames) will run many times.

        A backend compiled per shape (:meth:`fixed_shapes`) compiles a model
        for each; otherwise nothing happens. Encoder windows are audio
        ``[channels, f * hop_length]``, decoder windows codes ``[n_codebooks, f]``.
        """
        entry = self.__dict__.get("_runners", {}).get(part)
        expect = getattr(entry[0], "expect", None) if entry is not None else None
        if expect is not None:
            if part == "encoder":
                expect([(self.channels, f * self.hop_length) for f in frames])
            else:
                expect([(self.n_codebooks, f) for f in frames])

    def set_runner(self, part: Part, runner: Network | None, backend: str = "eager") -> None:
        """Run ``part`` with ``runner`` from now on (``None``: eager again); ``backend`` names it."""
        runners: dict[str, tuple[Network, str]] = self.__dict__.setdefault("_runners", {})
        if runner is None:
            runners.pop(part, None)
        else:
            runners[part] = (runner, backend)

    @property
    def frame_rate(self) -> FramesPerSecond:
        """Frames per second (fps), ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    @property
    def decoder_context_frames(self) -> Context:
        """:attr:`DECODE_CONTEXT_FRAMES` on both sides."""
        return Context(self.DECODE_CONTEXT_FRAMES, self.DECODE_CONTEXT_FRAMES)

    def check_audio(self, audio: Tensor | np.ndarray[Any, Any], n_codebooks: int) -> None:
        """Check :meth:`Codec.encode`'s arguments.

        Raises
        ------
        ValueError
            If ``n_codebooks`` is out of range or ``audio`` is not ``[B, channels, S]``.
        """
        if not 1 <= n_codebooks <= self.n_codebooks:
            raise ValueError(f"n_codebooks must be in [1, {self.n_codebooks}], got {n_codebooks}")
        if audio.ndim != 3 or audio.shape[1] != self.channels:
            raise ValueError(f"audio must be [B, {self.channels}, S], got {tuple(audio.shape)}")

    def check_codes(self, codes: Tensor | np.ndarray[Any, Any]) -> None:
        """Check :meth:`Codec.decode`'s argument.

        Raises
        ------
        ValueError
            If ``codes`` is not ``[B, K, T]`` with ``1 <= K <= n_codebooks``.
        """
        if codes.ndim != 3 or not 1 <= codes.shape[1] <= self.n_codebooks:
            raise ValueError(f"codes must be [B, K<={self.n_codebooks}, T], got {tuple(codes.shape)}")
