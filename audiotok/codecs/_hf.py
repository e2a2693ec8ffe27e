"""What every codec run through transformers shares: its plugin base, quiet loading, loading a model folder.

:class:`TransformersPlugin` (torch-free) finds a family's models: a registry
entry's Hugging Face repo in the cache, any repo id or model folder whose
``config.json`` names one of the family's ``model_type`` values.
:func:`from_pretrained` loads such a folder offline, its progress bar off
(:func:`quiet_loading`), every failure a one-line
:class:`~audiotok.errors.ModelError`. transformers is imported only inside the
functions that load.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from audiotok.codecs.plugin import CodecPlugin, Located
from audiotok.codecs.weights import HubWeights, fetch_hub, hf_model_type
from audiotok.errors import ModelError

__all__ = ["TransformersPlugin", "from_pretrained", "quiet_loading"]


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' progress bars off inside (``from_pretrained``), as they were after."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


class TransformersPlugin(CodecPlugin):
    """A codec family run by a transformers model class: entries' repo ids, other repo ids, model folders.

    A subclass sets :attr:`model_types` (the ``model_type`` values its
    classes load) besides what :class:`CodecPlugin` asks for.
    """

    #: ``config.json``'s ``model_type`` values of this family's models.
    model_types: ClassVar[tuple[str, ...]] = ()
    #: Files besides the weights a repo id not in the registry must have (``preprocessor_config.json``).
    hub_files: ClassVar[tuple[str, ...]] = ("config.json",)

    def claims(self, ref: str) -> bool:
        """An entry's repo id, or a model folder whose ``config.json`` has one of :attr:`model_types`."""
        repos = {e.weights.repo for e in self.entries if isinstance(e.weights, HubWeights)}
        return ref in repos or hf_model_type(ref) in self.model_types

    def locate_reference(self, ref: str, download: bool) -> Located:
        """The repo id's files from the Hugging Face cache (downloaded if allowed); a folder as it is.

        Raises
        ------
        ModelError
            If the folder has no weights, or the repo's files are not cached and cannot be downloaded.
        """
        from audiotok.codecs.weights import hf_folder_weights, offline

        folder = Path(ref)
        if folder.is_dir():
            return Located(self, hf_folder_weights(folder, ref), ref, source="hf")
        _, weights = fetch_hub(ref, HubWeights(ref, self.hub_files), download=download and not offline())
        return Located(self, weights, ref, source="hf")


def from_pretrained(located: Located, load: Callable[[str], Any], what: str) -> Any:
    """``load(folder)`` of ``located``'s model folder (``config.json`` beside the weights), quietly.

    Parameters
    ----------
    located : Located
        ``path`` the weights file of a model folder.
    load : callable
        Imports transformers' class and calls its ``from_pretrained(folder, local_files_only=True)``.
    what : str
        The model, in messages (``Mimi``, ``an XCodec2 model``).

    Raises
    ------
    ModelError
        If transformers is missing (``pip install 'audiotok[codecs]'``) or the folder cannot be loaded.
    """
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise ModelError(f"{what} needs transformers: pip install 'audiotok[codecs]'", located.name) from None
    try:
        with quiet_loading():
            return load(str(located.path.parent))
    except ImportError as exc:  # a transformers without the class (older than audiotok[codecs] asks)
        raise ModelError(f"{what} needs transformers>=5.25 ({exc})", located.name) from None
    except (OSError, ValueError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ModelError(f"cannot load {what} ({reason})", located.name) from None
