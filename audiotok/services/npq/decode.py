"""``npq decode``: ``.npq`` token files back to PCM16 WAV through DAC (a preset of ``audiotok decode``).

NPQ1 (and legacy) files decode to mono; NPQ2 files decode Mid and Side and
write stereo with ``L = M + S`` and ``R = M - S`` (specs/npq-tools.md). It is
:func:`audiotok.services.decode.decode_paths` for ``.npq`` files and DAC
models: the model comes from ``model``, else the identity manifest beside the
files, else the file's token rate (:func:`infer_model`). One file decodes with
:func:`audiotok.services.decode.decode_file`, re-exported here.
"""

from __future__ import annotations

import functools
import os

from audiotok.formats import npq
from audiotok.services import decode
from audiotok.services.decode import DecodeRecord, decode_file

__all__ = ["DecodeRecord", "decode_file", "decode_paths", "infer_model"]


def infer_model(header: npq.NpqHeader, path: str | os.PathLike[str] | None = None) -> str:
    """The known DAC model whose frame rate is the file's ``token_rate`` and that has its K codebooks.

    86.13 fps → ``44khz`` (``44khz-16kbps`` when K > 9), 75 → ``24khz``, 50 → ``16khz``.

    Raises
    ------
    FormatError
        If no known model fits; pass ``model`` then.
    """
    k = max(header.k_mid, header.k_side) if isinstance(header, npq.Npq2Header) else header.n_codebooks
    return decode.infer_model(header.token_rate, k, path, "dac")


decode_paths = functools.partial(decode.decode_paths, family="dac", suffixes=(".npq",))
"""Decode every ``.npq`` file of ``inputs`` with DAC: :func:`audiotok.services.decode.decode_paths`
with ``family="dac"`` (another family's model is a ``UsageError``) and ``suffixes=(".npq",)``."""
