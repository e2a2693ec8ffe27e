"""Finding input files and placing outputs.

Every batch command takes ``INPUTS...``: files, glob patterns (``**`` included)
and folders (scanned with ``recursive``), and lists of files (``--from-list``,
:class:`FileList`). Outputs mirror each input's path relative to its root, so
``a/take1.wav`` and ``b/take1.wav`` never collide.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiotok.errors import UsageError

__all__ = [
    "AUDIO_SUFFIXES",
    "FileList",
    "InputFile",
    "Unmatched",
    "check_shard",
    "expand_inputs",
    "in_shard",
    "iter_files",
    "mirror_path",
    "read_file_list",
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


@dataclass(frozen=True)
class FileList:
    """A file that lists inputs (``--from-list``), given among the inputs of :func:`expand_inputs`.

    One path per line, or JSON Lines objects with a ``path`` (other keys are
    ignored); blank lines and lines starting with ``#`` are skipped. Relative
    paths are relative to the list file's folder, and outputs mirror each
    file's path below that folder (a listed path outside it: its whole
    absolute path). A listed file is kept whatever its suffix, as a file named
    on the command line is; a listed path that is missing or a folder is
    reported like an argument that named nothing.
    """

    path: Path

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def read_file_list(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """The paths listed in ``path`` as ``(line number, path as written)``, in order (see :class:`FileList`).

    Raises
    ------
    UsageError
        If the list cannot be read, or a line that starts with ``{`` is not a
        JSON object with a non-empty string ``path`` (naming the line).
    """
    return [(n, entry) for n, entry, _ in read_list_records(path)]


def read_list_records(path: str | os.PathLike[str]) -> list[tuple[int, str, dict[str, Any]]]:
    """:func:`read_file_list` with each line's JSON object (``{}`` for a plain path line).

    Raises
    ------
    UsageError
        As :func:`read_file_list`.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read the list of inputs: {why}", path, param="from_list") from None
    out: list[tuple[int, str, dict[str, Any]]] = []
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        obj: Any = {}
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"line {n}: not valid JSON ({exc.msg})", path, param="from_list") from None
            entry = obj.get("path") if isinstance(obj, dict) else None
            if not isinstance(entry, str) or not entry.strip():
                raise UsageError(
                    f'line {n}: a JSON line needs a non-empty string "path"', path, param="from_list"
                )
            line = entry.strip()
        out.append((n, line, obj))
    return out


