"""Published codec weights: where they are cached, downloading them, their sha256.

Each codec keeps its weights where its own package does, so files already
downloaded by descript-audio-codec or encodec are found and reused:

* ``descript``: ``$HOME/.cache/descript/dac/<filename>`` (DAC);
* ``torch-hub``: ``$TORCH_HOME/hub/checkpoints/<filename>`` (EnCodec; see
  :func:`torch.hub.get_dir`);
* a Hugging Face Hub repo (:class:`HubWeights`): the standard Hugging Face
  cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub``), read and filled by ``huggingface_hub``.

Set ``AUDIOTOK_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) to never touch the
network; a missing file is then a :class:`~audiotok.errors.ModelError` that
names the URL and the exact path to save it as (for a Hub repo: the repo, its
files and the cache folder to put them in). Nothing here imports torch
until a torch-hub path is asked for or a file is downloaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import ModelError, OutputError

__all__ = [
    "CACHE_ENV",
    "HubWeights",
    "Weights",
    "cache_path",
    "cache_root",
    "fetch",
    "fetch_any",
    "fetch_hub",
    "hf_folder_weights",
    "hf_model_type",
    "hub_cache",
    "hub_folder",
    "offline",
    "sha256_file",
    "source_url",
    "where",
]

CACHE_ENV = "AUDIOTOK_CACHE_DIR"
"""Environment variable: audiotok's cache folder (see :func:`cache_root`)."""

Cache = Literal["descript", "torch-hub"]


@dataclass(frozen=True)
class Weights:
    """Where a published checkpoint comes from and where it is cached.

    Attributes
    ----------
    url : str
        Where the file is downloaded from.
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

    def get() -> Path:
        from torch.hub import download_url_to_file

        path.parent.mkdir(parents=True, exist_ok=True)
        download_url_to_file(weights.url, str(path), hash_prefix=weights.sha256_prefix, progress=False)
        return path

    return _download(name, f"download {weights.url} and save it as {path}", download, get)


def _download(name: str, hint: str, download: bool, get: Callable[[], Path]) -> Path:
    """``get()``, which downloads the weights of model ``name``, unless downloads are off.

    Raises
    ------
    ModelError
        If downloads are off or ``get`` fails (network, HTTP status, hash, auth, disk: all end the
        same way), with ``hint``: where the files come from and where to put them.
    """
    if not download or offline():
        raise ModelError(f"weights for {name!r} are not cached and downloads are off; {hint}")
    try:
        return get()
    except Exception as exc:
        raise ModelError(f"cannot download weights for {name!r} ({exc}); {hint}") from None


@dataclass(frozen=True)
class HubWeights:
    """A model's files in a Hugging Face Hub repo (kept in the standard Hugging Face cache).

    Attributes
    ----------
    repo : str
        The repo id, ``owner/name``.
    files : tuple of str
        Files the model needs (``config.json``).
    weights : tuple of str
        Weights files, the first present is used (``model.safetensors``, ``pytorch_model.bin``).
    revision : str, optional
        Branch, tag or commit; default the repo's main branch.
    """

    repo: str
    files: tuple[str, ...] = ("config.json",)
    weights: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
    revision: str | None = None


def hub_cache() -> Path:
    """The Hugging Face Hub cache, read from the environment at each call.

    ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``
    (``~/.cache/huggingface/hub``): ``huggingface_hub``'s own rule.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expanduser(os.environ["HF_HUB_CACHE"]))
    xdg = os.getenv("XDG_CACHE_HOME", "~/.cache")
    home = os.getenv("HF_HOME", os.path.join(xdg, "huggingface"))
    return Path(os.path.expanduser(home)) / "hub"


def _cached_hub_file(hub: HubWeights, filename: str, cache: Path) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(hub.repo, filename, cache_dir=cache, revision=hub.revision)
    return Path(hit) if isinstance(hit, str) and Path(hit).is_file() else None


