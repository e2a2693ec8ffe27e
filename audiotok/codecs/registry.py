"""Known codecs by name, checkpoint paths and other references, mapped to their plugins' loaders.

================  =============  =========  ========  ===  =====  ==
name              alias          rate (Hz)  channels  hop  fps    K
================  =============  =========  ========  ===  =====  ==
dac-44khz         44khz          44100      1         512  86.13  9
dac-24khz         24khz          24000      1         320  75     32
dac-16khz         16khz          16000      1         320  50     12
dac-44khz-16kbps  44khz-16kbps   44100      1         512  86.13  18
encodec-24khz     encodec_24khz  24000      1         320  75     32
encodec-48khz     encodec_48khz  48000      2         320  150    16
mimi              mimi           24000      1         1920 12.5   32
================  =============  =========  ========  ===  =====  ==

The entries come from the registered codec plugins
(:func:`audiotok.codecs.plugin.plugins`, one package per family). Every
codebook above has 1024 entries (Mimi's 2048). The alias is the name audiotok used before
these names and still writes into records and files (``.ecdc`` files carry
``encodec_24khz``, EnCodec's own name). Names are matched case-insensitively.

:func:`load_codec` also takes a checkpoint file, sent to the plugin that
claims its suffix (``.th``: EnCodec) and otherwise to DAC; or a reference a
plugin claims (a Hugging Face DAC repo id or model folder, ``descript/dac_44khz``);
the repo id of an entry's Hub weights (``kyutai/mimi``) is that entry.

This module imports no torch: plugins load their models on first use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audiotok.codecs.plugin import CachedLoad, Codec, CodecEntry, CodecPlugin, Located, Part, plugins
from audiotok.codecs.weights import HubWeights, fetch, fetch_hub
from audiotok.errors import ModelError, UsageError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_CHECKPOINT_FAMILY",
    "CodecEntry",
    "Family",
    "entries",
    "get",
    "load_codec",
    "locate",
    "lookup",
    "plugin",
]

Family = str
"""A codec family: the name its plugin is registered under (``dac``, ``encodec``)."""
DEFAULT_CHECKPOINT_FAMILY = "dac"
"""The family of a checkpoint file whose suffix no plugin claims."""
_MISSING_SUFFIXES = (".pth", ".pt", ".th")


def plugin(family: Family) -> CodecPlugin:
    """The plugin of ``family``.

    Raises
    ------
    UsageError
        If no plugin has that name.
    """
    found = plugins().get(family)
    if found is None:
        raise UsageError(f"unknown codec family {family!r}; known: {', '.join(plugins())}")
    return found


def entries(family: Family | None = None) -> list[CodecEntry]:
    """Known models, all or of one family, in registration order (``models list`` shows them so)."""
    return [e for p in plugins().values() for e in p.entries if family is None or e.family == family]


def __getattr__(name: str) -> Any:
    if name == "CODECS":  # every known model, computed from the plugins
        return tuple(entries())
    raise AttributeError(name)


def lookup(name: str) -> CodecEntry | None:
    """The entry a name or alias refers to (case-insensitive), or ``None``."""
    key = name.strip().lower()
    return next((e for e in entries() if key in (n.lower() for n in e.names)), None)


def _label(family: Family | None) -> str:
    return "model" if family is None else plugin(family).label.split(" ", 1)[1]


def _a_label(family: Family) -> str:
    return plugin(family).label


def _known(family: Family | None) -> str:
    return "known: " + _names(family)


def _names(family: Family | None) -> str:
    """Every name and alias of the family's entries, each once (``mimi`` is its own alias)."""
    return ", ".join(dict.fromkeys(n for e in entries(family) for n in e.names))


def get(name: str, family: Family | None = None) -> CodecEntry:
    """The entry for a name or alias, of ``family`` when given.

    Raises
    ------
    UsageError
        If no entry (of that family) has that name; the message lists the known names.
    """
    entry = lookup(name)
    if entry is None:
        raise UsageError(f"unknown {_label(family)} {name!r}; {_known(family)}")
    if family is not None and entry.family != family:
        raise UsageError(f"{name!r} is {_a_label(entry.family)}, not {_a_label(family)}; {_known(family)}")
    return entry


def _by_repo(ref: str) -> CodecEntry | None:
    """The entry whose weights are the Hugging Face repo ``ref`` (``kyutai/mimi``), if any."""
    return next((e for e in entries() if isinstance(e.weights, HubWeights) and e.weights.repo == ref), None)


def _checkpoint_family(path: Path) -> Family:
    suffix = path.suffix.lower()
    for p in plugins().values():
        if suffix in p.checkpoint_suffixes:
            return p.family
    return DEFAULT_CHECKPOINT_FAMILY