def _listed(listing: FileList) -> Iterator[tuple[int, Path, Path]]:
    """``(line, file, root)`` of each path in ``listing``: relative to its folder, mirrored from it."""
    base = listing.path.parent
    abs_base = Path(os.path.abspath(base))
    for n, entry in read_file_list(listing.path):
        path = Path(os.path.normpath(base / entry))
        if not path.is_absolute() and not path.parts[:1] == ("..",):
            yield n, path, base  # below the list's folder, spelled from it
            continue
        absolute = Path(os.path.abspath(path))
        inside = absolute.is_relative_to(abs_base)
        yield n, absolute, abs_base if inside else Path(absolute.anchor)


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
        Files, glob patterns (``*``, ``?``, ``[...]``, ``**``), folders, or
        :class:`FileList` (the files a list file names).
    suffixes : sequence of str or None
        Lower-case suffixes to keep (``(".wav", ".flac")``); ``None`` keeps all.
        A file named explicitly (or listed) is kept whatever its suffix.
    recursive : bool
        Scan folders recursively (globs always honour ``**``).

    Returns
    -------
    files : list of InputFile
        In a stable order: per input, sorted by path.
    unmatched : list of Unmatched
        Inputs that named nothing (missing file, empty glob, empty folder; a
        listed path that is missing or a folder).

    Raises
    ------
    UsageError
        If a :class:`FileList` cannot be read or has a bad line (:func:`read_file_list`).
    """
    keep = None if suffixes is None else tuple(s.lower() for s in suffixes)
    files: list[InputFile] = []
    unmatched: list[Unmatched] = []
    seen = _Seen()

    def add(path: Path, root: Path, is_link: bool | None = None) -> None:
        if seen.first(os.fspath(path), is_link):
            files.append(InputFile(path, root))

    for raw in inputs:
        if isinstance(raw, FileList):
            for n, p, root in _listed(raw):
                if p.is_file():
                    add(p, root)
                else:
                    what = "a folder (a list names files)" if p.is_dir() else "no such file"
                    unmatched.append(Unmatched(str(p), f"{what}; listed in {raw.path}, line {n}"))
            continue
        arg = os.fspath(raw)
        path = Path(arg)
        if path.is_dir():
            found = _scan_folder(path, recursive, keep)
            if not found:
                hint = "" if recursive else " (use `recursive` for subfolders)"
                unmatched.append(Unmatched(arg, f"no matching files in folder{hint}"))
            for p, is_link in found:
                add(p, path, is_link)
        elif path.is_file():
            add(path, path.parent)
        elif _GLOB_CHARS & set(arg):
            root = _glob_root(arg)
            hits = [Path(p) for p in glob.glob(arg, recursive=True)]
            found_glob = sorted((p for p in hits if p.is_file() and _matches(p, keep)), key=_sort_key)
            if not found_glob:
                unmatched.append(Unmatched(arg, "glob matched no files"))
            for p in found_glob:
                add(p, root)
        else:
            unmatched.append(Unmatched(arg, "no such file or folder"))
    return files, unmatched


def _sort_key(path: Path) -> tuple[str, ...]:
    """Key that orders paths as ``sorted(paths)`` does, minus a Python ``__lt__`` per comparison."""
    return path.parts if os.name != "nt" else tuple(os.path.normcase(part) for part in path.parts)


class _Seen:
    """Resolved paths met so far, to list a file reached twice (through symlinks) once.

    Resolving every file costs an lstat per path component; a file that is
    not a symlink resolves to its resolved folder plus its name, so each
    folder is resolved once.
    """

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.real_dirs: dict[str, str] = {}

    def first(self, path: str, is_link: bool | None = None) -> bool:
        """Whether ``path`` resolves to a file not met before (and remember it)."""
        if is_link is None:
            is_link = os.path.islink(path)
        if is_link:
            key = os.path.realpath(path)
        else:
            parent, name = os.path.split(path)
            real = self.real_dirs.get(parent)
            if real is None:
                real = self.real_dirs[parent] = os.path.realpath(parent or ".")
            key = os.path.join(real, name)
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


def _listing(folder: str, keep: Sequence[str] | None) -> Iterator[tuple[str, bool, bool]]:
    """``(path, is_dir, is_link)`` of the matching files and the real subfolders of ``folder``, sorted.

    ``os.scandir`` gives each entry's type from the directory itself, so no
    file costs a ``stat``. Unreadable folders have no entries.
    """
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except (PermissionError, FileNotFoundError, NotADirectoryError):
        return iter(())
    found: list[tuple[str, str, bool, bool]] = []
    for entry in entries:
        try:
            is_link = entry.is_symlink()
            if entry.is_dir():
                if not is_link:  # like pathlib's "**": symlinked folders are not descended into
                    found.append((os.path.normcase(entry.name), entry.name, True, False))
            elif (keep is None or os.path.splitext(entry.name)[1].lower() in keep) and entry.is_file():
                found.append((os.path.normcase(entry.name), entry.name, False, is_link))
        except OSError:
            continue
    found.sort()
    prefix = "" if folder == "." else os.path.join(folder, "")
    return ((prefix + name, is_dir, is_link) for _, name, is_dir, is_link in found)


def _walk_sorted(folder: str, keep: Sequence[str] | None) -> Iterator[tuple[str, bool]]:
    """Files below ``folder`` with whether each is a symlink, lazily, in ``sorted(paths)`` order.

    What ``Path(folder).glob("**/*")`` finds, as ``str(Path)`` spells it:
    symlinked folders are listed but not descended into, unreadable folders
    are skipped. Each folder is listed in name order and entered where its
    name falls, which is the order of sorting every path by its parts.
    """
    stack = [_listing(os.fspath(Path(folder)), keep)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif item[1]:
            stack.append(_listing(item[0], keep))
        else:
            yield item[0], item[2]


def iter_files(folder: str | os.PathLike[str], suffixes: Sequence[str] | None) -> Iterator[str]:
    """The files ``expand_inputs([folder], suffixes=suffixes, recursive=True)`` finds, lazily, as strings.

    Same files, same order, same spelling (``str(item.path)``), found as the
    walk goes: a caller can start on the first files before the scan ends.

    Parameters
    ----------
    folder : str or os.PathLike
        An existing folder, scanned recursively.
    suffixes : sequence of str or None
        Lower-case suffixes to keep; ``None`` keeps all.
    """
    keep = None if suffixes is None else tuple(s.lower() for s in suffixes)
    seen = _Seen()
    for path, is_link in _walk_sorted(os.fspath(folder), keep):
        if seen.first(path, is_link):
            yield path


def _scan_folder(folder: Path, recursive: bool, keep: Sequence[str] | None) -> list[tuple[Path, bool | None]]:
    """Files in ``folder`` (and below with ``recursive``), sorted, with whether each is a symlink.

    ``None`` where that is not known without another system call.
    """
    if recursive:
        return [(Path(path), is_link) for path, is_link in _walk_sorted(os.fspath(folder), keep)]
    # One level: os.scandir tells file type and symlink from the directory entry,
    # without a stat per file (what Path.glob("*") followed by is_file() costs).
    try:
        with os.scandir(folder) as entries:
            found = [(e.name, e.is_symlink()) for e in entries if e.is_file()]
    except PermissionError:  # as Path.glob: an unreadable folder has no matches
        return []
    found.sort(key=lambda item: os.path.normcase(item[0]))
    out: list[tuple[Path, bool | None]] = []
    for name, is_link in found:
        p = folder / name
        if _matches(p, keep):
            out.append((p, is_link))
    return out


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


def check_shard(shard_index: int, shard_count: int) -> None:
    """Refuse a shard that does not exist.

    Raises
    ------
    UsageError
        If ``shard_count < 1`` or ``shard_index`` is not in ``[0, shard_count)``.
    """
    if shard_count < 1 or not 0 <= shard_index < shard_count:
        raise UsageError(
            f"`shard_index` must be in [0, `shard_count`); got {shard_index} of {shard_count}",
            param=("shard_index", "shard_count"),
        )


def in_shard(relative: str | os.PathLike[str], shard_index: int, shard_count: int) -> bool:
    """Whether ``relative`` belongs to shard ``shard_index`` of ``shard_count``.

    Raises
    ------
    UsageError
        If the shard does not exist (:func:`check_shard`).
    """
    check_shard(shard_index, shard_count)
    return shard_count == 1 or shard_of(relative, shard_count) == shard_index
