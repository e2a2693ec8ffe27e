"""Batching variable-length token sequences: pad along time and return masks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["PadCollate", "pad_collate"]


class PadCollate:
    """Collate function that pads every tensor along its first (time) axis.

    Each sample is a mapping; tensors with the same key are stacked into
    ``[B, T_max, ...]``, padded at the end with ``pad_values[key]`` (default
    ``pad_value``). Other values (strings, ints) are gathered into lists.

    The batch also gets ``lengths`` (``LongTensor[B]``, the first tensor's
    length in each sample) and ``mask`` (``BoolTensor[B, T_max]``, True on real
    frames). All tensors of a sample must share their first dimension.

    Parameters
    ----------
    pad_value : float
        Padding for keys not in ``pad_values``.
    pad_values : mapping of str to float, optional
        Per-key padding, e.g. ``{"targets": -100}`` for ``ignore_index``.

    Picklable, so it works with ``DataLoader(num_workers > 0)``.
    """

    def __init__(self, pad_value: float = 0, pad_values: Mapping[str, float] | None = None) -> None:
        self.pad_value = pad_value
        self.pad_values = dict(pad_values or {})

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Pad and stack ``samples`` into one batch."""
        if not samples:
            raise ValueError("cannot collate an empty batch")
        keys = list(samples[0])
        tensor_keys = [k for k in keys if isinstance(samples[0][k], torch.Tensor)]
        if not tensor_keys:
            raise ValueError("samples hold no tensors to pad")
        lengths = torch.tensor([int(s[tensor_keys[0]].shape[0]) for s in samples], dtype=torch.long)
        t_max = int(lengths.max()) if len(lengths) else 0
        batch: dict[str, Any] = {}
        for key in keys:
            values = [s[key] for s in samples]
            if key not in tensor_keys:
                batch[key] = values
                continue
            first = values[0]
            out = torch.full(
                (len(values), t_max, *first.shape[1:]),
                self.pad_values.get(key, self.pad_value),
                dtype=first.dtype,
            )
            for i, v in enumerate(values):
                if v.shape[0] != lengths[i] or v.shape[1:] != first.shape[1:]:
                    raise ValueError(
                        f"sample {i}: {key!r} has shape {tuple(v.shape)}, expected "
                        f"[{int(lengths[i])}, {', '.join(map(str, first.shape[1:]))}]"
                    )
                out[i, : v.shape[0]] = v
            batch[key] = out
        batch["lengths"] = lengths
        batch["mask"] = torch.arange(t_max)[None, :] < lengths[:, None]
        return batch


pad_collate = PadCollate()
"""Default :class:`PadCollate`: zero padding, ``lengths`` and ``mask``."""
