"""Reading ``.ecdc`` files: :func:`read` (codes and metadata) and :func:`read_meta` (metadata only).

audiotok's own files are parsed from the zip without torch (:mod:`._fast`);
other checkpoints go through ``torch.load(..., weights_only=True)``, official
EnCodec binary files through :func:`_read_official`. See
:mod:`audiotok.formats.ecdc` for the file layout.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import struct
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from audiotok.errors import FormatError
from audiotok.formats._io import open_binary, reading
from audiotok.formats.ecdc._fast import peek, read_codes
from audiotok.formats.ecdc.models import ENCODEC_FPS, OFFICIAL_MAGIC, EcdcMeta

__all__ = ["read", "read_meta"]

_OFFICIAL_HEADER = struct.Struct("!4sBI")
_OFFICIAL_RATES = {"encodec_24khz": 24_000, "encodec_48khz": 48_000}
_MAX_BYTES = 1 << 31  # codes only; a 2 GiB codes file is ~100 days of audio


def _cb_t(shape: tuple[int, ...], path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(Cb, T)`` of a stored ``audio_codes`` shape [1, Cb, T], [Cb, T] or [1, 1, Cb, T]."""
    if len(shape) == 2 or (len(shape) == 3 and shape[0] == 1) or (len(shape) == 4 and shape[:2] == (1, 1)):
        if shape[-2] >= 1:
            return shape[-2], shape[-1]
        raise FormatError(f"audio_codes has shape {list(shape)} with no codebooks", path)
    raise FormatError(
        f"audio_codes has shape {list(shape)}; expected [1, Cb, T], [Cb, T] or [1, 1, Cb, T]", path
    )


