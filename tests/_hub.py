"""A model folder laid out in the Hugging Face Hub cache, as ``huggingface_hub`` caches a download."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["in_hub_cache"]


def in_hub_cache(folder: Path, hf_home: Path, repo: str) -> Path:
    """Lay ``folder``'s files out as ``huggingface_hub`` caches a download of ``repo`` (refs/main)."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    root = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / revision
    snapshot.mkdir(parents=True)
    weights = [w for w in ("model.safetensors", "pytorch_model.bin") if (folder / w).is_file()][:1]
    for name in ("config.json", *weights, "preprocessor_config.json"):
        if (folder / name).is_file() or name != "preprocessor_config.json":
            shutil.copy(folder / name, snapshot / name)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(revision)
    return snapshot
