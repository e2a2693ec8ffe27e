"""Finding input files and placing outputs.

Every batch command takes ``INPUTS...``: files, glob patterns (``**`` included)
and folders (scanned with ``recursive``). Outputs mirror each input's path
relative to its root, so ``a/take1.wav`` and ``b/take1.wav`` never collide.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiotok.errors import InputError

__all__ = [
    "AUDIO_SUFFIXES",
    "InputFile",
    "Unmatched",
    "expand_inputs",
    "in_shard",
    "mirror_path",
]

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputFile:
    """One file found from the command line.

    Attributes
    ----------
    path : Path
        The file.
    root : Path
        The folder its output path is mirrored from: the folder given on the
        command line, the fixed part of a glob, or the file's own folder.
    """

    path: Path
    root: Path

    @property
    def relative(self) -> Path:
        """``path`` relative to ``root``."""
        return self.path.relative_to(self.root)


@dataclass(frozen=True)
class Unmatched:
    """An input argument that named no usable file, and why."""

    arg: str
    reason: str


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _matches(path: Path, suffixes: Sequence[str] | None) -> bool:
    return suffixes is None or path.suffix.lower() in suffixes


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    suffixes: Sequence[str] | None,
    recursive: bool = False,
) -> tuple[list[InputFile], list[Unmatched]]:
    """Expand files, globs and folders into a sorted, de-duplicated file list.

    Parameters
    ----------
    inputs : iterable of str or os.PathLike
        Files, glob patterns (``*``, ``?``, ``[...]``, ``**``) or folders.
    suffixes : sequence of str or None
        Lower-case suffixes to keep (``(".wav", ".flac")``); ``None`` keeps all.
        A file named explicitly is kept whatever its suffix.
    recursive : bool
        Scan folders recursively (globs always honour ``**``).

    Returns
    -------
    files : list of InputFile
        In a stable order: per input, sorted by path.
    unmatched : list of Unmatched
        Inputs that named nothing (missing file, empty glob, empty folder).
    """
    keep = None if suffixes is None else tuple(s.lower() for s in suffixes)
    files: list[InputFile] = []
    unmatched: list[Unmatched] = []
    seen: set[Path] = set()

    def add(path: Path, root: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(InputFile(path, root))

    for raw in inputs:
        arg = os.fspath(raw)
        path = Path(arg)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and _matches(p, keep))
            if not found:
                hint = "" if recursive else " (use --recursive for subfolders)"
                unmatched.append(Unmatched(arg, f"no matching files in folder{hint}"))
            for p in found:
                add(p, path)
        elif path.is_file():
            add(path, path.parent)
        elif _GLOB_CHARS & set(arg):
            root = _glob_root(arg)
            found = sorted(
                Path(p)
                for p in glob.glob(arg, recursive=True)
                if Path(p).is_file() and _matches(Path(p), keep)
            )
            if not found:
                unmatched.append(Unmatched(arg, "glob matched no files"))
            for p in found:
                add(p, root)
        else:
            unmatched.append(Unmatched(arg, "no such file or folder"))
    return files, unmatched


def mirror_path(item: InputFile, outdir: Path | None, suffix: str) -> Path:
    """Where the output for ``item`` goes.

    With ``outdir``, the input's path relative to its root is recreated under
    ``outdir``; without, the output sits beside the input. ``suffix`` replaces
    the input's suffix (``".npq"``).
    """
    if outdir is None:
        return item.path.with_suffix(suffix)
    return (outdir / item.relative).with_suffix(suffix)


def shard_of(relative: str | os.PathLike[str], shard_count: int) -> int:
    """Stable shard number of a relative path: ``sha1(posix path) mod shard_count``.

    Stable across machines, Python versions and runs (unlike ``hash()``).
    """
    key = Path(relative).as_posix().encode("utf-8")
    return int.from_bytes(hashlib.sha1(key).digest()[:8], "big") % shard_count


def in_shard(relative: str | os.PathLike[str], shard_index: int, shard_count: int) -> bool:
    """Whether ``relative`` belongs to shard ``shard_index`` of ``shard_count``.

    Raises
    ------
    InputError
        If ``shard_count < 1`` or ``shard_index`` is not in ``[0, shard_count)``.
    """
    if shard_count < 1 or not 0 <= shard_index < shard_count:
        raise InputError(f"--shard-index must be in [0, --shard-count); got {shard_index} of {shard_count}")
    return shard_count == 1 or shard_of(relative, shard_count) == shard_index
