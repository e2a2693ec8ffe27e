"""From an error to one line and an exit status: the table `app.main()` applies (hf `cli/_errors.py`).

Library errors name service parameters in backticks (``"`shard_index` must
be ..."``, :mod:`audiotok.errors`); here each becomes its flag
(``--shard-index``), in error lines and in the ``error`` of failed records.
"""

from __future__ import annotations

import re

from audiotok.errors import (
    AudiotokError,
    DeviceError,
    FormatError,
    InputError,
    ModelError,
    OutputError,
    UsageError,
)

__all__ = ["EXIT_CODES", "FLAGS", "exit_code_for", "flag_for", "format_error", "with_flags"]

#: AudiotokError subclass -> exit status. Usage errors share Typer's 2.
EXIT_CODES: dict[type[AudiotokError], int] = {
    UsageError: 2,
    FormatError: 1,
    InputError: 1,
    ModelError: 1,
    OutputError: 1,
    DeviceError: 1,
    AudiotokError: 1,
}

#: Service parameter -> what the user typed, where that is not ``--`` + the name with dashes.
FLAGS: dict[str, str] = {
    "inputs": "INPUTS",
    "src": "SRC",
    "producers": "--producer",
    "suffixes": "--extensions",
    "architecture": "--codec",
    "workers": "--jobs",
    "worker_count": "--workers",
    "skip_bad": "--skip-errors",
}

_PARAM = re.compile(r"`([a-z][a-z0-9_]*)`")


def flag_for(param: str) -> str:
    """The flag of service parameter ``param``: ``shard_index`` -> ``--shard-index``."""
    return FLAGS.get(param) or "--" + param.replace("_", "-")


def with_flags(text: str) -> str:
    """``text`` with every backticked parameter name (```shard_index```) replaced by its flag."""
    return _PARAM.sub(lambda m: flag_for(m.group(1)), text) if "`" in text else text


def exit_code_for(exc: AudiotokError) -> int:
    """Exit status for ``exc``: the entry of its closest class in :data:`EXIT_CODES`."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return 1


def format_error(exc: AudiotokError) -> str:
    """The one line printed on stderr for ``exc``: kind, path, reason, parameters as flags.

    When the reason does not name ``exc.param``, its flag follows in brackets.
    """
    reason = with_flags(exc.reason)
    if exc.param is not None and f"`{exc.param}`" not in exc.reason:
        reason += f" ({flag_for(exc.param)})"
    return f"{exc.kind}: {reason}" if exc.path is None else f"{exc.kind}: {exc.path}: {reason}"
