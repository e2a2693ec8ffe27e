"""Dataset rows: reading one token file (+ sidecars) into a row, and rows into Arrow.

The column layout (``features``) is fixed per dataset kind, so every split of a
build shares one schema and rows can be streamed to disk in small batches.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import Features, List, Value

from audiotok.errors import AudiotokError, FormatError
from audiotok.formats import ecdc, esf, esf_check, npq
from audiotok.services._dataset_scan import Kind

__all__ = [
    "CODES_DTYPE",
    "COND_DTYPE",
    "Row",
    "esf_files",
    "features_for",
    "read_row",
    "read_rows",
    "rows_to_batch",
]

Row = dict[str, Any]
CODES_DTYPE = np.dtype("uint16")
"""Storage dtype of the ``codes`` column (every codec in audiotok has vocabularies <= 65536)."""
COND_DTYPE = np.dtype("float32")
"""Storage dtype of the ``cond`` column (float16 sidecars widen exactly)."""

_LIST2D = ("codes", "cond")


def _codes_feature() -> List:
    return List(List(Value("uint16")))


def features_for(kind: Kind, *, embed: bool) -> Features:
    """The columns of a dataset of ``kind``.

    Every layout has ``audio``: the token file's path relative to the dataset
    folder (``tokens/<split>/<relative path>``), the column of
    ``specs/encodec-dataset-workflow.md``. Embedded layouts add ``codes``
    (``uint16 [T, K]``), ``n_frames``, ``n_codebooks`` and ``fps``; ESF adds
    ``cond`` (``float32 [T, D]``), ``cond_names`` and the codec provenance,
    NPQ adds ``format``, ``k_mid``, ``k_side``, ``vocab_sizes`` and
    ``orig_bitrate_kbps``.
    """
    cols: dict[str, Any] = {"audio": Value("string")}
    if not embed:
        return Features(cols)
    cols |= {
        "codes": _codes_feature(),
        "n_frames": Value("int64"),
        "n_codebooks": Value("int32"),
        "fps": Value("float64"),
    }
    if kind == "esf":
        cols |= {
            "cond": List(List(Value("float32"))),
            "cond_names": List(Value("string")),
            "model": Value("string"),
            "bandwidth": Value("float64"),
            "sample_rate": Value("int64"),
            "audio_length": Value("int64"),
        }
    else:
        cols |= {
            "format": Value("string"),
            "k_mid": Value("int32"),
            "k_side": Value("int32"),
            "vocab_sizes": List(Value("int64")),
            "orig_bitrate_kbps": Value("float64"),
        }
    return Features(cols)


def esf_files(codes_path: str) -> tuple[str, str, str]:
    """``NAME.ecdc`` and its co-located sidecars ``NAME.cond.npy``, ``NAME.cond.json``.

    The names :func:`audiotok.formats.esf.sidecar_paths` gives, computed on
    strings (this runs several times per file of a build).
    """
    base = os.path.splitext(codes_path)[0]
    return codes_path, base + ".cond.npy", base + ".cond.json"


def _as_codes(codes: np.ndarray[Any, Any], path: str) -> np.ndarray[Any, Any]:
    if codes.size:
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high > np.iinfo(CODES_DTYPE).max:
            bad = low if low < 0 else high
            raise FormatError(f"token {bad} does not fit the dataset's uint16 codes column", path)
    return np.ascontiguousarray(codes, dtype=CODES_DTYPE)


def _read_esf(path: str) -> Row:
    """The row of one triplet, after the ESF rules of ``esf audit`` (:func:`esf_check.check_triplet`)."""
    codes_path, npy_path, json_path = esf_files(path)
    codes = cond = None
    meta: ecdc.EcdcMeta | FormatError
    cmeta: esf.CondMeta | FormatError
    header: esf_check.NpyHeader | FormatError
    try:
        codes, meta = ecdc.read(codes_path)
    except FormatError as exc:
        meta = exc
    try:
        cmeta = esf.read_cond_meta(json_path)
    except FormatError as exc:
        cmeta = exc
    try:
        cond = esf.read_cond_array(npy_path)
        header = (cond.shape, cond.dtype)
    except FormatError as exc:
        header = exc
    problems = esf_check.check_triplet(meta, cmeta, header, sidecars=(npy_path, json_path))
    if problems:
        raise FormatError(f"{problems[0].issue}: {problems[0].detail}", path)
    if codes is None or cond is None or isinstance(meta, FormatError) or isinstance(cmeta, FormatError):
        raise RuntimeError(f"{path}: a read failed but check_triplet found no problem")  # pragma: no cover
    return {
        "codes": _as_codes(codes, path),
        "n_frames": int(codes.shape[0]),
        "n_codebooks": int(codes.shape[1]),
        "fps": float(meta.fps),
        "cond": np.ascontiguousarray(cond, dtype=COND_DTYPE),
        "cond_names": list(cmeta.names),
        "model": meta.model,
        "bandwidth": meta.bandwidth,
        "sample_rate": meta.sample_rate,
        "audio_length": meta.audio_length,
    }


def _read_npq(path: str) -> Row:
    tokens, header = npq.read(path)
    return {
        "codes": _as_codes(tokens, path),
        "n_frames": header.seq_len,
        "n_codebooks": header.n_codebooks,
        "fps": header.token_rate,
        "format": header.format,
        "k_mid": getattr(header, "k_mid", None),
        "k_side": getattr(header, "k_side", None),
        "vocab_sizes": list(header.vocab_sizes),
        "orig_bitrate_kbps": header.orig_bitrate_kbps,
    }


def read_row(kind: Kind, path: str, audio: str, *, embed: bool) -> Row:
    """One dataset row for the token file ``path``.

    Parameters
    ----------
    kind : {"esf", "npq"}
        ``.ecdc`` with its sidecars, or ``.npq``.
    path : str
        The token file.
    audio : str
        Its ``audio`` column value (path relative to the dataset folder).
    embed : bool
        Read the file's codes (and conditioning) into the row. Without it only
        the presence of the ESF sidecars is checked.

    Raises
    ------
    FormatError
        If the file or a sidecar is invalid or missing, the sidecar's frame
        count differs from the codes' (ESF), or a token does not fit uint16.
    """
    if not embed:
        if kind == "esf":
            for p in esf_files(path)[1:]:
                if not os.path.exists(p):
                    raise FormatError(f"missing sidecar {os.path.basename(p)}", path)
        return {"audio": audio}
    row = _read_esf(path) if kind == "esf" else _read_npq(path)
    row["audio"] = audio
    return row


Job = tuple[str, str, str]
"""``(token file, audio column value, split)`` of one row to read."""


def _read_job(job: Job, kind: Kind, embed: bool) -> Row | str:
    """The row for ``job``, or the one-line reason it cannot be read."""
    try:
        return read_row(kind, job[0], job[1], embed=embed)
    except AudiotokError as exc:
        return exc.reason
    except OSError as exc:
        return exc.strerror or str(exc)


def read_rows(
    kind: Kind, jobs: Iterable[Job], *, embed: bool, workers: int = 1, window: int = 512
) -> Iterator[tuple[Job, Row | str]]:
    """Read the rows of ``jobs`` in order, in ``workers`` processes when > 1.

    With workers, ``jobs`` is consumed ``window`` at a time, so memory stays
    bounded by one window of rows whatever the corpus size.

    Yields
    ------
    (job, row or reason)
        The row (see :func:`read_row`) or the reason the file failed.
    """
    if workers <= 1:
        for job in jobs:
            yield job, _read_job(job, kind, embed)
        return
    read = functools.partial(_read_job, kind=kind, embed=embed)
    it = iter(jobs)
    with multiprocessing.Pool(workers) as pool:
        while chunk := list(itertools.islice(it, window)):
            results = pool.map(read, chunk, chunksize=max(1, len(chunk) // (4 * workers)))
            yield from zip(chunk, results, strict=True)


def _list2d(arrays: Sequence[np.ndarray[Any, Any]], dtype: np.dtype[Any]) -> pa.Array:
    """``list<list<dtype>>`` Arrow array from 2-D arrays ``[T_i, C_i]``, with no Python loop per value."""
    n_rows = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
    widths = np.repeat(np.fromiter((a.shape[1] for a in arrays), np.int64, len(arrays)), n_rows)
    outer = np.zeros(len(arrays) + 1, dtype=np.int32)
    np.cumsum(n_rows, out=outer[1:])
    inner = np.zeros(len(widths) + 1, dtype=np.int32)
    np.cumsum(widths, out=inner[1:])
    flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, dtype)
    values = pa.array(flat.astype(dtype, copy=False))
    return pa.ListArray.from_arrays(pa.array(outer), pa.ListArray.from_arrays(pa.array(inner), values))


def rows_to_batch(rows: Sequence[Row], schema: pa.Schema) -> pa.RecordBatch:
    """Turn rows (dicts of the :func:`features_for` columns) into one Arrow record batch."""
    arrays = []
    for field in schema:
        values = [row[field.name] for row in rows]
        if field.name in _LIST2D:
            dtype = CODES_DTYPE if field.name == "codes" else COND_DTYPE
            arrays.append(_list2d(values, dtype).cast(field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
