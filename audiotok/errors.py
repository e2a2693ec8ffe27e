"""Exceptions and warnings raised by audiotok.

Every error meant for a user is an :class:`AudiotokError`. Its ``str()`` is one
line naming the file (when there is one) and the reason; the CLI prints exactly
that line on stderr and exits with status 1.
"""

from __future__ import annotations

from os import PathLike


class AudiotokError(Exception):
    """Base class for errors reported to users as one line.

    Parameters
    ----------
    reason : str
        What went wrong, without the file name.
    path : str or os.PathLike, optional
        The file or folder the error is about; prefixed to the message.
    """

    kind = "error"

    def __init__(self, reason: str, path: str | PathLike[str] | None = None) -> None:
        self.reason = " ".join(str(reason).split())  # always one line
        self.path = None if path is None else str(path)
        super().__init__(self.reason if self.path is None else f"{self.path}: {self.reason}")


class FormatError(AudiotokError):
    """A token or sidecar file does not follow its format specification."""

    kind = "format error"


class InputError(AudiotokError):
    """An input (audio file, path, glob, option value) cannot be used."""

    kind = "input error"


class DeviceError(AudiotokError):
    """A compute device cannot be used."""

    kind = "device error"


class ModelError(AudiotokError):
    """Codec weights cannot be found, downloaded or loaded."""

    kind = "model error"


class OutputError(AudiotokError):
    """An output file or folder cannot be written (permissions, disk full, ...)."""

    kind = "output error"


class UsageError(AudiotokError):
    """Options that contradict each other or are out of range."""

    kind = "usage error"


class AudiotokWarning(UserWarning):
    """Base class of audiotok's own warnings (device fallback, ...).

    Like :class:`AudiotokError`, its ``str()`` is one line: ``PATH: reason``
    when it is about a file, else the reason. The CLI prints
    ``warning: <that line>`` on stderr.

    Parameters
    ----------
    reason : str
        What happened, without the file name.
    path : str or os.PathLike, optional
        The file the warning is about; prefixed to the message.
    """

    def __init__(self, reason: str, path: str | PathLike[str] | None = None) -> None:
        self.reason = " ".join(str(reason).split())  # always one line
        self.path = None if path is None else str(path)
        super().__init__(self.reason if self.path is None else f"{self.path}: {self.reason}")


class DeviceFallbackWarning(AudiotokWarning):
    """An explicitly requested device is unavailable; audiotok runs on the CPU instead."""
