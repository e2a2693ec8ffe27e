"""The identity manifest: which codec made the token files of a folder (``tokens.json``).

Token formats fixed by a spec (NPQ) have no room for the codec's identity,
so every encode writes a small JSON file at the root of its output (the
output folder, or beside outputs written next to their inputs)::

    {
      "format": "audiotok-tokens",
      "version": 1,
      "codec": "dac-44khz",
      "info": {CodecInfo: family, rates, hop, layout, weights_sha256, implementation, version},
      "sinks": ["npq"],
      "audiotok": "0.9.0"
    }

It is written atomically (a temp name, then ``os.replace``) under a lock, so
shards, resumed runs and Ray actors writing into one folder merge into one
file (``sinks`` is the union; the first writer's ``audiotok`` version stays);
a run that would add another codec or other weights to a folder is refused
before any work, naming both. ``audiotok decode`` and ``dataset build`` read
it (:func:`find`) instead of guessing the model from the frame rate.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiotok._fsio import remove_stale_temps, write_bytes_atomic
from audiotok.errors import FormatError, UsageError
from audiotok.tokens import CodecInfo

__all__ = ["MANIFEST", "Manifest", "check", "find", "read", "record"]

MANIFEST = "tokens.json"
"""The manifest's file name."""
_FORMAT = "audiotok-tokens"
_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """What a ``tokens.json`` says.

    Attributes
    ----------
    info : CodecInfo
        The codec that made every token file under the folder.
    sinks : tuple of str
        The sinks that wrote there (``npq``, ``ecdc``).
    audiotok : str
        The audiotok version that first wrote it.
    path : Path or None
        The file it was read from.
    """

    info: CodecInfo
    sinks: tuple[str, ...]
    audiotok: str
    path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """As written (without :attr:`path`)."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "codec": self.info.codec,
            "info": self.info.to_json(),
            "sinks": list(self.sinks),
            "audiotok": self.audiotok,
        }


def read(path: Path) -> Manifest:
    """Read one ``tokens.json``.

    Raises
    ------
    FormatError
        If it is not a readable manifest of a version this audiotok knows.
    """
    try:
        data = json.loads(path.read_text())
        if data.get("format") != _FORMAT or data.get("version") != _VERSION:
            raise ValueError(f"not an {_FORMAT} v{_VERSION} manifest")
        info = CodecInfo.from_json(data["info"])
        sinks = tuple(str(s) for s in data.get("sinks", []))
        return Manifest(info, sinks, str(data.get("audiotok", "")), path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FormatError(f"unreadable codec manifest ({exc})", path) from None


def find(token_file: Path) -> Manifest | None:
    """The manifest nearest above ``token_file`` (its folder, then each parent), or ``None``.

    Raises
    ------
    FormatError
        If the nearest ``tokens.json`` is unreadable.
    """
    for folder in Path(os.path.abspath(token_file)).parents:
        candidate = folder / MANIFEST
        if candidate.is_file():
            return read(candidate)
    return None


def _same(a: CodecInfo, b: CodecInfo) -> bool:
    shas = a.weights_sha256, b.weights_sha256
    return a.codec == b.codec and (None in shas or shas[0] == shas[1])


def _describe(info: CodecInfo) -> str:
    sha = f" (weights sha256 {info.weights_sha256[:12]}…)" if info.weights_sha256 else ""
    return f"{info.codec}{sha}"


def check(root: Path, info: CodecInfo) -> None:
    """Refuse to write tokens of ``info``'s codec where ``root``'s manifest names another codec or weights.

    Raises
    ------
    UsageError
        Naming both codecs (and weights), before any work.
    FormatError
        If the manifest there is unreadable.
    """
    candidate = root / MANIFEST
    if not candidate.is_file():
        return
    found = read(candidate)
    if not _same(found.info, info):
        raise UsageError(
            f"{candidate} says its tokens were made by {_describe(found.info)}, this run encodes with "
            f"{_describe(info)}; write to another folder (one codec per output folder)"
        )


def _dumps(data: dict[str, Any]) -> str:
    """Indented JSON, lists of plain values on one line (a layout of 32 codebooks stays short)."""
    text = json.dumps(data, indent=2)
    one_line = re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0))), text)
    return one_line + "\n"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def record(root: Path, info: CodecInfo, sink: str, version: str) -> Manifest:
    """Write (or merge into) ``root``'s manifest that ``sink`` wrote tokens of ``info``'s codec there.

    Returns the manifest as now on disk.

    Raises
    ------
    UsageError
        As :func:`check`.
    OutputError
        If it cannot be written.
    """
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        path = root / MANIFEST
        remove_stale_temps(path)  # every writer holds the lock: a temp file seen here is a killed run's
        old = read(path) if path.is_file() else None
        if old is not None and not _same(old.info, info):
            check(root, info)  # raises, naming both
        sinks = tuple(sorted({*(old.sinks if old else ()), sink}))
        merged = Manifest(info if old is None or old.info.weights_sha256 is None else old.info, sinks,
                          old.audiotok if old else version)  # fmt: skip
        if old is None or merged.to_json() != old.to_json():
            write_bytes_atomic(path, _dumps(merged.to_json()).encode())
        return Manifest(merged.info, merged.sinks, merged.audiotok, path)
