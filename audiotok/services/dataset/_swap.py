"""Staging a dataset folder beside its destination and swapping it in.

A build writes ``OUT.incomplete``; only a finished (and, if asked, verified)
build replaces ``OUT``: ``OUT`` -> ``OUT.old``, ``OUT.incomplete`` -> ``OUT``,
then ``OUT.old`` is removed. A build killed at any point leaves either the old
dataset or the new one at ``OUT`` (or, between the two renames, the old one at
``OUT.old``, which the next build moves back before it starts).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from audiotok.errors import UsageError

__all__ = ["Staging", "is_dataset_dir"]


def is_dataset_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a saved ``DatasetDict`` (has ``dataset_dict.json``)."""
    return os.path.isfile(os.path.join(path, "dataset_dict.json"))


class Staging:
    """The ``OUT.incomplete`` folder of one build of ``OUT``.

    Parameters
    ----------
    out_dir : Path
        The final dataset folder. Its parent's real path is used, so the
        relative symlinks computed against :attr:`final` stay valid.

    Raises
    ------
    UsageError
        If ``out_dir`` exists and is neither empty nor a dataset folder.
    """

    def __init__(self, out_dir: Path) -> None:
        parent = os.path.realpath(out_dir.parent if str(out_dir.parent) else ".")
        self.final = os.path.join(parent, out_dir.name)
        self.incomplete = self.final + ".incomplete"
        self.old = self.final + ".old"
        self._recover()
        if os.path.lexists(self.final):
            if not os.path.isdir(self.final) or os.path.islink(self.final):
                raise UsageError("exists and is not a folder; not replacing it", out_dir)
            if not is_dataset_dir(self.final) and any(os.scandir(self.final)):
                raise UsageError(
                    "exists and is not a dataset (no dataset_dict.json); not replacing it", out_dir
                )

    def _recover(self) -> None:
        """Undo a build killed between its two renames; drop a stale staging folder."""
        if not os.path.lexists(self.final) and os.path.isdir(self.old):
            os.replace(self.old, self.final)
        elif os.path.isdir(self.old):
            shutil.rmtree(self.old)
        if os.path.lexists(self.incomplete):
            shutil.rmtree(self.incomplete)

    def create(self) -> str:
        """Make the empty staging folder and return its path."""
        os.makedirs(self.incomplete)
        return self.incomplete

    def discard(self) -> None:
        """Remove the staging folder (the old dataset stays as it is)."""
        shutil.rmtree(self.incomplete, ignore_errors=True)

    def commit(self) -> bool:
        """Move the staging folder to :attr:`final`; return whether something was replaced."""
        replaced = os.path.lexists(self.final)
        if replaced:
            os.replace(self.final, self.old)
        os.replace(self.incomplete, self.final)
        if replaced:
            shutil.rmtree(self.old)
        return replaced
