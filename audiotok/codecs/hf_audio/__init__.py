"""Codecs with a global receptive field, through transformers' classes: the plugins, without PyTorch.

==================  =====  ===  ===  ==========  ====================================  ============
name                Hz     hop  fps  K x V       weights (Hugging Face Hub)            licence
==================  =====  ===  ===  ==========  ====================================  ============
xcodec2             16000  320  50   1 x 65536   ``HKUSTAudio/xcodec2-hf``             CC-BY-NC-4.0
neucodec            16000  320  50   1 x 65536   ``neuphonic/neucodec``                Apache-2.0
xcodec-* (5)        16000  320  50   1-8 x 1024  ``hf-audio/xcodec-*``                 CC-BY-4.0
higgs-audio-v2      24000  960  25   8 x 1024    ``bosonai/higgs-audio-v2-tokenizer``  other
==================  =====  ===  ===  ==========  ====================================  ============

Mono. XCodec2 (``Xcodec2Model``) and NeuCodec (``NeuCodecModel``): one FSQ
codebook (8 dimensions of 4 levels) over a w2v-BERT 2.0 semantic encoder and
a convolutional acoustic encoder; NeuCodec's decoder synthesises 24 kHz
(``output_sample_rate``).
X-Codec (``XcodecModel``): HuBERT or WavLM semantic features with a DAC
acoustic encoder, residual VQ of 8 x 1024 (``--codebooks`` 1-8: the first K of
the full-bandwidth encode, which are what a lower bandwidth gives). Higgs Audio
v2's tokenizer (``HiggsAudioV2TokenizerModel``): the same design at 24 kHz,
25 fps, 8 x 1024.

Each runs its transformers class with the feature extractor of its repo
(``preprocessor_config.json``), as transformers documents. Every one has a
global receptive field (self-attention over the whole input), so no chunking
reproduces a whole-file encode: a file is encoded as one window up to
:data:`WINDOW_SECONDS` (``--chunk-seconds``), and a longer one is cut at its
quietest frame boundary near each 30 s mark
(:class:`~audiotok.codecs.segments.SegmentEncoder`; the records say where).
:mod:`.model` holds the PyTorch side.
"""

from __future__ import annotations

from audiotok.codecs._hf import TransformersPlugin
from audiotok.codecs.plugin import CodecEntry, EncodeDefaults, register_codec
from audiotok.codecs.weights import HubWeights

__all__ = [
    "HIGGS_REPO",
    "NEUCODEC_REPO",
    "WINDOW_SECONDS",
    "XCODEC2_REPO",
    "XCODEC_CHECKPOINTS",
    "HiggsAudioPlugin",
    "NeuCodecPlugin",
    "Xcodec2Plugin",
    "XcodecPlugin",
]

WINDOW_SECONDS = 30.0
"""The longest window these codecs encode whole, seconds (``--chunk-seconds`` changes it).

The models were trained on crops of a few seconds, and their attention has
no length limit (relative positions: w2v-BERT's, HuBERT's convolutional ones),
so the limit is memory and how far from training a window may go: 30 s is what
the TTS models built on them (Llasa, NeuTTS, Higgs Audio) generate or take as a
reference at most; a 30 s window is a 1500-frame self-attention per layer
(its memory not measured yet). Most utterances of a speech corpus are shorter
and are encoded whole; longer files are cut at quiet points (the records give
the segments)."""

XCODEC2_REPO = "HKUSTAudio/xcodec2-hf"
"""XCodec2 in transformers' layout (the checkpoint transformers' ``Xcodec2Model`` documents)."""
NEUCODEC_REPO = "neuphonic/neucodec"
"""NeuCodec; the repo holds transformers' layout beside the ``neucodec`` package's checkpoint."""
HIGGS_REPO = "bosonai/higgs-audio-v2-tokenizer"
"""Higgs Audio v2's tokenizer (the checkpoint transformers' ``HiggsAudioV2TokenizerConfig`` documents)."""
XCODEC_CHECKPOINTS = (
    "xcodec-hubert-librispeech",
    "xcodec-wavlm-mls",
    "xcodec-wavlm-more-data",
    "xcodec-hubert-general",
    "xcodec-hubert-general-balanced",
)
"""X-Codec's checkpoints in transformers' layout, each the Hub repo ``hf-audio/<name>`` (speech:
HuBERT on LibriSpeech, WavLM on MLS English, WavLM on more data; general audio: two HuBERT models)."""

XCODEC_LICENCE = "CC-BY-4.0"
"""The ``hf-audio/xcodec-*`` model cards' licence."""

_FILES = ("config.json", "preprocessor_config.json")
_DEFAULTS = EncodeDefaults(stereo="downmix", chunk_seconds=WINDOW_SECONDS)


def _hub(repo: str) -> HubWeights:
    return HubWeights(repo, _FILES)


@register_codec("xcodec2")
class Xcodec2Plugin(TransformersPlugin):
    """XCodec2 (HKUSTAudio, the Llasa TTS tokenizer) through transformers' ``Xcodec2Model``."""

    label = "an XCodec2 model"
    entries = (
        CodecEntry(
            "xcodec2", "xcodec2", "xcodec2", 16000, 1, 320, 1, 65536, _hub(XCODEC2_REPO),
            licence="CC-BY-NC-4.0",
        ),
    )  # fmt: skip
    defaults = _DEFAULTS
    model_module = "audiotok.codecs.hf_audio.model"
    model_types = ("xcodec2",)
    hub_files = _FILES


@register_codec("neucodec")
class NeuCodecPlugin(TransformersPlugin):
    """NeuCodec (Neuphonic, NeuTTS) through transformers' ``NeuCodecModel``: 16 kHz in, 24 kHz out."""

    label = "a NeuCodec model"
    entries = (
        CodecEntry(
            "neucodec", "neucodec", "neucodec", 16000, 1, 320, 1, 65536, _hub(NEUCODEC_REPO),
            licence="Apache-2.0", output_sample_rate=24000,
        ),
    )  # fmt: skip
    defaults = _DEFAULTS
    model_module = "audiotok.codecs.hf_audio.model"
    model_types = ("neucodec",)
    hub_files = _FILES


@register_codec("xcodec")
class XcodecPlugin(TransformersPlugin):
    """X-Codec (v1; YuE's tokenizer is the general-audio one) through transformers' ``XcodecModel``."""

    label = "an X-Codec model"
    entries = tuple(
        CodecEntry(
            name, name, "xcodec", 16000, 1, 320, 8, 1024, _hub(f"hf-audio/{name}"), licence=XCODEC_LICENCE
        )
        for name in XCODEC_CHECKPOINTS
    )
    defaults = _DEFAULTS
    model_module = "audiotok.codecs.hf_audio.model"
    model_types = ("xcodec",)
    hub_files = _FILES


@register_codec("higgs-audio-v2")
class HiggsAudioPlugin(TransformersPlugin):
    """Higgs Audio v2's tokenizer (Boson AI) through transformers' ``HiggsAudioV2TokenizerModel``."""

    label = "a Higgs Audio v2 tokenizer"
    entries = (
        CodecEntry(
            "higgs-audio-v2", "higgs-audio-v2", "higgs-audio-v2", 24000, 1, 960, 8, 1024, _hub(HIGGS_REPO),
            licence="other (Boson Higgs Audio 2 Community License)",
        ),
    )  # fmt: skip
    defaults = _DEFAULTS
    model_module = "audiotok.codecs.hf_audio.model"
    model_types = ("higgs_audio_v2_tokenizer",)
    hub_files = _FILES
