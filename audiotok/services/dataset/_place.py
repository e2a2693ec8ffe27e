"""Placing a dataset's token files under ``tokens/<split>/``: relative symlinks or copies.

Links are relative to where the dataset folder will be after the swap (a
sibling of the staging folder), so a dataset and its token tree can move
together. A source folder that holds exactly the files of the rows it gives
(token files and their sidecars, nothing else, no subfolders or symlinks), all
going to one split, is linked as one folder symlink instead of one link per
file: the same paths resolve to the same files, at one ``symlink`` call per
folder instead of three per ESF triplet.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from typing import Literal

__all__ = ["Materialize", "Placer"]

Materialize = Literal["link", "copy", "none"]


class Placer:
    """Places each row's files (token file and sidecars) below the staging folder.

    Rows must arrive grouped by dataset folder (every row of a folder before
    the next folder's), as the folder scan yields them.

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
        self._whole: dict[str, str] = {}  # dataset folder -> source folder, to link as one
        self._dir: str | None = None  # the dataset folder rows now go to
        self._linked = False  # whether self._dir is one folder link
        self._placed: list[str] = []  # sources placed through that link so far
        self.folder_links = 0
        """Folders linked whole (for tests and benchmarks)."""

    def whole_folder(self, src_dir: str, dst_dir: str) -> None:
        """Link ``dst_dir`` (relative to the dataset) to ``src_dir`` as one symlink, unless a row fails."""
        if self.mode == "link":
            self._whole[dst_dir] = src_dir

    def place(self, src: str, audio: str) -> None:
        """Place ``src`` and its sidecars at ``<dataset>/audio`` (and beside it)."""
        if self.mode == "none":
            return
        self._enter(os.path.dirname(audio))
        if self._linked:
            self._placed.append(src)
            return
        for file_src, file_dst in zip(self.companions(src), self.companions(audio), strict=True):
            self._place_file(file_src, file_dst)

    def failed(self, src: str, audio: str) -> None:
        """The row of ``src`` is left out: its folder gets one link per placed file instead."""
        if self.mode == "none":
            return
        self._enter(os.path.dirname(audio))
        if self._linked:
            os.unlink(os.path.join(self.staging, self._dir or ""))
            self._linked = False
            self.folder_links -= 1
            for placed in self._placed:
                self.place(placed, f"{self._dir}/{os.path.basename(placed)}")
            self._placed = []

    def _enter(self, dst_dir: str) -> None:
        if dst_dir == self._dir:
            return
        self._dir, self._placed, self._linked = dst_dir, [], False
        src_dir = self._whole.pop(dst_dir, None)
        if src_dir is not None:
            link = os.path.join(self.staging, dst_dir)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(os.path.relpath(src_dir, os.path.join(self.final, os.path.dirname(dst_dir))), link)
            self._linked = True
            self.folder_links += 1

    def _place_file(self, src: str, dst_rel: str) -> None:
        dst = os.path.join(self.staging, dst_rel)
        folder = os.path.dirname(dst)
        if folder not in self._made:
            os.makedirs(folder, exist_ok=True)
            self._made.add(folder)
        if self.mode == "copy":
            shutil.copyfile(src, dst)
            return
        # Computed once per (source folder, dataset folder) pair.
        key = (os.path.dirname(src), os.path.dirname(dst_rel))
        rel_dir = self._link_dirs.get(key)
        if rel_dir is None:
            rel_dir = self._link_dirs[key] = os.path.relpath(key[0], os.path.join(self.final, key[1]))
        os.symlink(os.path.join(rel_dir, os.path.basename(src)), dst)
