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

from audiotok.codecs._hf import TransformersPlugin
from audiotok.codecs.plugin import CodecEntry, EncodeDefaults, register_codec
from audiotok.codecs.weights import HubWeights

__all__ = ["MIMI_REPO", "MimiPlugin"]

MIMI_REPO = "kyutai/mimi"
"""The Hugging Face repo of Kyutai's Mimi in transformers' layout."""


@register_codec("mimi")
class MimiPlugin(TransformersPlugin):
    """Mimi through transformers' ``MimiModel``: the ``mimi`` entry, its repo id, or a model folder
    (``config.json`` says ``"model_type": "mimi"``)."""

    label = "a Mimi model"
    entries = (
        CodecEntry(
            "mimi", "mimi", "mimi", 24000, 1, 1920, 32, 2048, HubWeights(MIMI_REPO), licence="CC-BY-4.0"
        ),
    )
    #: 5 s chunks: measured faster than 10 s (the SEANet's 24 kHz activations of a long call leave the
    #: CPU's caches; benchmarks/bench_mimi.py); with the state carried a file's latents do not depend on it
    defaults = EncodeDefaults(codebooks=8, stereo="downmix", chunk_seconds=5.0)
    model_module = "audiotok.codecs.mimi.model"
    model_types = ("mimi",)
