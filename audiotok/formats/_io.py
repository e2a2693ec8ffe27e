"""Opening and reading files for the format readers: every ``OSError`` becomes one FormatError.

The readers of :mod:`audiotok.formats` report a missing, unreadable or
misplaced file the same way, as a one-line
:class:`~audiotok.errors.FormatError` naming the file: ``no such file``,
``is a directory, not <what>`` or ``cannot read: <the system's reason>``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import BinaryIO

from audiotok.errors import FormatError

__all__ = ["io_error", "open_binary", "open_fd", "read_small", "reading"]

StrPath = str | os.PathLike[str]


def io_error(exc: OSError, path: StrPath, what: str) -> FormatError:
    """The :class:`FormatError` for ``exc``, raised while opening or reading ``path``.

    Parameters
    ----------
    exc : OSError
    path : str or os.PathLike
    what : str
        What ``path`` should be, for a folder given in its place (``"an .npq file"``).
    """
    if isinstance(exc, FileNotFoundError):
        return FormatError("no such file", path)
    if isinstance(exc, IsADirectoryError):
        return FormatError(f"is a directory, not {what}", path)
    return FormatError(f"cannot read: {exc.strerror or exc}", path)


@contextlib.contextmanager
def reading(path: StrPath, what: str) -> Iterator[None]:
    """Raise an ``OSError`` of the block as :func:`io_error`'s FormatError about ``path``.

    Raises
    ------
    FormatError
        As :func:`io_error`.
    """
    try:
        yield
    except OSError as exc:
        raise io_error(exc, path, what) from None


def open_fd(path: StrPath, what: str) -> int:
    """``os.open(path, O_RDONLY)``, a descriptor: cheapest for many small files (errors: :func:`reading`)."""
    with reading(path, what):
        return os.open(path, os.O_RDONLY)


def open_binary(path: StrPath, what: str) -> BinaryIO:
    """``open(path, "rb", buffering=0)``, unbuffered; the caller closes it (errors: :func:`reading`)."""
    with reading(path, what):
        return open(path, "rb", buffering=0)


def read_small(path: StrPath, limit: int, what: str) -> bytes:
    """All bytes of a file of at most ``limit`` bytes, in one ``os.read`` when the file allows.

    Raises
    ------
    FormatError
        As :func:`io_error`, or if the file is larger than ``limit``.
    """
    fd = open_fd(path, what)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise FormatError(f"{what} larger than {limit >> 20} MiB", path)
        data = os.read(fd, size + 1)  # a regular file gives all of it in one call
        if len(data) != size:  # short read, or the file changed: read on to the end
            chunks, total = [data], len(data)
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise FormatError(f"{what} larger than {limit >> 20} MiB", path)
            data = b"".join(chunks)
    except OSError as exc:
        raise io_error(exc, path, what) from None
    finally:
        os.close(fd)
    return data
