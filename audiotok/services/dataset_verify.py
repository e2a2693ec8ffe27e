"""``dataset build --verify``: reopen a built dataset and check it against its sources."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from datasets import load_from_disk

from audiotok.errors import AudiotokError
from audiotok.services._common import FileFailure
from audiotok.services._dataset_rows import esf_files, read_row
from audiotok.services._dataset_scan import Kind

__all__ = ["verify_dataset"]

_SCALARS = ("n_frames", "n_codebooks", "cond_names", "format", "k_mid", "k_side", "vocab_sizes")


def _compare(stored: Mapping[str, Any], source: Mapping[str, Any]) -> str | None:
    """The first difference between a stored row and the row rebuilt from its source, or None."""
    for key in ("codes", "cond"):
        if key not in source:
            continue
        got = np.asarray(stored[key]).reshape(source[key].shape)
        if got.shape != source[key].shape or not np.array_equal(got, source[key]):
            return f"column {key!r} differs from the source file"
    for key in _SCALARS:
        if key not in source:
            continue
        value = stored[key]
        value = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
        if value != source[key]:
            return f"column {key!r} is {value!r}, source says {source[key]!r}"
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
    ``tokens_subdir/split/``. Embedded rows must equal the source token for
    token (codes, conditioning, frame and codebook counts); files placed
    under ``tokens_subdir`` (links or copies) must resolve.

    Returns
    -------
    list of FileFailure
        One per row that does not match; empty when all do.
    """
    failures: list[FileFailure] = []
    dsd = load_from_disk(dataset_dir)
    arrays = ["codes", "cond"] if kind == "esf" else ["codes"]
    for split, ds in dsd.items():
        root = roots.get(split) or next(iter(roots.values()))
        prefix = f"{tokens_subdir.rstrip('/')}/{split}/"
        # Paths only: read just the audio column. Embedded: arrays as numpy,
        # the other columns as Python values (None stays None).
        rows = (
            ({"audio": a} for a in ds.data.column("audio").to_pylist())
            if not embed
            else ds.with_format("numpy", columns=arrays, output_all_columns=True)
        )
        for stored in rows:
            audio = str(stored["audio"])
            src = os.path.join(root, audio.removeprefix(prefix))
            placed = [os.path.join(dataset_dir, p) for p in (esf_files(audio) if kind == "esf" else [audio])]
            # Without embedding the files must be there; with it, only placed files must resolve.
            if any(not os.path.exists(p) and (not embed or os.path.lexists(p)) for p in placed):
                failures.append(FileFailure(path=src, error=f"{audio}: file in the dataset does not resolve"))
                continue
            if not embed:
                continue
            try:
                diff = _compare(stored, read_row(kind, src, audio, embed=True))
            except AudiotokError as exc:
                diff = exc.reason
            if diff:
                failures.append(FileFailure(path=src, error=f"verify: {diff}"))
    return failures
