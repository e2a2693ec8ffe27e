"""Which codec made a build's token files: the identity manifests above them (``tokens.json``).

Every encode writes a manifest at the root of its output
(:mod:`audiotok.sinks.manifest`); ``dataset build`` reads the nearest one
above each folder of token files it reads (:func:`audiotok.sinks.manifest.find`),
refuses files made by different codecs, and puts the manifest into the
dataset folder (``OUT/tokens.json``) so the dataset carries its codec's
identity. Token files under no manifest (older encodes, other tools) are
built as before; a build under no manifest gets no ``tokens.json``. The
dataset's own files (Arrow shards, ``dataset_info.json``, ``state.json``)
do not change either way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import UsageError
from audiotok.services.dataset import scan
from audiotok.sinks import manifest
from audiotok.sinks.manifest import Manifest
from audiotok.tokens import CodecInfo

__all__ = ["find_manifests", "write_manifest"]


def _same(a: CodecInfo, b: CodecInfo) -> bool:
    """One codec: the same name, and the same weights where both know them (the rule of encode)."""
    shas = a.weights_sha256, b.weights_sha256
    return a.codec == b.codec and (None in shas or shas[0] == shas[1])


def _describe(found: Manifest) -> str:
    sha = found.info.weights_sha256
    return f"{found.info.codec}{f' (weights sha256 {sha[:12]}…)' if sha else ''} ({found.path})"


def find_manifests(
    roots: Mapping[str, str], suffix: str, *, recursive: bool, total: int
) -> tuple[Manifest, ...]:
    """The manifests above the first ``total`` token files a build reads, each once, in scan order.

    Parameters
    ----------
    roots : mapping of str to str
        Split name -> real folder of its token files (:func:`scan.split_roots`).
    suffix : str
        ``.npq`` or ``.ecdc``.
    recursive : bool
        Scan subfolders.
    total : int
        Files the build reads (after ``max_files``): manifests of later files do not count.

    Returns
    -------
    tuple of Manifest
        Empty when no file is under a manifest.

    Raises
    ------
    UsageError
        If two of them name different codecs (or other weights of one codec), naming both.
    FormatError
        If the nearest ``tokens.json`` above a folder is unreadable.
    """
    found: dict[str, Manifest] = {}
    seen = 0
    for folder in scan.folders(roots, suffix, recursive=recursive):
        nearest = manifest.find(Path(folder.files[0].path))  # one lookup per folder: its files share it
        if nearest is not None and str(nearest.path) not in found:
            first = next(iter(found.values()), None)
            if first is not None and not _same(first.info, nearest.info):
                raise UsageError(
                    f"token files made by different codecs: {_describe(first)} and {_describe(nearest)}; "
                    "build one dataset per codec"
                )
            found[str(nearest.path)] = nearest
        seen += len(folder.files)
        if seen >= total:
            break
    return tuple(found.values())


def write_manifest(dataset_dir: str | os.PathLike[str], found: Sequence[Manifest]) -> None:
    """Put the codec identity of ``found`` into ``dataset_dir`` as ``tokens.json`` (nothing without one).

    One manifest is copied byte for byte; several of one codec are merged as
    encodes merge them (the sinks' union, the weights' sha256 where one
    knows it, the first one's audiotok version).

    Raises
    ------
    OutputError
        If it cannot be written.
    """
    if not found:
        return
    target = Path(dataset_dir) / manifest.MANIFEST
    first = found[0]
    if len(found) == 1 and first.path is not None:
        write_bytes_atomic(target, first.path.read_bytes())
        return
    info = next((m.info for m in found if m.info.weights_sha256), first.info)
    sinks = tuple(sorted({s for m in found for s in m.sinks}))
    merged = Manifest(info, sinks, first.audiotok)
    write_bytes_atomic(target, (json.dumps(merged.to_json(), indent=2) + "\n").encode())
