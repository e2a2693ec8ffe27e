"""``--flatten``: one LM-ready token stream per item, beside the codes (never instead of them).

Two orders, each a plain int32 vector (``tokens``):

``offsets``
    Frame-major, every codebook shifted into its own id range: code ``c`` of
    codebook ``k`` becomes ``c + sum(vocab_sizes[:k])``. Rectangular codes
    give ``codes[0, 0], codes[0, 1], ..., codes[0, K-1], codes[1, 0], ...``;
    codes with strides (SNAC) give their rows
    (:meth:`audiotok.tokens.TokenLayout.to_rows`: ``c0[i], c1[2i], c1[2i+1],
    c2[4i], ..., c2[4i+3]``), each code shifted by its codebook's offset. Undo:
    ``tokens.reshape(-1, W) - offsets``.
``orpheus``
    SNAC 24 kHz (3 levels, strides 4, 2, 1, 4096 codes each) in the 7-token
    frames of Orpheus-TTS (``canopyai/Orpheus-TTS``, ``orpheus_tts/decoder.py``):
    ``c0[i], c1[2i], c2[4i], c2[4i+1], c1[2i+1], c2[4i+2], c2[4i+3]``, the code
    at position ``p`` of a frame shifted by ``p * 4096`` (Orpheus's decoder
    subtracts exactly that). Orpheus's text-tokenizer shifts (``+ 10`` for its
    custom tokens, ``128266`` for Llama 3 ids) are the tokenizer's, not added here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from audiotok.errors import UsageError
from audiotok.tokens import Codes, TokenLayout

if TYPE_CHECKING:
    from audiotok.sinks.shards import ShardIdentity

__all__ = ["FLATTEN_MODES", "FlattenMode", "check_flatten", "flatten_codes"]

FlattenMode = Literal["offsets", "orpheus"]
FLATTEN_MODES: tuple[FlattenMode, ...] = ("offsets", "orpheus")
_ORPHEUS_STRIDES = (4, 2, 1)
_ORPHEUS_VOCAB = 4096


def check_flatten(identity: ShardIdentity, mode: FlattenMode) -> None:
    """Refuse, before any work, a flattening the codes do not allow.

    Raises
    ------
    UsageError
        For an unknown mode, codes whose vocabularies are not recorded
        (``offsets`` needs them), or ``orpheus`` on codes other than SNAC 24 kHz's layout.
    """
    if mode not in FLATTEN_MODES:
        raise UsageError(
            f"unknown flatten order {mode!r}; known: {', '.join(FLATTEN_MODES)}", param="flatten"
        )
    if not identity.vocab_sizes:
        raise UsageError("flattening needs each codebook's vocabulary, which the sources do not record",
                         param="flatten")  # fmt: skip
    if sum(identity.vocab_sizes) > np.iinfo(np.int32).max:
        raise UsageError("the codebooks' ids together pass int32; flattening is refused", param="flatten")
    if mode == "orpheus" and (
        tuple(identity.strides) != _ORPHEUS_STRIDES or max(identity.vocab_sizes) > _ORPHEUS_VOCAB
    ):
        raise UsageError(
            f"the orpheus order is SNAC 24 kHz's (strides 4, 2, 1; 4096 codes); {identity.codec} has strides "
            f"{list(identity.strides)}: use `flatten` offsets",
            param="flatten",
        )


def _column_offsets(vocab: tuple[int, ...]) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.concatenate([[0], np.cumsum(vocab[:-1])]).astype(np.int64)


def flatten_codes(codes: Codes, identity: ShardIdentity, mode: FlattenMode) -> np.ndarray[Any, Any]:
    """One item's token stream (int32), in ``mode``'s order (see the module docstring)."""
    vocab = tuple(identity.vocab_sizes or ())
    data = codes.data
    if mode == "orpheus":
        if not isinstance(data, tuple) or len(data) != 3:  # pragma: no cover - check_flatten refuses
            raise UsageError("the orpheus order needs SNAC's three levels", param="flatten")
        c0, c1, c2 = (np.asarray(level, np.int64) for level in data)
        n = len(c0)
        frames = np.stack(
            [c0, c1[0 : 2 * n : 2], c2[0 : 4 * n : 4], c2[1 : 4 * n : 4], c1[1 : 2 * n : 2],
             c2[2 : 4 * n : 4], c2[3 : 4 * n : 4]], axis=1,
        )  # fmt: skip
        return (frames + np.arange(7, dtype=np.int64) * _ORPHEUS_VOCAB).reshape(-1).astype(np.int32)
    if isinstance(data, tuple):
        layout = TokenLayout(vocab[: len(data)], tuple(identity.strides[: len(data)]))
        rows = layout.to_rows(data)
        offsets = _column_offsets(vocab[: len(data)])
        per_column = np.repeat(offsets, [layout.grid // s for s in layout.strides])
        return (rows + per_column).reshape(-1).astype(np.int32)
    array = np.asarray(data, np.int64)
    return (array + _column_offsets(vocab)[: array.shape[1]]).reshape(-1).astype(np.int32)
