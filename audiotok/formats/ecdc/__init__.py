"""EnCodec codes files (``NAME.ecdc``) as used by ESF v1 (``docs/specs/esf-format.md``).

audiotok writes a small ``torch.save`` checkpoint (a zip) holding a dict::

    audio_codes      int64 [1, Cb, T]   RVQ codes, Cb codebooks, T frames
    audio_scales     list               per-segment scales (``[None]`` for 24 kHz)
    audio_length     int                samples of the encoded audio
    sample_rate      int                model sample rate in Hz
    fps              float              frame rate (75 for EnCodec 24 kHz, 150 for 48 kHz)
    bandwidth        float              target bandwidth in kbps
    model            str                ``"encodec_24khz"`` / ``"encodec_48khz"``
    audiotok_version str

Readers accept ``audio_codes`` of shape ``[1, Cb, T]``, ``[Cb, T]`` or
``[1, 1, Cb, T]`` and return time-major codes ``[T, Cb]``; every key but
``audio_codes`` is optional. Files are loaded only with
``torch.load(..., weights_only=True, map_location="cpu")``, whose unpickler
admits tensors and plain containers and never imports or calls anything a
file names: a hostile ``.ecdc`` is a :class:`~audiotok.errors.FormatError`,
never code execution.

The official EnCodec command line writes a different, binary ``.ecdc``
(magic ``b'ECDC'``, a JSON header, then bit-packed or entropy-coded codes).
It is recognised by its magic. The codes of a 24 kHz file written without the
entropy-coding language model (``encodec.compress.compress(..., use_lm=False)``)
are read; every other variant is reported by name.

:func:`read` and :func:`read_meta` are the only readers (:mod:`.reader`;
audiotok's own files are parsed from the zip by :mod:`._fast`, without torch),
:func:`write` the only writer (:mod:`.writer`, ``torch.save``'s bytes made by
:mod:`._save`, also without torch); :class:`EcdcMeta` and the constants live
in :mod:`.models`.
"""

from __future__ import annotations

from audiotok.formats.ecdc.models import ENCODEC_FPS, OFFICIAL_MAGIC, EcdcMeta
from audiotok.formats.ecdc.reader import read, read_meta, read_scale
from audiotok.formats.ecdc.writer import write

__all__ = ["ENCODEC_FPS", "OFFICIAL_MAGIC", "EcdcMeta", "read", "read_meta", "read_scale", "write"]
