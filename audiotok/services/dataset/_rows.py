"""Dataset rows: reading one token file (+ sidecars) into a row, and rows into Arrow.

The column layout (``features``) is fixed per dataset kind and codes width, so
every split of a build shares one schema and rows can be streamed to disk in
small batches. Matrices are stored flat (see :mod:`audiotok.formats.token_table`).
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
from audiotok.formats import esf, npq
from audiotok.services.dataset.scan import Kind

__all__ = [
    "CODES_DTYPES",
    "COND_DTYPE",
    "MAX_ROW_VALUES",
    "Row",
    "esf_files",
    "features_for",
    "read_row",
    "read_rows",
    "row_values",
    "rows_to_batch",
]

Row = dict[str, Any]
CODES_DTYPES = (np.dtype("uint16"), np.dtype("uint32"))
"""Storage dtypes of the ``codes`` column, narrowest first (see :func:`features_for`)."""
COND_DTYPE = np.dtype("float32")
"""Storage dtype of the ``cond`` column (float16 sidecars widen exactly)."""
MAX_ROW_VALUES = 2**31 - 1
"""Most values one ``codes`` or ``cond`` cell can hold (Arrow ``list`` offsets are int32)."""

_FLAT = ("codes", "cond")
_U16_MAX = int(np.iinfo(np.uint16).max)
_U32_MAX = int(np.iinfo(np.uint32).max)


def features_for(kind: Kind, *, embed: bool, codes_dtype: Any = "uint16", placed: bool = True) -> Features:
    """The columns of a dataset of ``kind``.

    When the token files are placed in the dataset (``--no-embed``, or
    ``--materialize link|copy``), the first column is ``audio``: the token
    file's path relative to the dataset folder (``tokens/<split>/<relative
    path>``, its sidecars beside it), the column of
    ``docs/specs/encodec-dataset-workflow.md``. An embedded dataset with
    nothing placed (the default) has no file to name: its first column is
    ``id`` instead, the token file's path below its split's source folder
    without suffix (``d0/clip000``, the ``id`` of ``dataset export``). Embedded layouts add ``codes``,
    ``n_frames``, ``n_codebooks`` and ``fps``; ESF adds ``cond``,
    ``cond_names`` and the codec provenance (``model``, ``bandwidth``,
    ``sample_rate``, ``audio_length``), NPQ adds ``format``, ``k_mid``,
    ``k_side``, ``vocab_sizes`` and ``orig_bitrate_kbps``.

    ``codes`` and ``cond`` are flat lists of the matrix in row-major order,
    read without Python lists (one Arrow buffer that numpy views in place)::

        codes : list<codes_dtype>  T * K values, [T, K] = (n_frames, n_codebooks)
        cond  : list<float32>      T * D values, [T, D] = (n_frames, len(cond_names))

        row = ds.with_format("numpy")[i]
        codes = row["codes"].reshape(row["n_frames"], row["n_codebooks"])   # LongTensor-ready [T, K]
        cond = row["cond"].reshape(row["n_frames"], len(row["cond_names"]))

    NPQ2 codes columns are Mid codebooks then Side codebooks (``k_mid``, ``k_side``).

    Parameters
    ----------
    kind : {"esf", "npq"}
    embed : bool
        Without it only ``audio`` (the spec's path-only layout).
    codes_dtype : {"uint16", "uint32"}
        Width of ``codes``: uint16 unless a file of the build needs more (an
        NPQ vocabulary above 65,536, or an ESF code above 65,535); one width
        for every split of a dataset.
    placed : bool
        The token files are placed under ``tokens/`` (``audio``), or not (``id``).

    Returns
    -------
    datasets.Features
    """
    cols: dict[str, Any] = {"audio" if placed or not embed else "id": Value("string")}
    if not embed:
        return Features(cols)
    dtype = np.dtype(codes_dtype)
    if dtype not in CODES_DTYPES:
        raise ValueError(f"codes_dtype must be uint16 or uint32, not {dtype}")
    cols |= {
        "codes": List(Value(dtype.name)),
        "n_frames": Value("int64"),
        "n_codebooks": Value("int32"),
        "fps": Value("float64"),
    }
    if kind == "esf":
        cols |= {
            "cond": List(Value("float32")),
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


def _check_size(values: np.ndarray[Any, Any], what: str, path: str) -> None:
    if values.size > MAX_ROW_VALUES:
        raise FormatError(f"{what} holds {values.size} values; one dataset row holds at most 2**31 - 1", path)


def _esf_codes(codes: np.ndarray[Any, Any], path: str) -> np.ndarray[Any, Any]:
    """ESF codes (non-negative int64 ``[T, K]``) in the narrowest column width that holds them.

    ``.ecdc`` files carry no vocabulary size, so the width follows the values:
    uint16 when every code is at most 65,535 (EnCodec: < 1024), else uint32.
    """
    _check_size(codes, "codes", path)
    high = int(codes.max()) if codes.size else 0
    if high <= _U16_MAX:
        return codes.astype(np.uint16)
    if high > _U32_MAX:
        raise FormatError(f"code {high} does not fit the dataset's uint32 codes column", path)
    return codes.astype(np.uint32)


def _npq_codes(tokens: np.ndarray[Any, Any], vocab_sizes: Sequence[int], path: str) -> np.ndarray[Any, Any]:
    """NPQ tokens in the column width their vocabulary needs (uint16 up to 65,536 symbols, else uint32)."""
    _check_size(tokens, "codes", path)
    dtype = CODES_DTYPES[0] if max(vocab_sizes) <= _U16_MAX + 1 else CODES_DTYPES[1]
    if tokens.dtype.itemsize > dtype.itemsize and tokens.size:
        high = int(tokens.max())
        if high > _U16_MAX:  # only uint32 payloads get here; the vocabulary fits uint16
            vocab = max(vocab_sizes)
            raise FormatError(f"token {high} is outside the vocabulary (vocab_sizes at most {vocab})", path)
    return tokens.astype(dtype, copy=False)


def _raise_first(problems: Sequence[esf.SidecarProblem], path: str) -> None:
    """Raise the worst of ``problems`` (the first) as ``FormatError("issue: detail")``, if any."""
    if problems:
        raise FormatError(f"{problems[0].issue}: {problems[0].detail}", path)


def _read_esf(path: str) -> Row:
    """The row of one triplet, after the ESF rules of ``esf audit`` (:func:`esf.read_triplet`)."""
    codes, cond, meta, cmeta = esf.read_triplet(path, esf_files(path)[1:])
    _check_size(cond, "the sidecar", path)
    return {
        "codes": _esf_codes(codes, path),
        "n_frames": int(codes.shape[0]),
        "n_codebooks": int(codes.shape[1]),
        "fps": float(meta.fps),
        "cond": cond.astype(COND_DTYPE, copy=False),
        "cond_names": list(cmeta.names),
        "model": meta.model,
        "bandwidth": meta.bandwidth,
        "sample_rate": meta.sample_rate,
        "audio_length": meta.audio_length,
    }


def _read_npq(path: str) -> Row:
    tokens, header = npq.read(path)
    return {
        "codes": _npq_codes(tokens, header.vocab_sizes, path),
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
        Read the file's codes (and conditioning) into the row. Without it the
        row is ``audio`` alone and only headers are read: an ESF triplet's
        (:func:`audiotok.formats.esf.read_triplet_headers`, the check of
        ``esf audit``), an ``.npq`` file's (:func:`audiotok.formats.npq.read_header`).

    Raises
    ------
    FormatError
        If the file or a sidecar is invalid or missing, an ESF triplet breaks
        a rule of :func:`audiotok.formats.esf_check.check_triplet` (the first
        problem, as ``"issue: detail"``), or, with ``embed``, a code does not
        fit the codes column (uint32; for NPQ, its vocabulary).
    """
    if not embed:
        if kind == "esf":
            _raise_first(esf.read_triplet_headers(path, esf_files(path)[1:]).problems, path)
        else:
            npq.read_header(path)
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


def row_values(row: Row) -> int:
    """Values ``row`` adds to the flat columns (``codes`` and ``cond``): the memory it holds."""
    return sum(row[name].size for name in _FLAT if name in row)


def _flat_list(arrays: Sequence[np.ndarray[Any, Any]], dtype: np.dtype[Any]) -> pa.Array:
    """``list<dtype>`` Arrow array of each array's values, flat and row-major (no Python loop per value)."""
    sizes = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    if offsets[-1] > MAX_ROW_VALUES:
        raise ValueError(f"{offsets[-1]} values do not fit one Arrow list array; write smaller batches")
    flat = (
        np.concatenate([a.reshape(-1) for a in arrays], dtype=dtype, casting="safe")
        if arrays
        else np.zeros(0, dtype)
    )
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat))


def rows_to_batch(rows: Sequence[Row], schema: pa.Schema) -> pa.RecordBatch:
    """Turn rows (dicts of the :func:`features_for` columns) into one Arrow record batch.

    Raises
    ------
    TypeError
        If a row's codes are wider than the schema's ``codes`` column.
    """
    arrays = []
    for field in schema:
        values = [row[field.name] for row in rows]
        if field.name in _FLAT:
            array = _flat_list(values, np.dtype(field.type.value_type.to_pandas_dtype()))
            arrays.append(array if array.type == field.type else array.cast(field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
