"""Small trees of token files (.npq, and ESF triplets) for dataset tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audiotok.formats import ecdc, esf, npq

FPS_DAC = 44100 / 512


def make_npq_tree(
    root: Path, n: int = 6, *, k: int = 4, stereo: bool = False, seed: int = 0, folders: int = 2
) -> list[Path]:
    """``n`` .npq files under ``root/d{i % folders}/``, random T (one empty), vocab 1024."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = root / f"d{i % folders}" / f"clip{i:03d}.npq"
        path.parent.mkdir(parents=True, exist_ok=True)
        t = 0 if i == 1 else int(rng.integers(5, 60))
        if stereo:
            header: npq.Npq1Header | npq.Npq2Header = npq.Npq2Header(
                token_rate=FPS_DAC, seq_len=t, vocab_sizes=(1024,) * (2 * k), k_mid=k, k_side=k
            )
        else:
            header = npq.Npq1Header(token_rate=FPS_DAC, seq_len=t, vocab_sizes=(1024,) * k)
        npq.write(path, rng.integers(0, 1024, (t, header.n_codebooks)), header)
        paths.append(path)
    return paths


def make_esf_tree(root: Path, n: int = 5, *, cb: int = 8, d: int = 2, seed: int = 0) -> list[Path]:
    """``n`` ESF triplets (``.ecdc`` + ``.cond.npy`` + ``.cond.json``) under ``root/s{i % 2}/``.

    Written with the format layer's own writers (``formats.ecdc``/``formats.esf``).
    """
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = root / f"s{i % 2}" / f"take{i:03d}.ecdc"
        path.parent.mkdir(parents=True, exist_ok=True)
        t = int(rng.integers(3, 40))
        meta = ecdc.EcdcMeta(
            n_codebooks=cb,
            n_frames=t,
            sample_rate=24000,
            fps=75.0,
            bandwidth=6.0,
            model="encodec_24khz",
            audio_length=t * 320,
        )
        ecdc.write(path, rng.integers(0, 1024, (t, cb)), meta)
        npy, js = esf.sidecar_paths(path)
        cond = rng.random((t, d)).astype(np.float16)
        esf.write_sidecar(npy, js, cond, [f"f{j}" for j in range(d)], fps=75.0)
        paths.append(path)
    return paths


def placed_links(dataset: Path, tokens_subdir: str = "tokens") -> dict[str, Path]:
    """Every entry under ``dataset/tokens_subdir``, as ``{path relative to dataset: resolved target}``.

    Asserts the layout of ``--materialize link``: real folders only (no folder
    is a symlink), and every other entry a relative symlink to a file, whose
    target is exactly the relative path from its folder to what it resolves to.
    """
    links: dict[str, Path] = {}
    for dirpath, dirs, files in os.walk(dataset / tokens_subdir):
        here = Path(dirpath)
        assert not [d for d in dirs if (here / d).is_symlink()], f"folder links in {here}"
        for name in files:
            link = here / name
            target = os.readlink(link)  # raises for a file that is not a link
            resolved = link.resolve(strict=True)
            assert resolved.is_file() and not os.path.isabs(target)
            assert target == os.path.relpath(resolved, os.path.realpath(here))
            links[link.relative_to(dataset).as_posix()] = resolved
    return links
