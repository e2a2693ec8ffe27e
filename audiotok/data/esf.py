"""``EsfDataset``: EnCodec codes with their conditioning sidecars, for training.

Follows ``docs/specs/esf-format.md``: each item is one ``NAME.ecdc`` with
``NAME.cond.npy`` / ``NAME.cond.json`` (beside it, or mirrored under
``cond_root``). Nothing is unpickled: codes load with the weights-only
unpickler, matrices with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from audiotok.errors import FormatError, InputError
from audiotok.formats import esf

__all__ = ["EsfDataset"]


class EsfDataset(Dataset[dict[str, Any]]):
    """Items ``{"codes", "cond", "names", "meta", "path"}`` from a folder of ESF triplets.

    Parameters
    ----------
    root : path
        Folder searched recursively for ``*.ecdc``.
    cond_root : path, optional
        Where sidecars are mirrored (default: beside the codes).
    suffix : str
        Sidecar suffix (``".cond"``).
    require : sequence of str, optional
        Only these columns, in this order (a missing one is a FormatError).
    normalize : bool
        Scale each column to [0, 1] with the sidecar's ``norm.min/max``.

    Items
    -----
    codes : LongTensor[T, Cb]
    cond : FloatTensor[T, D]
    names : list of str, length D
    meta : dict
        ``EcdcMeta`` fields, and ``fps`` of the sidecar.

    Raises
    ------
    InputError
        If ``root`` is not a folder.
    FormatError
        From ``__getitem__``, if a triplet is unreadable or T differs
        (:func:`audiotok.formats.esf.read_triplet`, not strict: a sidecar
        without ``fps`` is read).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        cond_root: str | os.PathLike[str] | None = None,
        suffix: str = ".cond",
        require: list[str] | None = None,
        normalize: bool = False,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError("not a folder", self.root)
        self.cond_root = None if cond_root is None else Path(cond_root)
        self.suffix = suffix
        self.require = list(require) if require else None
        self.normalize = normalize
        self.files = sorted(p for p in self.root.rglob("*.ecdc") if p.is_file())

    def __len__(self) -> int:
        """Number of ``.ecdc`` files."""
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Codes ``[T, Cb]``, conditioning ``[T, D]``, names and metadata of item ``index``."""
        path = self.files[index]
        npy, js = esf.sidecar_paths(path, audio_root=self.root, cond_root=self.cond_root, suffix=self.suffix)
        codes, cond_np, meta, cmeta = esf.read_triplet(path, (npy, js), strict=False)
        cond = torch.from_numpy(cond_np.astype("float32"))
        names = list(cmeta.names)
        if self.normalize and cmeta.norm.min and cmeta.norm.max:
            lo = torch.tensor([v if v is not None else 0.0 for v in cmeta.norm.min])
            hi = torch.tensor([v if v is not None else 1.0 for v in cmeta.norm.max])
            cond = (cond - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        if self.require is not None:
            absent = [n for n in self.require if n not in names]
            if absent:
                raise FormatError(f"sidecar lacks required columns {absent}", js)
            cond = cond[:, [names.index(n) for n in self.require]]
            names = list(self.require)
        return {
            "codes": torch.from_numpy(codes),
            "cond": cond,
            "names": names,
            "meta": {**meta.model_dump(), "cond_fps": cmeta.fps},
            "path": str(path),
        }
