"""Mimi (Kyutai): the plugin (published model, defaults, loading), without PyTorch.

====  =========  ====  ====  =====  ===========================================
name  rate (Hz)  hop   fps   K      weights (Hugging Face Hub, CC-BY-4.0)
====  =========  ====  ====  =====  ===========================================
mimi  24000      1920  12.5  1-32   ``kyutai/mimi`` (config.json, model.safetensors)
====  =========  ====  ====  =====  ===========================================

Mono, 2048 entries per codebook; split RVQ: codebook 0 is semantic
(distilled from WavLM), 1-31 acoustic. ``--codebooks`` defaults to 8, what
Moshi and Hibiki read (Sesame CSM reads 32). Fully causal (causal
convolutions, a transformer with a 250-frame sliding window at 25 Hz), so a
file is encoded chunk after chunk with the network's state carried
(:mod:`audiotok.codecs.streaming`): the codes equal transformers'
whole-file ``MimiModel.encode`` for any chunk length, and clips of different
lengths share a batch exactly. Runs through transformers' ``MimiModel``
(``pip install 'audiotok[codecs]'``); :mod:`.model` holds the PyTorch side.
"""

from __future__ import annotations

from pathlib import Path

from audiotok.codecs.plugin import CodecEntry, CodecPlugin, EncodeDefaults, Located, register_codec
from audiotok.codecs.weights import HubWeights, fetch_hub, hf_model_type

__all__ = ["MIMI_REPO", "MimiPlugin"]

MIMI_REPO = "kyutai/mimi"
"""The Hugging Face repo of Kyutai's Mimi in transformers' layout."""


@register_codec("mimi")
class MimiPlugin(CodecPlugin):
    """Mimi through transformers' ``MimiModel``: the ``mimi`` entry, its repo id, or a model folder."""

    label = "a Mimi model"
    entries = (
        CodecEntry(
            "mimi", "mimi", "mimi", 24000, 1, 1920, 32, 2048, HubWeights(MIMI_REPO), licence="CC-BY-4.0"
        ),
    )
    defaults = EncodeDefaults(codebooks=8, stereo="downmix", chunk_seconds=10.0)
    model_module = "audiotok.codecs.mimi.model"

    def claims(self, ref: str) -> bool:
        """Its repo id, or a model folder whose ``config.json`` says ``"model_type": "mimi"``."""
        return ref == MIMI_REPO or hf_model_type(ref) == "mimi"

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
        _, weights = fetch_hub(ref, HubWeights(ref), download=download and not offline())
        return Located(self, weights, ref, source="hf")
