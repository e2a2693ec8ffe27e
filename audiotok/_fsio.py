"""Atomic file writes: a finished file or nothing, never half of one.

Data is written to a hidden temporary file in the destination folder,
``.NAME.<12 hex>.tmp``, flushed and fsynced, then moved over the destination
with :func:`os.replace`. A process killed before the move (``kill -9``, a lost
node) leaves that temporary file behind; :func:`remove_stale_temps`, which
every batch plan calls for the outputs it will write or skip, removes it.

A group of files (:func:`atomic_write_group`, a sidecar pair) is moved into
place one file at a time. Once every file of the group is complete, a commit
marker ``.FIRST.<12 hex>.group`` beside the first destination lists the group;
a process killed between the moves leaves the marker and the remaining
temporary files, and :func:`remove_stale_temps` finishes the group's moves
instead of leaving half a group (a new ``.npy`` beside an old ``.json``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from audiotok.errors import OutputError

__all__ = ["Swept", "atomic_write", "atomic_write_group", "remove_stale_temps", "write_bytes_atomic"]

log = logging.getLogger(__name__)

_HEX_BYTES = 6
"""Random bytes in a temporary or marker name (12 hex digits)."""
_LEFTOVER = re.compile(rf"\.(?P<name>.+)\.[0-9a-f]{{{2 * _HEX_BYTES}}}\.(?P<kind>tmp|group)", re.DOTALL)
"""A temporary file (``.NAME.<hex>.tmp``) or a group's commit marker (``.NAME.<hex>.group``) of NAME."""
_MARKER_BYTES = 1 << 16
"""A commit marker larger than this is not one of ours (it lists a few relative paths)."""


def _temp_beside(path: Path, kind: str = "tmp") -> tuple[int, Path]:
    """Create ``.NAME.<random>.tmp`` (or ``.group``) beside ``path``.

    Unlike :func:`tempfile.mkstemp` (always mode 0600), the file gets the
    permissions of any new file (0666 less the umask), so the finished output
    is as readable as a plain ``open(path, "wb")`` would have made it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(_HEX_BYTES)}.{kind}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover


def _output_error(exc: OSError, path: Path) -> OutputError:
    return OutputError(f"cannot write: {exc.strerror or exc}", path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a binary temp file beside ``path``; on success it replaces ``path``.

    If the ``with`` body raises, the temp file is removed and ``path`` is left
    as it was.
    """
    with atomic_write_group([path]) as (fh,):
        yield fh


def _write_marker(temps: Sequence[Path], dests: Sequence[Path]) -> Path:
    """The commit marker of a group beside its first destination: ``[temp, destination]`` pairs.

    Paths are relative to the marker's folder, so a tree moved after a crash
    still finishes in place. Written whole and fsynced before the first move.
    """
    folder = dests[0].parent
    pairs = [
        [os.path.relpath(t, folder), os.path.relpath(d, folder)] for t, d in zip(temps, dests, strict=True)
    ]
    fd, marker = _temp_beside(dests[0], "group")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps({"replace": pairs}).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        marker.unlink(missing_ok=True)
        raise
    return marker


@contextlib.contextmanager
def atomic_write_group(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[IO[bytes]]]:
    """Write several files that belong together (e.g. ``.cond.npy`` + ``.cond.json``).

    All are written to temp files first; only when every one is complete are
    they moved into place, one :func:`os.replace` each, so a failure while
    writing leaves every destination untouched. For two or more files a commit
    marker is written before the first move: once one file is moved the group
    is finished, never undone. An exception between the moves
    (``KeyboardInterrupt``) finishes them before it propagates; a process
    killed between them leaves the marker and the remaining temp files, and
    :func:`remove_stale_temps` of the first destination finishes the group.
    """
    dests = [Path(p) for p in paths]
    temps: list[Path] = []
    handles: list[IO[bytes]] = []
    current = dests[0] if dests else Path(".")
    marker: Path | None = None
    try:
        for dest in dests:
            current = dest
            fd, tmp = _temp_beside(dest)
            temps.append(tmp)
            handles.append(os.fdopen(fd, "wb"))
        yield handles
        for fh in handles:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        if len(dests) > 1:
            current = dests[0]
            marker = _write_marker(temps, dests)
        for tmp, dest in zip(temps, dests, strict=True):
            current = dest
            os.replace(tmp, dest)
    except BaseException as exc:
        for fh in handles:
            fh.close()
        if marker is not None and not temps[0].exists():  # moves in order: one is done
            _finish_moves(temps, dests, marker)  # finish the group rather than leave half of it
        else:
            for tmp in [*temps, *([marker] if marker else [])]:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        if isinstance(exc, OSError):
            raise _output_error(exc, current) from None
        raise
    if marker is not None:
        _drop_marker(marker)


