"""``esf inspect``: one ESF triplet in detail, optionally as a picture."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from audiotok.errors import AudiotokError, UsageError
from audiotok.formats import ecdc, esf
from audiotok.formats._base import FrozenModel

__all__ = ["ColumnStats", "EsfInspectRecord", "inspect_triplet", "plot_triplet"]


class ColumnStats(FrozenModel):
    """Statistics of one conditioning column, from the data."""

    name: str
    min: float | None
    max: float | None
    mean: float | None
    units: str = ""


class EsfInspectRecord(FrozenModel):
    """An ``.ecdc`` file and its sidecar pair."""

    path: str
    codes: ecdc.EcdcMeta
    sidecar_npy: str
    sidecar_json: str
    sidecar_error: str | None = Field(default=None, description="Why the sidecar could not be read.")
    cond_shape: list[int] | None = None
    cond_dtype: str | None = None
    fps: float | None = Field(default=None, description="Sidecar frame rate.")
    columns: list[ColumnStats] = Field(default_factory=list)


def _f(v: Any) -> float | None:
    return float(v) if math.isfinite(v) else None


def inspect_triplet(codes: Path, npy: Path, js: Path) -> EsfInspectRecord:
    """Read ``codes`` (must be valid) and its sidecars (problems are reported, not raised).

    Raises
    ------
    FormatError
        If the ``.ecdc`` file cannot be read.
    """
    meta = ecdc.read_meta(codes)
    base: dict[str, Any] = {
        "path": str(codes),
        "codes": meta,
        "sidecar_npy": str(npy),
        "sidecar_json": str(js),
    }
    try:
        cond, cmeta = esf.read_sidecar(npy, js)
    except AudiotokError as exc:
        return EsfInspectRecord(**base, sidecar_error=str(exc))
    x = cond.astype(np.float64)
    cols = []
    for i, name in enumerate(cmeta.names):
        col = x[:, i]
        has = col.size > 0 and bool(np.isfinite(col).any())
        cols.append(
            ColumnStats(
                name=name,
                min=_f(np.nanmin(col)) if has else None,
                max=_f(np.nanmax(col)) if has else None,
                mean=_f(np.nanmean(col)) if has else None,
                units=cmeta.units.get(name, ""),
            )
        )
    return EsfInspectRecord(
        **base, cond_shape=list(cond.shape), cond_dtype=str(cond.dtype), fps=cmeta.fps, columns=cols
    )


def plot_triplet(codes_path: Path, npy: Path, js: Path, out: Path) -> Path:
    """Draw the codes (codebook x frame image) above the conditioning curves, time in seconds.

    Needs matplotlib (``pip install audiotok[plot]``); written atomically as PNG.

    Raises
    ------
    UsageError
        If matplotlib is not installed.
    FormatError
        If the codes or the sidecar cannot be read.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("`plot` needs matplotlib: pip install 'audiotok[plot]'", param="plot") from None
    from audiotok._fsio import atomic_write

    codes, meta = ecdc.read(codes_path)
    cond, cmeta = esf.read_sidecar(npy, js)
    t_end = codes.shape[0] / meta.fps
    n_rows = 1 + max(1, cond.shape[1])
    fig, axes = plt.subplots(n_rows, 1, sharex=True, figsize=(10, 2 + 1.3 * n_rows), squeeze=False)
    ax0 = axes[0, 0]
    ax0.imshow(
        codes.T,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        extent=(0, t_end, -0.5, codes.shape[1] - 0.5),
    )
    ax0.set_ylabel("codebook")
    ax0.set_title(
        f"{codes_path.name}: {codes.shape[1]} codebooks x {codes.shape[0]} frames @ {meta.fps:g} fps"
    )
    t = np.arange(cond.shape[0]) / cmeta.fps
    if cond.shape[1] == 0:
        axes[1, 0].text(
            0.5, 0.5, "no conditioning columns", ha="center", va="center", transform=axes[1, 0].transAxes
        )
    for i, name in enumerate(cmeta.names):
        ax = axes[1 + i, 0]
        ax.plot(t, cond[:, i].astype(np.float32), lw=1)
        unit = cmeta.units.get(name)
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 0].set_xlim(0, t_end)
    fig.tight_layout()
    with atomic_write(out) as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
    return out