def fetch_hub(name: str, hub: HubWeights, *, download: bool = True) -> tuple[Path, Path]:
    """The snapshot folder of ``hub``'s repo in the Hugging Face cache, downloading what is missing.

    ``name`` and ``download`` as for :func:`fetch`.

    Returns
    -------
    (folder, weights) : (Path, Path)
        The snapshot folder holding every file of ``hub.files``, and the weights file used.

    Raises
    ------
    ModelError
        If a file is missing and cannot be downloaded; the one-line message
        names the repo, the files and the cache folder they belong in.
    """
    cache = hub_cache()
    found = [_cached_hub_file(hub, f, cache) for f in hub.files]
    weights = next((p for p in (_cached_hub_file(hub, w, cache) for w in hub.weights) if p), None)
    if all(found) and weights is not None:
        return weights.parent, weights
    missing = [f for f, p in zip(hub.files, found, strict=True) if p is None]
    if weights is None:
        missing.append(" or ".join(hub.weights))
    folder = hub_folder(hub)
    hint = (
        f"missing {', '.join(missing)} of Hugging Face repo {hub.repo}; put the repo in {folder} "
        f"(`hf download {hub.repo}` with HF_HOME set, on a machine with network, then copy it here)"
    )

    def get() -> Path:
        from huggingface_hub import snapshot_download

        patterns = [*hub.files, *hub.weights]
        return Path(
            snapshot_download(hub.repo, revision=hub.revision, cache_dir=cache, allow_patterns=patterns)  # type: ignore[arg-type]
        )

    snapshot = _download(name, hint, download, get)
    chosen = next((snapshot / w for w in hub.weights if (snapshot / w).is_file()), None)
    if chosen is None:
        raise ModelError(f"Hugging Face repo {hub.repo} has none of {', '.join(hub.weights)}", name)
    return snapshot, chosen


def hub_folder(hub: HubWeights) -> Path:
    """The repo's folder in the Hugging Face cache (``models--OWNER--NAME``)."""
    return hub_cache() / f"models--{hub.repo.replace('/', '--')}"


def where(weights: Weights | HubWeights) -> tuple[Path, bool]:
    """Where ``weights`` are (or would be) cached, and whether they are: the file, or the repo's folder."""
    if isinstance(weights, HubWeights):
        cache = hub_cache()
        complete = all(_cached_hub_file(weights, f, cache) for f in weights.files) and any(
            _cached_hub_file(weights, w, cache) for w in weights.weights
        )
        return hub_folder(weights), complete
    path = cache_path(weights)
    return path, path.is_file()


def source_url(weights: Weights | HubWeights) -> str:
    """Where ``weights`` are downloaded from (a file's URL, or the repo's page)."""
    if isinstance(weights, HubWeights):
        return f"https://huggingface.co/{weights.repo}"
    return weights.url


def fetch_any(name: str, weights: Weights | HubWeights, *, download: bool = True) -> Path:
    """The weights file of ``weights``, fetched into its cache if needed (:func:`fetch`, :func:`fetch_hub`).

    Raises
    ------
    ModelError
        As :func:`fetch` and :func:`fetch_hub`.
    """
    if isinstance(weights, HubWeights):
        return fetch_hub(name, weights, download=download)[1]
    return fetch(name, weights, download=download)


def hf_model_type(ref: str) -> str | None:
    """The ``model_type`` of a local Hugging Face model folder's ``config.json``; ``None`` for anything else
    (not a folder, no or unreadable ``config.json``, no ``model_type``)."""
    config = Path(ref) / "config.json"
    try:
        if not config.is_file():
            return None
        found = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def hf_folder_weights(folder: Path, name: str) -> Path:
    """The weights file of a Hugging Face model folder (``model.safetensors``, else ``pytorch_model.bin``).

    Raises
    ------
    ModelError
        If it has neither.
    """
    for candidate in HubWeights("").weights:
        if (folder / candidate).is_file():
            return folder / candidate
    raise ModelError(f"no {' or '.join(HubWeights('').weights)} found for this model", name)