def _canonical(codes: Any, path: str | os.PathLike[str]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """``audio_codes`` of shape [1, Cb, T], [Cb, T] or [1, 1, Cb, T] -> int64 [T, Cb].

    ``codes`` is a numpy array (audiotok's own files, read without torch) or a
    tensor from ``torch.load`` (other checkpoints).
    """
    if _is_tensor(codes):
        if codes.is_floating_point() or codes.is_complex() or str(codes.dtype) == "torch.bool":
            raise FormatError(f"audio_codes has dtype {codes.dtype}, expected an integer tensor", path)
        codes = codes.numpy(force=True)
    if not isinstance(codes, np.ndarray):
        raise FormatError(f"audio_codes is a {type(codes).__name__}, not a tensor", path)
    if not np.issubdtype(codes.dtype, np.integer):
        raise FormatError(f"audio_codes has dtype {codes.dtype}, expected an integer tensor", path)
    n_cb, _ = _cb_t(tuple(codes.shape), path)
    out = np.array(codes.reshape(n_cb, -1).T, dtype=np.int64, order="C")  # a writable copy
    if out.size and int(out.min()) < 0:
        raise FormatError(f"audio_codes holds a negative code ({int(out.min())})", path)
    return out


def _is_tensor(value: Any) -> bool:
    """Whether ``value`` is a ``torch.Tensor`` (without importing torch: only torch.load makes them)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _optional(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = obj.get(key)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, kind):  # the usual case: a plain value (checked first, it is per file of an audit)
        return value
    if _is_tensor(value) and value.numel() == 1:
        value = value.item()
        if not isinstance(value, bool) and isinstance(value, kind):
            return value
    return None


def _meta_from(
    obj: dict[str, Any], n_frames: int, n_codebooks: int, path: str | os.PathLike[str]
) -> EcdcMeta:
    fps = _optional(obj, "fps", (int, float))
    try:
        return EcdcMeta(
            n_codebooks=n_codebooks,
            n_frames=n_frames,
            sample_rate=_optional(obj, "sample_rate", int),
            fps=ENCODEC_FPS if fps is None else float(fps),
            bandwidth=_optional(obj, "bandwidth", (int, float)),
            model=_optional(obj, "model", str),
            audio_length=_optional(obj, "audio_length", int),
            audiotok_version=_optional(obj, "audiotok_version", str),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise FormatError(f"bad {field}: {err['msg']}", path) from None


def _head(path: Path) -> bytes:
    with open_binary(path, "an .ecdc file") as fh, reading(path, "an .ecdc file"):
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise FormatError("empty file", path)
        if size > _MAX_BYTES:
            raise FormatError(f"{size} bytes is too large for an .ecdc file", path)
        return fh.read(8)


def _loadable(path: Path, head: bytes) -> None:
    """Refuse, without importing torch, a file ``torch.load`` cannot read: neither a zip nor a pickle.

    ``torch.load`` reads a complete zip archive (``PK\\x03\\x04`` ... central
    directory) or the older format, a pickle stream (``\\x80`` protocol 2+,
    or ``L`` for protocols 0/1). Garbage and truncated zips fail here, so an
    audit of a corpus with broken files never pays for importing torch.
    """
    if head[:4] == b"PK\x03\x04":
        if not zipfile.is_zipfile(path):
            raise FormatError("not a readable torch checkpoint (an incomplete zip archive)", path)
    elif head[:1] not in (b"\x80", b"L"):
        raise FormatError("not a readable torch checkpoint (neither a zip archive nor a pickle)", path)


def _torch_dict(path: Path, head: bytes) -> dict[str, Any]:
    """``torch.load`` with the weights-only unpickler; every failure is a FormatError."""
    _loadable(path, head)
    import torch  # only for checkpoints the header-only reader does not handle

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if "nsupported" in ln]
        why = lines[0][:200] if lines else "rejected by the weights-only unpickler"
        raise FormatError(f"refused: not a plain codes checkpoint ({why})", path) from None
    except Exception as exc:  # torch raises many types for corrupt files; all mean "not readable"
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise FormatError(f"not a readable torch checkpoint ({why})", path) from None
    if not isinstance(obj, dict):
        raise FormatError(f"holds a {type(obj).__name__}, expected a dict with 'audio_codes'", path)
    if "audio_codes" not in obj:
        raise FormatError("no 'audio_codes' key", path)
    return obj


def _official_header(data: bytes, path: Path) -> tuple[dict[str, Any], int]:
    if len(data) < _OFFICIAL_HEADER.size:
        raise FormatError("official EnCodec binary .ecdc with a truncated header", path)
    _, version, meta_size = _OFFICIAL_HEADER.unpack_from(data)
    if version != 0:
        raise FormatError(f"official EnCodec binary .ecdc of unsupported version {version}", path)
    end = _OFFICIAL_HEADER.size + meta_size
    try:
        meta = json.loads(data[_OFFICIAL_HEADER.size : end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError("official EnCodec binary .ecdc with a corrupt JSON header", path) from None
    if not isinstance(meta, dict) or end > len(data):
        raise FormatError("official EnCodec binary .ecdc with a corrupt JSON header", path)
    return meta, end


def _read_official(path: Path) -> tuple[np.ndarray[Any, np.dtype[np.int64]], EcdcMeta]:
    """Codes of an official EnCodec binary ``.ecdc`` (24 kHz, bit-packed, no LM)."""
    data = path.read_bytes()
    meta, offset = _official_header(data, path)
    model, length, n_q, use_lm = meta.get("m"), meta.get("al"), meta.get("nc"), meta.get("lm")
    what = f"official EnCodec binary .ecdc (model {model!r}"
    if model not in _OFFICIAL_RATES or not isinstance(length, int) or not isinstance(n_q, int):
        raise FormatError(f"{what}) with an unknown model or bad header {meta}", path)
    if use_lm:
        raise FormatError(
            f"{what}, entropy-coded with the EnCodec language model): its codes need the LM "
            "weights; decompress it with `encodec` and re-encode with `audiotok esf encode`",
            path,
        )
    if model != "encodec_24khz":
        raise FormatError(
            f"{what}): overlapping 1 s segments cannot be read as one [T, Cb] code stream; "
            "decompress it with `encodec` and re-encode with `audiotok esf encode`",
            path,
        )
    if n_q < 1 or length < 0:
        raise FormatError(f"{what}) with bad header {meta}", path)
    sample_rate = _OFFICIAL_RATES[model]
    n_frames = math.ceil(length / sample_rate * ENCODEC_FPS)
    bits = 10  # 1024 bins per codebook
    need = math.ceil(n_frames * n_q * bits / 8)
    payload = np.frombuffer(data, dtype=np.uint8, offset=offset)
    if payload.size < need:
        raise FormatError(f"{what}) truncated: {payload.size} payload bytes, expected {need}", path)
    flat = np.unpackbits(payload[:need], bitorder="little")[: n_frames * n_q * bits]
    values = flat.reshape(-1, bits).astype(np.int64) @ (1 << np.arange(bits, dtype=np.int64))
    codes = values.reshape(n_frames, n_q)  # written frame by frame, codebooks inner
    return np.ascontiguousarray(codes), EcdcMeta(
        n_codebooks=n_q,
        n_frames=n_frames,
        sample_rate=sample_rate,
        fps=ENCODEC_FPS,
        bandwidth=n_q * bits * ENCODEC_FPS / 1000.0,
        model=model,
        audio_length=length,
    )


def read(path: str | os.PathLike[str]) -> tuple[np.ndarray[Any, np.dtype[np.int64]], EcdcMeta]:
    """Read an ``.ecdc`` file without executing pickle.

    Parameters
    ----------
    path : str or os.PathLike
        An audiotok / ESF ``.ecdc`` (torch checkpoint) or an official EnCodec
        binary ``.ecdc`` (24 kHz, written without the language model).

    Returns
    -------
    codes : ndarray[T, Cb] int64
        Time-major RVQ codes: T frames at ``meta.fps``, Cb codebooks.
    meta : EcdcMeta

    Raises
    ------
    FormatError
        If the file is missing, not an ``.ecdc`` file, refers to anything but
        tensors and plain containers, or its codes have an unexpected shape or
        dtype. Official EnCodec binary files that cannot be read say so.
    """
    fast = read_codes(path)  # audiotok's own files: no torch.load, same result
    if fast is not None:
        obj, stored = fast
        codes = _canonical(stored, path)
        return codes, _meta_from(obj, codes.shape[0], codes.shape[1], path)
    p = Path(path)
    head = _head(p)
    if head[:4] == OFFICIAL_MAGIC:
        return _read_official(p)
    obj = _torch_dict(p, head)
    codes = _canonical(obj["audio_codes"], p)
    return codes, _meta_from(obj, codes.shape[0], codes.shape[1], p)


def read_meta(path: str | os.PathLike[str]) -> EcdcMeta:
    """Read only what an ``.ecdc`` file says about its codes (shape, rates, model).

    For audiotok's own files this parses only the checkpoint's ``data.pkl``
    (:func:`audiotok.formats.ecdc._fast.peek`: an allowlist of three harmless
    names; the codes themselves are not read) and checks that the codes
    record is complete; anything unusual falls back to :func:`read`.

    Raises
    ------
    FormatError
        As :func:`read`.
    """
    peeked = peek(path)
    if peeked is not None:
        obj, shape = peeked
        n_cb, n_t = _cb_t(shape, path)
        return _meta_from(obj, n_t, n_cb, path)
    p = Path(path)
    if _head(p)[:4] == OFFICIAL_MAGIC:
        return _read_official(p)[1]
    return read(p)[1]


def read_scale(path: str | os.PathLike[str]) -> float | None:
    """The input scale of a file (``audio_scales[0]``: EnCodec 48 kHz divides its input by it), else ``None``.

    ``None`` for a file without one (24 kHz: ``[None]``) or one whose
    checkpoint only :func:`read`'s fallback can parse.

    Raises
    ------
    FormatError
        As :func:`read_meta`.
    """
    peeked = peek(path)
    if peeked is None:
        read_meta(path)  # raises for a file that is not an .ecdc file
        return None
    scales = peeked[0].get("audio_scales")
    first = scales[0] if isinstance(scales, list) and scales else None
    return float(first) if isinstance(first, (int, float)) and not isinstance(first, bool) else None
