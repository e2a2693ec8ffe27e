"""A ``--from-list`` manifest for ``dataset export --format shar``: each item's text, speaker, audio.

JSON Lines, read by the same rules as every ``--from-list``
(:func:`audiotok.paths.read_list_records`): one object per line with a
``path``; blank lines and ``#`` comments skipped; relative paths relative to
the list's folder. Keys used (others are ignored):

``path``
    The item: its token file, or the audio it was encoded from (the list
    given to ``audiotok encode --from-list``). It names the export's item
    with the same id: the path below SRC when it is inside SRC, else the
    path below the list's folder, either without its suffix (``encode -o
    SRC --from-list LIST`` mirrors each audio path below LIST's folder).
``text``, ``speaker``, ``language``, ``dataset``
    Strings: the transcript, the speaker, a language code (``en``), the
    corpus name.
``audio``
    The source audio, for the cut's ``Recording``; by default ``path`` when it
    is not a token file.

A listed item that is not in the export is ignored; an item not listed gets
no supervision (``--preset nemo`` leaves it out, one note each).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiotok.errors import UsageError
from audiotok.paths import read_list_records
from audiotok.services.dataset._sources import SourceRef
from audiotok.sinks.shar import ItemMeta

__all__ = ["annotate"]

_TOKEN_SUFFIXES = (".npq", ".ecdc")
_FIELDS = ("text", "speaker", "language", "dataset")


def _string(obj: dict[str, Any], key: str, line: int, path: str | os.PathLike[str]) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f'line {line}: "{key}" must be a string', path, param="from_list")
    return value.strip() or None


def annotate(from_list: str | os.PathLike[str], src: Path, refs: Sequence[SourceRef]) -> dict[str, ItemMeta]:
    """Per item id of ``refs``, what ``from_list`` says of it (items not listed are absent).

    Raises
    ------
    UsageError
        If the list cannot be read, a line is not a JSON object with a
        ``path``, a field is not a string, or two lines name one item.
    """
    base = Path(os.path.abspath(Path(from_list).parent))
    root = Path(os.path.abspath(src))
    ids = {r.id for r in refs}
    found: dict[str, ItemMeta] = {}
    lines: dict[str, int] = {}
    for n, entry, obj in read_list_records(from_list):
        listed = Path(os.path.normpath(base / entry))
        below = root if listed.is_relative_to(root) else base
        if not listed.is_relative_to(below):
            continue  # outside both: names no item
        item_id = listed.relative_to(below).with_suffix("").as_posix()
        if item_id not in ids:
            continue
        if item_id in lines:
            raise UsageError(f"lines {lines[item_id]} and {n} both name {item_id}", from_list,
                             param="from_list")  # fmt: skip
        lines[item_id] = n
        audio = _string(obj, "audio", n, from_list)
        if audio is not None:
            audio = os.path.normpath(base / audio)
        elif listed.suffix.lower() not in _TOKEN_SUFFIXES:
            audio = os.fspath(listed)
        values = {key: _string(obj, key, n, from_list) for key in _FIELDS}
        found[item_id] = ItemMeta(**values, audio=audio)
    return found
