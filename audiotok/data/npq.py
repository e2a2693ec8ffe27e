"""Sliding training windows over ``.npq`` token files, with the BOS = -1 shift.

``docs/specs/npq-format.md``: files hold targets only; training inputs are the
targets shifted one frame to the right with ``BOS = -1`` in the first row.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from audiotok.errors import UsageError
from audiotok.formats import npq
from audiotok.tokens import TokenLayout

__all__ = ["BOS", "NpqWindowDataset", "codebook_columns", "shift_right", "window_starts"]

BOS = -1
"""Token value of the begin-of-sequence row in training inputs (never stored in files)."""


def codebook_columns(
    n_codebooks: int, k: int | None, k_mid: int | None = None, k_side: int | None = None
) -> list[int]:
    """Columns of a ``[T, K]`` token matrix to keep when using ``k`` codebooks.

    Mono files keep the first ``k`` codebooks; NPQ2 Mid/Side files
    (``k_mid`` given) keep the first ``k`` of Mid and the first ``k`` of Side.
    ``k=None`` keeps all.

    Raises
    ------
    UsageError
        If ``k < 1`` or ``k`` exceeds the codebooks available.
    """
    if k is None:
        return list(range(n_codebooks))
    if k < 1:
        raise UsageError(f"k must be at least 1, got {k}")
    if k_mid is None:
        if k > n_codebooks:
            raise UsageError(f"k={k} but the file has only {n_codebooks} codebooks")
        return list(range(k))
    side = k_side or 0
    if k > k_mid:
        raise UsageError(f"k={k} but the file has only {k_mid} Mid codebooks")
    return list(range(k)) + [k_mid + j for j in range(min(k, side))]


def window_starts(n_frames: int, ctx: int, step: int) -> list[int]:
    """First frame of each window of ``ctx`` frames, ``step`` apart.

    A file shorter than ``ctx`` gives one short window (start 0); an empty
    file none. When the steps do not end on the last frame, one more window
    is aligned to the end, so every frame is a target at least once.
    """
    if n_frames <= 0:
        return []
    if n_frames <= ctx:
        return [0]
    starts = list(range(0, n_frames - ctx + 1, step))
    if starts[-1] + ctx < n_frames:
        starts.append(n_frames - ctx)
    return starts


def shift_right(targets: torch.Tensor, bos: int = BOS) -> torch.Tensor:
    """Training inputs for ``targets`` ``[L, K]``: ``inputs[0] = bos``, ``inputs[t] = targets[t - 1]``."""
    inputs = torch.empty_like(targets)
    inputs[:1] = bos
    inputs[1:] = targets[:-1]
    return inputs


class NpqWindowDataset(Dataset[dict[str, Any]]):
    """Fixed-length windows of ``.npq`` tokens for next-frame prediction.

    Each item is a dict:

    - ``targets`` : LongTensor[L, k], tokens of frames ``start .. start + L - 1``;
    - ``inputs`` : LongTensor[L, k], the targets shifted right by one frame with
      ``BOS = -1`` in row 0 (every window is its own sequence).

    ``L = ctx`` except for files shorter than ``ctx``, which give one shorter
    window; use :class:`~audiotok.data.collate.PadCollate` to batch those.

    Parameters
    ----------
    files : sequence of str or os.PathLike
        ``.npq`` files (NPQ1, NPQ2, legacy). Only headers are read here;
        payloads are memory-mapped per item.
    ctx : int
        Window length in frames.
    step : int, optional
        Frames between window starts; default ``ctx`` (no overlap).
    k : int, optional
        Codebooks to use (see :func:`codebook_columns`); default all, which
        requires every file to have the same K.
    bos : int
        The BOS value (default -1, as ``docs/specs/npq-format.md``).
    layout : TokenLayout, optional
        For rows of codes with strides (SNAC: ``[T0, 1 + 2 + 4]``), the
        codec's layout (``audiotok.sinks.manifest.find(path).info.layout``):
        items then also hold ``levels``, the targets' codes codebook by
        codebook, ``LongTensor[L * grid / stride_k]`` each
        (:meth:`~audiotok.tokens.TokenLayout.from_rows`).

    Raises
    ------
    FormatError
        If a file is not a valid NPQ file.
    UsageError
        If ``ctx``/``step``/``k`` are out of range or files differ in codebook width.
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike[str]],
        ctx: int,
        step: int | None = None,
        k: int | None = None,
        *,
        bos: int = BOS,
        layout: TokenLayout | None = None,
    ) -> None:
        if ctx < 1:
            raise UsageError(f"ctx must be at least 1, got {ctx}")
        step = ctx if step is None else step
        if step < 1:
            raise UsageError(f"step must be at least 1, got {step}")
        self.files = [os.fspath(f) for f in files]
        self.ctx, self.step, self.k, self.bos = ctx, step, k, bos
        self.layout = layout
        self.columns: list[list[int]] = []
        file_idx: list[np.ndarray] = []
        starts: list[np.ndarray] = []
        for i, path in enumerate(self.files):
            header = npq.read_header(path)
            cols = codebook_columns(
                header.n_codebooks, k, getattr(header, "k_mid", None), getattr(header, "k_side", None)
            )
            if self.columns and len(cols) != len(self.columns[0]):
                raise UsageError(
                    f"{path} gives {len(cols)} codebooks but {self.files[0]} gives "
                    f"{len(self.columns[0])}; pass k= to use the same number"
                )
            self.columns.append(cols)
            s = np.asarray(window_starts(header.seq_len, ctx, step), dtype=np.int64)
            starts.append(s)
            file_idx.append(np.full(len(s), i, dtype=np.int64))
        self._file = np.concatenate(file_idx) if file_idx else np.zeros(0, np.int64)
        self._start = np.concatenate(starts) if starts else np.zeros(0, np.int64)

    @property
    def n_codebooks(self) -> int:
        """Codebooks per frame in every item (``k`` columns)."""
        return len(self.columns[0]) if self.columns else 0

    def __len__(self) -> int:
        """Number of windows over all files."""
        return len(self._start)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Window ``index``: ``{"inputs": LongTensor[L, k], "targets": LongTensor[L, k]}`` (and ``levels``).

        Raises
        ------
        IndexError
            If ``index`` is out of range.
        UsageError
            With ``layout``, if the rows' width is no codebook count of it.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} out of range (0..{len(self) - 1})")
        f, s = int(self._file[index]), int(self._start[index])
        tokens, _ = npq.read(self.files[f], mmap=True)
        window = np.asarray(tokens[s : s + self.ctx][:, self.columns[f]], dtype=np.int64)
        del tokens
        targets = torch.from_numpy(window)
        item: dict[str, Any] = {"inputs": shift_right(targets, self.bos), "targets": targets}
        if self.layout is not None:
            widths = {self.layout.columns(k): k for k in range(1, self.layout.n_codebooks + 1)}
            if window.shape[1] not in widths:
                raise UsageError(f"{self.files[f]}: rows of {window.shape[1]} codes fit no codebook count")
            levels = self.layout.first(widths[window.shape[1]]).from_rows(window)
            item["levels"] = [torch.from_numpy(level) for level in levels]
        return item
