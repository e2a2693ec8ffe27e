"""esf inspect and --plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiotok.formats import esf
from audiotok.services.esf import inspect as esf_inspect
from tests.services.esf.test_sidecars import make_codes


def test_inspect_and_plot(tmp_path: Path) -> None:
    codes = make_codes(tmp_path / "x.ecdc", 30)
    npy, js = esf.sidecar_paths(codes)
    esf.write_sidecar(npy, js, np.stack([np.linspace(0, 1, 30), np.full(30, 2.0)], 1), ["pos", "gain"],
                      extra={"units": {"gain": "dB"}})  # fmt: skip
    r = esf_inspect.inspect_triplet(codes, npy, js)
    assert r.codes.n_frames == 30 and r.cond_shape == [30, 2] and r.sidecar_error is None
    assert [(c.name, c.min, c.max, c.units) for c in r.columns] == [
        ("pos", 0.0, 1.0, ""),
        ("gain", 2.0, 2.0, "dB"),
    ]
    out = esf_inspect.plot_triplet(codes, npy, js, tmp_path / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    npy.unlink()
    assert "no such file" in (esf_inspect.inspect_triplet(codes, npy, js).sidecar_error or "")
