"""``models``: which codec models audiotok knows, whether they are cached, fetching them.

The models are the entries of :mod:`audiotok.codecs.registry` (DAC,
EnCodec, Mimi), listed by their canonical names (``dac-44khz``) with the earlier
short name as ``alias`` (``44khz``); :func:`fetch_model` takes either.
"""

from __future__ import annotations

from pydantic import Field

from audiotok.codecs import registry
from audiotok.codecs.weights import fetch_any, sha256_file, source_url, where
from audiotok.errors import UsageError
from audiotok.formats._base import FrozenModel

__all__ = ["FetchRecord", "ModelRecord", "fetch_model", "list_models"]


class ModelRecord(FrozenModel):
    """One known model (one JSON object per model)."""

    name: str = Field(description="Canonical name (dac-44khz).")
    alias: str = Field(description="The earlier short name, also accepted (44khz).")
    family: str = Field(description="The codec family (dac, encodec, mimi, xcodec2, ...).")
    sample_rate: int = Field(description="Hz.")
    output_sample_rate: int = Field(description="Hz of the decoded audio (NeuCodec: 24000, from 16000 in).")
    channels: int = Field(description="Audio channels the model takes (2: EnCodec 48 kHz).")
    hop_length: int = Field(description="Samples per frame.")
    token_rate: float = Field(description="Frames per second (fps).")
    n_codebooks: int = Field(description="Codebooks the model has (K).")
    codebook_size: int = Field(description="Entries per codebook.")
    cached: bool
    path: str = Field(
        description="Where the weights are cached (a codec package's cache, or the Hugging Face cache)."
    )
    url: str
    licence: str = Field(description="The weights' licence.")


class FetchRecord(FrozenModel):
    """A model whose weights are now in the cache."""

    name: str = Field(description="Canonical name.")
    path: str
    sha256: str
    bytes: int


def list_models() -> list[ModelRecord]:
    """Every model of the registry (in registration order: DAC, EnCodec, Mimi), with its cache state."""
    infos = []
    for entry in registry.entries():
        path, cached = where(entry.weights)
        infos.append(
            ModelRecord(
                name=entry.name,
                alias=entry.short_name,
                family=entry.family,
                sample_rate=entry.sample_rate,
                output_sample_rate=entry.output_sample_rate or entry.sample_rate,
                channels=entry.channels,
                hop_length=entry.hop_length,
                token_rate=entry.frame_rate,
                n_codebooks=entry.n_codebooks,
                codebook_size=entry.codebook_size,
                cached=cached,
                path=str(path),
                url=source_url(entry.weights),
                licence=entry.licence,
            )
        )
    return infos


def fetch_model(name: str) -> FetchRecord:
    """Download ``name`` into its codec's cache (unless cached) and hash it.

    Raises
    ------
    UsageError
        If ``name`` is not a known model (canonical name or alias).
    ModelError
        If the download fails (the message names the URL and the cache path).
    """
    entry = registry.lookup(name)
    if entry is None:
        known = ", ".join(n for e in registry.entries() for n in e.names)
        raise UsageError(f"unknown model {name!r}; known: {known}")
    path = fetch_any(entry.name, entry.weights)
    return FetchRecord(name=entry.name, path=str(path), sha256=sha256_file(path), bytes=path.stat().st_size)
