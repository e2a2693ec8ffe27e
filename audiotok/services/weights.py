"""``models``: which DAC models audiotok knows, whether they are cached, fetching them."""

from __future__ import annotations

from pydantic import Field

from audiotok.codecs.dac import MODELS, cache_path, fetch, sha256_file
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
    """Every model of :data:`audiotok.codecs.dac.MODELS`, with its cache state."""
    infos = []
    for spec in MODELS.values():
        path = cache_path(spec)
        infos.append(
            ModelInfo(
                name=spec.name,
                sample_rate=spec.sample_rate,
                hop_length=spec.hop_length,
                token_rate=spec.token_rate,
                n_codebooks=spec.n_codebooks,
                codebook_size=spec.codebook_size,
                cached=path.is_file(),
                path=str(path),
                url=spec.url,
            )
        )
    return infos


def fetch_model(name: str) -> FetchedModel:
    """Download ``name`` into DAC's cache (unless cached) and hash it.

    Raises
    ------
    UsageError
        If ``name`` is not a known model.
    ModelError
        If the download fails (the message names the URL and the cache path).
    """
    spec = MODELS.get(name.strip().lower())
    if spec is None:
        raise UsageError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    path = fetch(spec)
    return FetchedModel(name=spec.name, path=str(path), sha256=sha256_file(path), bytes=path.stat().st_size)
