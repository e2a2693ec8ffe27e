"""Finding the token files of a dataset build and assigning them to splits.

Paths are handled as strings with :mod:`os` functions: a 10,000-file corpus
costs one ``scandir`` per folder and no ``stat`` per file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audiotok.errors import InputError, UsageError

__all__ = [
    "SUFFIXES",
    "Folder",
    "Kind",
    "assign_valid",
    "check_split_name",
    "count",
    "detect_suffix",
    "folders",
    "inside",
    "parse_split_map",
    "split_roots",
]

Kind = Literal["esf", "npq"]
#: Token-file suffix -> dataset kind.
SUFFIXES: dict[str, Kind] = {".ecdc": "esf", ".npq": "npq"}
_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")


@dataclass(frozen=True)
class Folder:
    """One scanned folder of a split.

    Attributes
    ----------
    split : str
        The split its files go to (before ``--valid-fraction``).
    path : str
        Absolute path of the folder, below the real (symlink-free) input root.
    relative : str
        POSIX path relative to the split's folder (``""`` for the split's folder itself).
    files : list of os.DirEntry
        The token files (``*suffix``), sorted by name.
    """

    split: str
    path: str
    relative: str
    files: list[os.DirEntry[str]]


def check_split_name(name: str) -> str:
    if not _SPLIT_NAME.match(name):
        raise UsageError(f"invalid split name {name!r}: use letters, digits, '_' and '.'")
    return name


def parse_split_map(text: str) -> dict[str, str]:
    """Parse ``"train=dirA,valid=dirB"`` into ``{"train": "dirA", "valid": "dirB"}``.

    Raises
    ------
    UsageError
        If an entry is not ``NAME=DIR``, a split name is invalid or repeated.
    """
    result: dict[str, str] = {}
    for entry in text.split(","):
        name, sep, folder = entry.strip().partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise UsageError(f"`split_map` entry {entry.strip()!r} is not NAME=DIR", param="split_map")
        name = check_split_name(name.strip())
        if name in result:
            raise UsageError(f"`split_map` names split {name!r} twice", param="split_map")
        result[name] = folder.strip()
    return result


def inside(child: str, parent: str) -> bool:
    """Whether the absolute path ``child`` is ``parent`` or below it (string test, no I/O)."""
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def split_roots(tokens_dir: Path, split: str, split_map: Mapping[str, str] | None) -> dict[str, str]:
    """Real absolute folder of each split, each inside ``tokens_dir``.

    Raises
    ------
    InputError
        If ``tokens_dir`` or a split folder is missing.
    UsageError
        If a split folder escapes ``tokens_dir`` or two split folders nest.
    """
    if not tokens_dir.is_dir():
        raise InputError("no such folder", tokens_dir)
    root = os.path.realpath(tokens_dir)
    if not split_map:
        return {check_split_name(split): root}
    roots: dict[str, str] = {}
    for name, folder in split_map.items():
        real = os.path.realpath(os.path.join(root, folder))
        if not inside(real, root):
            raise UsageError(f"split folder {folder!r} escapes TOKENS_DIR {tokens_dir}")
        if not os.path.isdir(real):
            raise InputError(f"split folder {folder!r} not found", tokens_dir)
        roots[name] = real
    names = list(roots)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if inside(roots[a], roots[b]) or inside(roots[b], roots[a]):
                raise UsageError(f"split folders of {a!r} and {b!r} overlap")
    return roots


def _scan_dir(top: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(top) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise InputError(f"cannot list folder: {exc.strerror or exc}", top) from None


def _walk_entries(top: str, recursive: bool) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """``(folder, all its entries, sorted)`` for ``top`` and, if recursive, its subfolders (sorted)."""
    entries = _scan_dir(top)
    yield top, entries
    if recursive:
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                yield from _walk_entries(e.path, recursive)


def _walk(top: str, recursive: bool) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """``(folder, sorted file entries)`` for ``top`` and, if recursive, its subfolders (sorted)."""
    for folder, entries in _walk_entries(top, recursive):
        yield folder, [e for e in entries if e.is_file()]  # follows symlinks to files


def detect_suffix(roots: Mapping[str, str], recursive: bool) -> str:
    """The one token suffix (``.ecdc`` or ``.npq``) present under ``roots``.

    Raises
    ------
    InputError
        If neither or both are present.
    """
    found: set[str] = set()
    for top in roots.values():
        for _, files in _walk(top, recursive):
            found.update(s for s in SUFFIXES if any(e.name.endswith(s) for e in files))
            if len(found) == len(SUFFIXES):
                break
    if not found:
        hint = "" if recursive else " (use `recursive` for subfolders)"
        raise InputError(f"no .ecdc or .npq files found{hint}", next(iter(roots.values())))
    if len(found) > 1:
        raise UsageError("both .ecdc and .npq files found; choose one with `suffix`", param="suffix")
    return found.pop()


def count(roots: Mapping[str, str], suffix: str, *, recursive: bool) -> int:
    """Number of ``*suffix`` files :func:`scan` will yield (refused ones included)."""
    return sum(
        sum(1 for e in files if e.name.endswith(suffix))
        for top in roots.values()
        for _, files in _walk(top, recursive)
    )


def folders(roots: Mapping[str, str], suffix: str, *, recursive: bool) -> Iterator[Folder]:
    """Every folder under each split root that holds ``*suffix`` files, sorted by path."""
    for split, top in roots.items():
        for path, entries in _walk_entries(top, recursive):
            files = [e for e in entries if e.name.endswith(suffix) and e.is_file()]
            if not files:
                continue
            rel = "" if path == top else os.path.relpath(path, top).replace(os.sep, "/")
            yield Folder(split=split, path=path, relative=rel, files=files)


def assign_valid(relative: str, fraction: float, seed: int) -> bool:
    """Whether ``relative`` goes to the validation split: ``sha1(seed:path) < fraction``.

    Deterministic across machines and runs, and stable when files are added.
    """
    digest = hashlib.sha1(f"{seed}:{relative}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
