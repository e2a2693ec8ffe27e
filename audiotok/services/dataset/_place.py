"""Placing a dataset's token files under ``tokens/<split>/``: relative symlinks or copies.

Every file of a row (the token file and each sidecar) gets its own symlink,
as the spec's ``s5_build_dataset_from_folder.py`` makes them; a folder is never
linked whole. So ``tokens/`` holds only real folders: deleting or rewriting
inside it (``rm -r``, ``rsync --delete``, a copy over it) never reaches into a
source folder, and files added to a source folder later do not appear in the
dataset.

Links are relative to where the dataset folder will be after the swap (a
sibling of the staging folder), so a dataset and its token tree can move
together. The relative path from a dataset folder to a source folder is
computed once per pair of folders, so a link costs one ``symlink`` call.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Sequence
from typing import Literal

__all__ = ["Materialize", "Placer"]

Materialize = Literal["link", "copy", "none"]


class Placer:
    """Places each row's files (token file and sidecars) below the staging folder.

    Parameters
    ----------
    mode : {"link", "copy", "none"}
    staging : str
        The folder being built.
    final : str
        Where it will be after the swap (links are relative to it).
    companions : callable
        A token file's path -> the paths of it and its sidecars (same folder).
    """

    def __init__(
        self, mode: Materialize, staging: str, final: str, companions: Callable[[str], Sequence[str]]
    ) -> None:
        self.mode, self.staging, self.final, self.companions = mode, staging, final, companions
        self._made: set[str] = set()
        self._link_dirs: dict[tuple[str, str], str] = {}

    def place(self, src: str, audio: str) -> None:
        """Place ``src`` and its sidecars at ``<dataset>/audio`` (and beside it), one file each.

        Raises
        ------
        OSError
            If a file cannot be linked or copied; what was placed of the row is removed first.
        """
        if self.mode == "none":
            return
        placed: list[str] = []
        try:
            for file_src, file_dst in zip(self.companions(src), self.companions(audio), strict=True):
                placed.append(self._place_file(file_src, file_dst))
        except OSError:
            for dst in placed:  # a row left out leaves nothing under tokens/
                with contextlib.suppress(OSError):
                    os.unlink(dst)
            raise

    def _place_file(self, src: str, dst_rel: str) -> str:
        """Link or copy ``src`` to ``<staging>/dst_rel``; returns that path."""
        dst = os.path.join(self.staging, dst_rel)
        folder = os.path.dirname(dst)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        if self.mode == "copy":
            try:
                shutil.copyfile(src, dst)
            except OSError:
                with contextlib.suppress(OSError):  # a partial copy
                    os.unlink(dst)
                raise
            return dst
        # Computed once per (source folder, dataset folder) pair.
        key = (os.path.dirname(src), os.path.dirname(dst_rel))
        rel_dir = self._link_dirs.get(key)
        if rel_dir is None:
            rel_dir = self._link_dirs[key] = os.path.relpath(key[0], os.path.join(self.final, key[1]))
        os.symlink(os.path.join(rel_dir, os.path.basename(src)), dst)
        return dst
