"""Warnings and log records on stderr, one line each: the CLI's only rendering path for them.

Services warn with :class:`~audiotok.errors.AudiotokWarning` (``warnings.warn``)
or log through ``logging.getLogger(__name__)``; they never print. For the
length of one command, :func:`diagnostics` shows

- audiotok's warnings as ``warning: PATH: reason`` (no source lines);
- audiotok's log records as ``info: ...`` / ``debug: ...`` with ``-v`` / ``-vv``;
- other packages' ``DeprecationWarning``, ``FutureWarning`` and ``UserWarning``
  (torch, torchaudio, dac, encodec, audiotools, ...) only with ``-v``, as
  ``warning: FILE:LINE: Category: message``;
- nothing but errors with ``-q``.

Filters given with ``python -W`` or ``PYTHONWARNINGS`` are left as they are.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import TextIO

from audiotok.cli._console import err_console
from audiotok.errors import AudiotokWarning

#: Warning categories that, from other packages, are noise to a user (shown with -v).
THIRD_PARTY_NOISE: tuple[type[Warning], ...] = (
    DeprecationWarning,
    PendingDeprecationWarning,
    FutureWarning,
    UserWarning,
)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _where(filename: str, lineno: int) -> str:
    """``filename:lineno`` shortened: inside site-packages from the package on, else as given."""
    _, sep, inside = filename.rpartition(f"site-packages{os.sep}")
    return f"{inside if sep else filename}:{lineno}"


def warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int) -> str:
    """The one line shown for a warning: ``warning: PATH: reason`` for audiotok's own."""
    if issubclass(category, AudiotokWarning):
        return f"warning: {_one_line(message)}"
    return f"warning: {_where(filename, lineno)}: {category.__name__}: {_one_line(message)}"


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    err_console.print(
        warning_line(message, category, filename, lineno), markup=False, highlight=False, soft_wrap=True
    )


class LineHandler(logging.Handler):
    """Log records as ``level: message``, one line each, on the CLI's stderr console."""

    def emit(self, record: logging.LogRecord) -> None:
        """Print ``record`` (never raises: logging's own error handling applies)."""
        try:
            line = f"{record.levelname.lower()}: {_one_line(record.getMessage())}"
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        except Exception:  # logging's contract: a handler reports its own failures
            self.handleError(record)


def _set_filters(verbose: int, quiet: bool) -> None:
    if sys.warnoptions:  # the user chose with -W / PYTHONWARNINGS
        return
    if quiet:
        warnings.simplefilter("ignore")
        return
    if verbose:
        warnings.simplefilter("default")  # everything, once per source line
    else:
        for category in THIRD_PARTY_NOISE:
            warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("default", category=AudiotokWarning)  # first in the list: always wins


@contextlib.contextmanager
def diagnostics(verbose: int, quiet: bool) -> Iterator[None]:
    """Render warnings and audiotok's logging as one-line messages on stderr, restoring both after."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logger = logging.getLogger("audiotok")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.handlers[:] = [LineHandler()]
    logger.setLevel(level)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            _set_filters(verbose, quiet)
            warnings.showwarning = _show_warning
            yield
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