def _finish_moves(temps: Sequence[Path], dests: Sequence[Path], marker: Path | None) -> None:
    """Move the rest of an interrupted group; on failure keep the marker for :func:`remove_stale_temps`."""
    try:
        for tmp, dest in zip(temps, dests, strict=True):
            if tmp.exists():
                os.replace(tmp, dest)
    except OSError:
        return
    if marker is not None:
        _drop_marker(marker)


def _drop_marker(marker: Path) -> None:
    """Remove a finished group's marker (one left behind only costs the next sweep a read)."""
    try:
        marker.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("%s: cannot remove a finished write's marker: %s", marker, exc.strerror or exc)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as fh:
        fh.write(data)


@dataclass
class Swept:
    """What :func:`remove_stale_temps` found beside the outputs.

    Attributes
    ----------
    removed : list of Path
        Temporary files and commit markers deleted (writes that never finished).
    completed : list of Path
        Destinations moved into place from a group whose commit had begun.
    """

    removed: list[Path] = field(default_factory=list)
    completed: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether anything was found."""
        return bool(self.removed or self.completed)


def _leftovers(folder: Path, names: set[str]) -> tuple[list[Path], list[Path]]:
    """The temp files and commit markers of ``names`` in ``folder`` (one scan), regular files only."""
    temps: list[Path] = []
    markers: list[Path] = []
    try:
        entries = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return temps, markers
    with entries:
        for entry in entries:
            if not entry.name.startswith("."):
                continue
            found = _LEFTOVER.fullmatch(entry.name)
            if found is None or found["name"] not in names or not entry.is_file(follow_symlinks=False):
                continue
            (temps if found["kind"] == "tmp" else markers).append(Path(entry.path))
    return temps, markers


def _finish_group(marker: Path, swept: Swept) -> None:
    """Move a committed group's remaining temp files into place, then drop its marker.

    A marker that does not parse was being written when its process died:
    no file of that group was moved yet, so its temp files are simply stale.
    Only pairs of a temp file and the destination it is named after are moved.
    An OS error (reading, moving) propagates and leaves the marker.
    """
    with marker.open("rb") as fh:
        data = fh.read(_MARKER_BYTES + 1)
    try:
        pairs = json.loads(data)["replace"]
    except (ValueError, KeyError, TypeError):
        pairs = []
    for pair in pairs if isinstance(pairs, list) else []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            continue
        tmp, dest = (marker.parent / p for p in pair)
        found = _LEFTOVER.fullmatch(tmp.name)
        if found is None or found["kind"] != "tmp" or found["name"] != dest.name or tmp.parent != dest.parent:
            continue
        try:
            os.replace(tmp, dest)
        except FileNotFoundError:  # moved before the crash
            continue
        log.info("%s: completed a write interrupted between the files of its group", dest)
        swept.completed.append(dest)
    marker.unlink(missing_ok=True)
    swept.removed.append(marker)


def remove_stale_temps(*paths: str | os.PathLike[str]) -> Swept:
    """Clean up what killed writers of ``paths`` left beside them.

    For each output path ``DIR/NAME``: first every commit marker
    ``DIR/.NAME.<hex>.group`` finishes its group (the interrupted moves of an
    :func:`atomic_write_group`), then every ``DIR/.NAME.<hex>.tmp`` (a write
    that never finished) is deleted. Nothing else is touched: other files, and
    the temporary files of other outputs, stay. Each folder is listed once, so
    a call with all of a batch's outputs costs one scan per output folder.

    Only call it for outputs no other running process is writing: a temporary
    file is deleted whatever its age. The batch commands call it at plan time
    for the outputs of their own shard, which no other shard writes (every
    shard maps inputs to outputs the same way and two inputs never share an
    output), so the temporary files of a concurrently running shard are never
    among them.

    Parameters
    ----------
    *paths : str or os.PathLike
        Output files (they need not exist).

    Returns
    -------
    Swept
        The files removed and the destinations completed. A leftover that
        cannot be removed (permissions) is logged as a warning and left.
    """
    by_folder: dict[Path, set[str]] = {}
    for p in map(Path, paths):
        by_folder.setdefault(p.parent, set()).add(p.name)
    swept = Swept()
    found = {folder: _leftovers(folder, names) for folder, names in by_folder.items()}
    for _, markers in found.values():  # groups first: their temp files are moved, not deleted
        for marker in markers:
            try:
                _finish_group(marker, swept)
            except OSError as exc:
                log.warning("%s: cannot finish an interrupted write: %s", marker, exc.strerror or exc)
    for temps, _ in found.values():
        for tmp in temps:
            try:
                tmp.unlink()
            except FileNotFoundError:  # moved into place by its group
                continue
            except OSError as exc:
                log.warning("%s: cannot remove a stale temporary file: %s", tmp, exc.strerror or exc)
                continue
            swept.removed.append(tmp)
    return swept
