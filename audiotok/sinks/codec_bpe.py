"""``--format codec-bpe``: a folder of ``<id>_c0.npy`` files, int32 ``(K, T)``, and ``codec_info.json``.

What codec-bpe (acoustic BPE over codec tokens, AbrahamSanders/codec-bpe)
reads: ``train_tokenizer --codes_path OUT`` walks the folder for ``*.npy``
(subfolders too: the source tree is mirrored, so no folder holds more files
than the source did), and ``codec_info.json`` at its root gives
``num_codebooks``, ``codebook_size`` and ``framerate``. The ``_c0`` suffix
(channel 0) is the name codec-bpe's own encoder writes; its
``prep_lm_dataset`` fails on files without it. The codes are int32:
codec-bpe adds its per-codebook unicode offsets in place, in the file's
dtype, which overflows uint16.

One file per item (no shards): each is written to a temporary name and
renamed into place (:func:`audiotok._fsio.atomic_write`), so a rerun skips
the files already there with the planned shape; ``codec_info.json`` comes
last. Codes with strides (SNAC) are refused: codec-bpe needs one ``(K, T)``
matrix. Items without frames are left out (and reported): codec-bpe 1.4.1's
trainer fails on a ``(K, 0)`` file (``range()`` with step 0).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from audiotok._fsio import atomic_write, write_bytes_atomic
from audiotok.errors import UsageError
from audiotok.sinks.shards import ShardIdentity, ShardItem

__all__ = ["CODEC_INFO", "CodecBpeSink"]

CODEC_INFO = "codec_info.json"
"""codec-bpe's description of the codes, at the folder's root."""
SUFFIX = "_c0.npy"


class CodecBpeSink:
    """``<id>_c0.npy`` files under ``out`` (see the module docstring)."""

    name = "codec-bpe"

    def __init__(self, out: Path, identity: ShardIdentity) -> None:
        self.out = out
        self.identity = identity

    @classmethod
    def accepts(cls, identity: ShardIdentity) -> None:
        """Refuse codes with strides, and codes whose vocabulary the sources do not record.

        Raises
        ------
        UsageError
            One line naming what is missing.
        """
        if not identity.rectangular:
            raise UsageError(
                f"codec-bpe reads one (K, T) matrix per file; {identity.codec}'s codebooks run at "
                f"different rates (strides {list(identity.strides)}): export parquet or webdataset",
                param="format",
            )
        if not identity.vocab_sizes:
            raise UsageError(
                "codec-bpe needs the codebook size, which these token files do not record "
                "(no tokens.json above them)",
                param="format",
            )

    def path_for(self, item_id: str) -> Path:
        """``OUT/<id>_c0.npy`` (the id's folders kept)."""
        return self.out / (item_id + SUFFIX)

    def done(self, item_id: str, shape: tuple[int, int], source: str) -> bool:
        """Whether ``item_id``'s file holds the planned ``(K, T)`` int32 codes, newer than ``source``."""
        path = self.path_for(item_id)
        try:
            if path.stat().st_mtime_ns < os.stat(source).st_mtime_ns:
                return False
            found = np.load(path, mmap_mode="r", allow_pickle=False)  # the header; no codes read
        except (OSError, ValueError):
            return False
        return tuple(found.shape) == shape and found.dtype == np.int32

    def write(self, item: ShardItem) -> Path:
        """Write one item's codes as int32 ``(K, T)`` (atomic)."""
        path = self.path_for(item.id)
        with atomic_write(path) as fh:
            np.save(fh, np.ascontiguousarray(item.codes.array.T, dtype=np.int32), allow_pickle=False)
        return path

    def codec_info(self) -> dict[str, Any]:
        """The fields codec-bpe reads, plus audiotok's identity under ``audiotok``."""
        ident = self.identity
        info = ident.info
        return {
            "codec_type": info.family if info else (ident.codec or "unknown").split("_")[0],
            "codec_model": ident.codec,
            "sampling_rate_encoder": ident.sample_rate,
            "sampling_rate_decoder": info.output_sample_rate if info else ident.sample_rate,
            "num_codebooks": len(ident.vocab_sizes or ()),
            "codebook_size": max(ident.vocab_sizes or (0,)),
            "framerate": ident.frame_rate,
            "audiotok": ident.to_json(),
        }

    def finish(self) -> None:
        """``codec_info.json``, written last."""
        text = json.dumps(self.codec_info(), indent=2) + "\n"
        write_bytes_atomic(self.out / CODEC_INFO, text.encode())
