"""``dataset build --verify``: reopen a built dataset and check it against its sources."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import load_from_disk

from audiotok.errors import AudiotokError
from audiotok.formats import token_table as table
from audiotok.records import FileFailure
from audiotok.services.dataset._rows import esf_files, read_row
from audiotok.services.dataset.scan import Kind

__all__ = ["verify_dataset"]

_SCALARS = ("n_frames", "n_codebooks", "cond_names", "format", "k_mid", "k_side", "vocab_sizes")


def _compare(stored: pa.Table, i: int, source: Mapping[str, Any]) -> str | None:
    """The first difference between stored row ``i`` and the row rebuilt from its source, or None."""
    for key in _SCALARS:
        if key in source and (value := table.scalar(stored, key, i)) != source[key]:
            return f"column {key!r} is {value!r}, source says {source[key]!r}"
    arrays = {"codes": table.row_codes} | ({"cond": table.row_cond} if "cond" in source else {})
    for key, read in arrays.items():
        try:
            got = read(stored, i)
        except AudiotokError as exc:
            return exc.reason
        if got.shape != source[key].shape or not np.array_equal(got, source[key]):
            return f"column {key!r} differs from the source file"
    return None


def verify_dataset(
    dataset_dir: str,
    kind: Kind,
    roots: Mapping[str, str],
    tokens_subdir: str,
    *,
    embed: bool,
) -> list[FileFailure]:
    """Check every row of the dataset saved in ``dataset_dir`` against its source.

    Each row's source is ``roots[split]`` (or the only root, for a split made
    by ``--valid-fraction``) joined with the row's ``audio`` path below
    ``tokens_subdir/split/`` (or, without ``audio``, its ``id`` and the kind's
    suffix). Embedded rows must equal the source token for
    token (codes, conditioning, frame and codebook counts); files placed
    under ``tokens_subdir`` (links or copies) must resolve.

    Returns
    -------
    list of FileFailure
        One per row that does not match; empty when all do.
    """
    failures: list[FileFailure] = []
    dsd = load_from_disk(dataset_dir)
    for split, ds in dsd.items():
        root = roots.get(split) or next(iter(roots.values()))
        prefix = f"{tokens_subdir.rstrip('/')}/{split}/"
        # Arrow batches: the codes and cond columns are compared as numpy views.
        for batch in ds.with_format("arrow").iter(batch_size=256):
            failures += _verify_batch(batch, dataset_dir, kind, root, prefix, embed=embed)
    return failures


def _verify_batch(
    batch: pa.Table, dataset_dir: str, kind: Kind, root: str, prefix: str, *, embed: bool
) -> list[FileFailure]:
    failures: list[FileFailure] = []
    suffix = ".ecdc" if kind == "esf" else ".npq"
    if "audio" in batch.column_names:
        audios = batch.column("audio").to_pylist()
    else:  # embedded, nothing placed: rows name their source in `id`
        audios = [prefix + i + suffix for i in batch.column("id").to_pylist()]
    for i, audio in enumerate(audios):
        src = os.path.join(root, audio.removeprefix(prefix))
        files = esf_files(audio) if kind == "esf" else [audio]
        placed = [os.path.join(dataset_dir, p) for p in files] if "audio" in batch.column_names else []
        # Without embedding the files must be there; with it, only placed files must resolve.
        if any(not os.path.exists(p) and (not embed or os.path.lexists(p)) for p in placed):
            failures.append(FileFailure(path=src, error=f"{audio}: file in the dataset does not resolve"))
            continue
        if not embed:
            continue
        try:
            diff = _compare(batch, i, read_row(kind, src, audio, embed=True))
        except AudiotokError as exc:
            diff = exc.reason
        if diff:
            failures.append(FileFailure(path=src, error=f"verify: {diff}"))
    return failures