def locate(
    model: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    family: Family | None = None,
    download: bool = True,
) -> Located | None:
    """Find a model without loading it: a registry name (its weights fetched) or a checkpoint file.

    ``None`` for anything else (a reference a plugin may claim, or nothing).

    Raises
    ------
    ModelError
        If a named model's weights are missing and cannot be downloaded.
    UsageError
        If the model is not of ``family``.
    """
    ref = os.fspath(model)
    entry = lookup(ref) or _by_repo(ref)
    if entry is not None:
        if family is not None:
            get(ref, family)  # raises for a model of another family
        owner = plugin(entry.family)
        if checkpoint is not None and isinstance(entry.weights, HubWeights) and Path(checkpoint).is_dir():
            return Located(
                owner, _folder_weights(Path(checkpoint), entry.weights), entry.short_name, entry, source="hf"
            )
        if checkpoint is not None:
            return Located(owner, Path(checkpoint), entry.short_name, entry)
        if isinstance(entry.weights, HubWeights):
            _, weights = fetch_hub(entry.short_name, entry.weights, download=download)
            return Located(owner, weights, entry.short_name, entry, source="hf")
        return Located(
            owner, fetch(entry.short_name, entry.weights, download=download), entry.short_name, entry
        )
    path = Path(ref)
    if path.is_file():
        kind = _checkpoint_family(path)
        if family is not None and kind != family:
            raise UsageError(f"{_a_label(kind)} checkpoint, not {_a_label(family)}", ref)
        return Located(plugin(kind), path, ref)
    return None


def _folder_weights(folder: Path, hub: HubWeights) -> Path:
    """The weights file of a local copy of ``hub``'s repo (``--model DIR``).

    Raises
    ------
    ModelError
        If a file the model needs is not in the folder.
    """
    missing = [f for f in hub.files if not (folder / f).is_file()]
    weights = [folder / w for w in hub.weights if (folder / w).is_file()]
    if not weights:
        missing.append(" or ".join(hub.weights))
    if missing:
        raise ModelError(f"not a copy of Hugging Face repo {hub.repo}: no {', '.join(missing)}", folder)
    return weights[0]


def load_codec(
    model: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    family: Family | None = None,
    device: torch.device | str | None = None,
    download: bool = True,
    fast: bool = True,
    backend: str = "eager",
    parts: tuple[Part, ...] = ("encoder",),
    codebooks: int | None = None,
) -> Codec:
    """Load a codec by name, from a checkpoint file, or from a reference a plugin claims.

    Parameters
    ----------
    model : str or os.PathLike
        A name or alias of :func:`entries`; a checkpoint file (``.th``: an
        EnCodec state dict, else a DAC checkpoint ``{"state_dict",
        "metadata": {"kwargs"}}``); or a Hugging Face repo id / model folder
        of transformers' ``DacModel`` (needs the ``hf`` extra).
    checkpoint : str or os.PathLike, optional
        With a name: read the weights from this file instead of the cache.
    family : str, optional
        Refuse models of another family (a command that writes one format).
    device : torch.device or str, optional
        Defaults to the CPU. A model whose networks are all in the backend
        cache may load without PyTorch (its plugin's ``load_cached``: DAC,
        EnCodec 24 kHz's encoder).
    download : bool
        Allow downloading a named model that is not cached.
    fast : bool
        Inference speed-ups with identical outputs (DAC: weight norm folded, an in-place Snake).
    backend : {"eager", "auto", "compile", "openvino"}
        What runs ``parts`` (:func:`audiotok.codecs.backends.apply_backend`):
        converted or compiled once, cached, checked against eager on a probe.
    parts : tuple of {"encoder", "decoder"}
        The networks the caller will run.
    codebooks : int, optional
        The codebooks the caller will encode (:meth:`Codec.select_codebooks`:
        EnCodec's bandwidth, whose backend entry is per count).

    Raises
    ------
    ModelError
        If the weights are missing (message: URL and cache path), unreadable,
        do not fit the architecture, or ``model`` is none of the above.
    UsageError
        If the model is not of ``family``, or ``codebooks`` is not a count it offers.
    """
    dev: torch.device | str = device or "cpu"
    ref = os.fspath(model)
    located = locate(model, checkpoint=checkpoint, family=family, download=download)
    if located is None:
        located = _reference(ref, family, download)
    if backend != "eager" and parts:

        def eager() -> Codec:
            return _finish(located.plugin.load(located, _torch_device(dev), fast), located, codebooks)

        cached = located.plugin.load_cached(located, CachedLoad(dev, backend, parts, codebooks, eager))
        if cached is not None:
            cached.codec_id = _codec_id(located)
            return cached
    codec = _finish(located.plugin.load(located, _torch_device(dev), fast), located, codebooks)
    if backend != "eager":
        from audiotok.codecs.backends import apply_backend

        apply_backend(codec, backend, parts)
    return codec


def _torch_device(dev: Any) -> Any:
    import torch

    return torch.device(dev)


def _codec_id(located: Located) -> str:
    return located.entry.name if located.entry is not None else located.name


def _finish(codec: Codec, located: Located, codebooks: int | None) -> Codec:
    codec.codec_id = _codec_id(located)
    if codebooks is not None:
        codec.select_codebooks(codebooks)  # before a backend: an entry may be per count
    return codec


def _reference(ref: str, family: Family | None, download: bool) -> Located:
    """A reference a plugin claims (a Hugging Face repo id or model folder), else a ModelError."""
    if Path(ref).suffix.lower() in _MISSING_SUFFIXES:
        raise ModelError("no such checkpoint file", ref)
    # DAC claims any repo id and a model folder without a model_type: every other family is asked first
    for p in sorted(plugins().values(), key=lambda p: p.family == DEFAULT_CHECKPOINT_FAMILY):
        if (family is None or p.family == family) and p.claims(ref):
            return p.locate_reference(ref, download)
    known = _names(family)
    raise ModelError(f"not a known model name ({known}), checkpoint file or Hugging Face model", ref)
