"""What a loaded codec can do, declared once: :class:`Capabilities` (read by the engine instead of probing).

Re-exported by :mod:`audiotok.codecs.codec` and :mod:`audiotok.codecs.plugin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Capabilities", "Part"]

Part = Literal["encoder", "decoder"]
"""A codec's networks that a backend can run: the encoder (audio -> codes) and the decoder."""


@dataclass(frozen=True)
class Capabilities:
    """What a loaded codec can do, declared once (the engine reads these instead of probing).

    Attributes
    ----------
    auto_backends : tuple of str
        Backends ``--backend auto`` may pick for it, fastest first
        (:mod:`audiotok.codecs.backends`); empty: eager only.
    auto_parts : tuple of {"encoder", "decoder"}
        The networks ``auto`` converts (EnCodec: its encoder only).
    static_shapes : bool
        A backend runs it fastest compiled per input length (DAC's Snake
        fuses only then); False: one dynamic-shape model for every length.
    export_layout : int
        Version of what its backend cache entries hold; bumped when its
        ``export_module`` changes (part of the entries' key, per codec).
    zero_pads_to_hop : bool
        ``encode`` pads the input with zeros to whole frames, so all-zero
        inputs of one frame count have the same codes.
    normalizes : bool
        The model expects its input divided by one scale per file (EnCodec
        48 kHz); the pipeline computes it and hands it to the sink.
    exact_chunking : bool
        Chunks with :attr:`Codec.encoder_context_frames` give the codes of a
        whole-file encode, always (DAC). False: only nearly (EnCodec 24 kHz's
        LSTM carries state from before the context); the output says so.
    context_seconds : bool
        The encoder context may be set in seconds (EnCodec); False: it is the
        network's receptive field, fixed.
    arrays : bool
        :meth:`Codec.encode_array` and :meth:`Codec.decode_array` run without
        PyTorch (a codec on cached OpenVINO networks).
    streaming : bool
        Encodes chunk after chunk carrying its state, exactly (a causal
        :class:`~audiotok.codecs.streaming.StreamingCodec`: Mimi).
    global_context : bool
        Every output frame depends on the whole input (self-attention over
        the file: XCodec2, NeuCodec, X-Codec): a file is encoded as one
        window up to a maximum length, a longer one is cut into segments at
        quiet points (:class:`~audiotok.codecs.segments.SegmentEncoder`), and
        a cut file's codes differ from a whole-file encode.
    """

    auto_backends: tuple[str, ...] = ()
    auto_parts: tuple[Part, ...] = ("encoder", "decoder")
    static_shapes: bool = True
    export_layout: int = 1
    zero_pads_to_hop: bool = False
    normalizes: bool = False
    exact_chunking: bool = True
    context_seconds: bool = False
    arrays: bool = False
    streaming: bool = False
    global_context: bool = False
