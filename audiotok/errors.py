"""Exceptions and warnings raised by audiotok.

Every error meant for a user is an :class:`AudiotokError`. Its ``str()`` is one
line naming the file (when there is one) and the reason; the CLI prints exactly
that line on stderr and exits with status 1.

An error about an argument names the service parameter, never a command-line
flag: ``param="shard_index"``, and in the reason the parameter's name in
backticks (``"`shard_index` must be in [0, `shard_count`)"``). The CLI maps
each name to its flag (``--shard-index``) when it prints the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any, ClassVar


class AudiotokError(Exception):
    """Base class for errors reported to users as one line.

    Parameters
    ----------
    reason : str
        What went wrong, without the file name.
    path : str or os.PathLike, optional
        The file or folder the error is about; prefixed to the message.
    param : str or sequence of str, optional
        The service parameter(s) the error is about (``"shard_index"``), the
        first being the main one. The reason names them in backticks.

    Attributes
    ----------
    kind : str
        What the CLI's line for it starts with (``"format error"``); a
        subclass names it in its class statement: ``class X(AudiotokError, kind="x error")``.
    params : tuple of str
        ``param`` as a tuple (empty without one).
    """

    kind: ClassVar[str] = "error"

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind

    def __init__(
        self,
        reason: str,
        path: str | PathLike[str] | None = None,
        *,
        param: str | Sequence[str] | None = None,
    ) -> None:
        self.reason = " ".join(str(reason).split())  # always one line
        self.path = None if path is None else str(path)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param or ())
        super().__init__(self.reason if self.path is None else f"{self.path}: {self.reason}")

    @property
    def param(self) -> str | None:
        """The main parameter the error is about, or ``None``."""
        return self.params[0] if self.params else None

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle by reason, path and parameters (errors cross processes: Ray workers, ``--jobs``)."""
        return (_rebuild, (type(self), self.reason, self.path, self.params))


def _rebuild(
    cls: type[AudiotokError], reason: str, path: str | None, params: tuple[str, ...]
) -> AudiotokError:
    return cls(reason, path, param=params)


class FormatError(AudiotokError, kind="format error"):
    """A token or sidecar file does not follow its format specification."""


class InputError(AudiotokError, kind="input error"):
    """An input (audio file, path, glob, option value) cannot be used."""


class DeviceError(AudiotokError, kind="device error"):
    """A compute device cannot be used."""


class ModelError(AudiotokError, kind="model error"):
    """Codec weights cannot be found, downloaded or loaded."""


class OutputError(AudiotokError, kind="output error"):
    """An output file or folder cannot be written (permissions, disk full, ...)."""


class UsageError(AudiotokError, kind="usage error"):
    """Options that contradict each other or are out of range."""


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


class PrecisionFallbackWarning(AudiotokWarning):
    """A requested precision cannot be used on the device; audiotok computes in fp32 instead."""
