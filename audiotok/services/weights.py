"""``models``: which DAC models audiotok knows, whether they are cached, fetching them.

The models are the ``dac`` entries of :mod:`audiotok.codecs.registry`, listed
by their short names (``44khz``); the canonical names (``dac-44khz``) are
accepted by :func:`fetch_model` too.
"""

from __future__ import annotations

from pydantic import Field

from audiotok.codecs import registry
from audiotok.codecs.weights import cache_path, fetch, sha256_file
from audiotok.errors import UsageError
from audiotok.formats._base import FrozenModel

__all__ = ["FetchedModel", "ModelInfo", "fetch_model", "list_models"]


class ModelInfo(FrozenModel):
    """One known model (one JSON object per model)."""

    name: str
    sample_rate: int = Field(description="Hz.")
    hop_length: int = Field(description="Samples per frame.")
    token_rate: float = Field(description="Frames per second (fps).")
    n_codebooks: int
    codebook_size: int
    cached: bool
    path: str = Field(description="Where descript-audio-codec caches the weights.")
    url: str


class FetchedModel(FrozenModel):
    """A model whose weights are now in the cache."""

    name: str
    path: str
    sha256: str
    bytes: int


def list_models() -> list[ModelInfo]:
    """Every DAC model of the registry, with its cache state."""
    infos = []
    for entry in registry.entries("dac"):
        path = cache_path(entry.weights)
        infos.append(
            ModelInfo(
                name=entry.short_name,
                sample_rate=entry.sample_rate,
                hop_length=entry.hop_length,
                token_rate=entry.frame_rate,
                n_codebooks=entry.n_codebooks,
                codebook_size=entry.codebook_size,
                cached=path.is_file(),
                path=str(path),
                url=entry.weights.url,
            )
        )
    return infos


def fetch_model(name: str) -> FetchedModel:
    """Download ``name`` into DAC's cache (unless cached) and hash it.

    Raises
    ------
    UsageError
        If ``name`` is not a known DAC model.
    ModelError
        If the download fails (the message names the URL and the cache path).
    """
    entry = registry.lookup(name)
    if entry is None or entry.family != "dac":
        known = ", ".join(e.short_name for e in registry.entries("dac"))
        raise UsageError(f"unknown model {name!r}; known: {known}")
    path = fetch(entry.short_name, entry.weights)
    return FetchedModel(
        name=entry.short_name, path=str(path), sha256=sha256_file(path), bytes=path.stat().st_size
    )
