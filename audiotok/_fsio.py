"""Atomic file writes: a finished file or nothing, never half of one.

Data is written to a hidden temporary file in the destination folder, flushed
and fsynced, then moved over the destination with :func:`os.replace`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from audiotok.errors import OutputError


def _temp_beside(path: Path) -> tuple[int, Path]:
    """Create ``.NAME.<random>.tmp`` beside ``path``.

    Unlike :func:`tempfile.mkstemp` (always mode 0600), the file gets the
    permissions of any new file (0666 less the umask), so the finished output
    is as readable as a plain ``open(path, "wb")`` would have made it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
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


@contextlib.contextmanager
def atomic_write_group(paths: Sequence[str | os.PathLike[str]]) -> Iterator[list[IO[bytes]]]:
    """Write several files that belong together (e.g. ``.cond.npy`` + ``.cond.json``).

    All are written to temp files first; only when every one is complete are
    they moved into place, one :func:`os.replace` each, so a failure while
    writing leaves every destination untouched.
    """
    dests = [Path(p) for p in paths]
    temps: list[Path] = []
    handles: list[IO[bytes]] = []
    current = dests[0] if dests else Path(".")
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
        for tmp, dest in zip(temps, dests, strict=True):
            current = dest
            os.replace(tmp, dest)
    except BaseException as exc:
        for fh in handles:
            fh.close()
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if isinstance(exc, OSError):
            raise _output_error(exc, current) from None
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as fh:
        fh.write(data)
