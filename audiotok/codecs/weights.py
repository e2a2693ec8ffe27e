"""Published codec weights: where they are cached, downloading them, their sha256.

Each codec keeps its weights where its own package does, so files already
downloaded by descript-audio-codec or encodec are found and reused:

* ``descript``: ``$HOME/.cache/descript/dac/<filename>`` (DAC);
* ``torch-hub``: ``$TORCH_HOME/hub/checkpoints/<filename>`` (EnCodec; see
  :func:`torch.hub.get_dir`).

Set ``AUDIOTOK_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) to never touch the
network; a missing file is then a :class:`~audiotok.errors.ModelError` that
names the URL and the exact path to save it as. Nothing here imports torch
until a torch-hub path is asked for or a file is downloaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import ModelError, OutputError

__all__ = ["CACHE_ENV", "Weights", "cache_path", "cache_root", "fetch", "offline", "sha256_file"]

CACHE_ENV = "AUDIOTOK_CACHE_DIR"
"""Environment variable: audiotok's cache folder (see :func:`cache_root`)."""

Cache = Literal["descript", "torch-hub"]


@dataclass(frozen=True)
class Weights:
    """Where a published checkpoint comes from and where it is cached.

    Attributes
    ----------
    url : str
        Download URL.
    filename : str
        File name in the cache.
    cache : {"descript", "torch-hub"}
        Which package's cache folder holds it.
    sha256_prefix : str, optional
        Leading hex digits of the file's sha256, checked after a download
        (torch.hub's convention: ``encodec_24khz-d7cc33bc.th``).
    """

    url: str
    filename: str
    cache: Cache
    sha256_prefix: str | None = None


def cache_path(weights: Weights) -> Path:
    """Where ``weights`` are cached (read from the environment at each call)."""
    if weights.cache == "descript":
        return Path.home() / ".cache" / "descript" / "dac" / weights.filename
    return _torch_hub_dir() / "checkpoints" / weights.filename


def _torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``, without importing torch when it is not imported yet.

    torch's rule: ``$TORCH_HOME/hub``, ``$TORCH_HOME`` defaulting to
    ``$XDG_CACHE_HOME/torch`` and that to ``~/.cache/torch``; a folder set with
    ``torch.hub.set_dir`` counts once torch is imported.
    """
    hub = sys.modules.get("torch.hub")
    if hub is not None:
        return Path(hub.get_dir())
    xdg = os.getenv("XDG_CACHE_HOME", "~/.cache")
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(xdg, "torch")))) / "hub"


def cache_root() -> Path:
    """audiotok's cache: ``$AUDIOTOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/audiotok`` or ``~/.cache/audiotok``.

    Holds converted backend models and remembered checkpoint hashes; safe to delete.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "audiotok"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks.

    Remembered in :func:`cache_root` ``/sha256/`` under the file's real path,
    with its size, modification time (ns), inode and device: while none of
    them changes, the file is not read again (0.25 s for DAC 44.1 kHz's 307
    MB). A cache that cannot be read or written is ignored.
    """
    real = os.path.realpath(path)
    st = os.stat(real)
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]
    memo = cache_root() / "sha256" / (hashlib.sha256(real.encode()).hexdigest()[:32] + ".json")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        seen = json.loads(memo.read_text())
        if seen["path"] == real and seen["stat"] == stamp:
            return str(seen["sha256"])
    digest = _hash(real)
    with contextlib.suppress(OSError, OutputError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(memo, json.dumps({"path": real, "stat": stamp, "sha256": digest}).encode())
    return digest


def _hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def offline() -> bool:
    """Whether downloads are off (``AUDIOTOK_OFFLINE`` or ``HF_HUB_OFFLINE`` set and not ``0``)."""
    return any(os.environ.get(v, "") not in ("", "0") for v in ("AUDIOTOK_OFFLINE", "HF_HUB_OFFLINE"))


def fetch(name: str, weights: Weights, *, download: bool = True) -> Path:
    """Return the cached weights file, downloading it first if needed and allowed.

    Parameters
    ----------
    name : str
        The model's name, for messages.
    weights : Weights
    download : bool
        Allow a download (still refused when :func:`offline`).

    Returns
    -------
    Path
        The file at :func:`cache_path`.

    Raises
    ------
    ModelError
        If the weights are not cached and cannot be downloaded; the message
        names the URL and the exact cache path to put the file in.
    """
    path = cache_path(weights)
    if path.is_file():
        return path
    hint = f"download {weights.url} and save it as {path}"
    if not download or offline():
        raise ModelError(f"weights for {name!r} are not cached and downloads are off; {hint}")
    try:
        from torch.hub import download_url_to_file

        path.parent.mkdir(parents=True, exist_ok=True)
        download_url_to_file(weights.url, str(path), hash_prefix=weights.sha256_prefix, progress=False)
    except Exception as exc:  # network, HTTP status, hash, disk: all end the same way
        raise ModelError(f"cannot download weights for {name!r} ({exc}); {hint}") from None
    return path
