"""Descript Audio Codec (DAC): the plugin (published models, defaults, loading), without PyTorch.

================  =========  ===  =====  ==  ===================================
name              rate (Hz)  hop  fps    K   weights (descript-audio-codec cache)
================  =========  ===  =====  ==  ===================================
dac-44khz         44100      512  86.13  9   weights_44khz_8kbps_0.0.1.pth
dac-24khz         24000      320  75     32  weights_24khz_8kbps_0.0.4.pth
dac-16khz         16000      320  50     12  weights_16khz_8kbps_0.0.5.pth
dac-44khz-16kbps  44100      512  86.13  18  weights_44khz_16kbps_1.0.0.pth
================  =========  ===  =====  ==  ===================================

Mono, 1024 entries per codebook, RVQ; fully convolutional with a finite
receptive field, so chunked encoding with that much context each side gives
the whole-file codes exactly (``cached.DacCodecBase.encoder_context_frames``).
Stereo input is coded as Mid and Side by default (a music codec: the stereo
image is worth a few Side codebooks; NPQ2, specs/npq-tools.md).

Modules: :mod:`.cached` (the numbers of a model, and a codec on its cached
OpenVINO networks, no PyTorch), :mod:`.model` (the PyTorch model),
:mod:`.networks` (speed-ups and export rewrites), :mod:`.hf` (transformers' ``DacModel``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from audiotok.codecs.plugin import CodecEntry, CodecPlugin, EncodeDefaults, Located, register_codec
from audiotok.codecs.weights import HubWeights, Weights, fetch_hub, hf_folder_weights, hf_model_type

if TYPE_CHECKING:
    from audiotok.codecs.plugin import CachedLoad, Codec

__all__ = ["DacPlugin", "is_hf_reference"]

_URL = "https://github.com/descriptinc/descript-audio-codec/releases/download"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _entry(name: str, short: str, rate: int, hop: int, k: int, url: str, filename: str) -> CodecEntry:
    weights = Weights(url=f"{_URL}/{url}", filename=filename, cache="descript")
    return CodecEntry(name, short, "dac", rate, 1, hop, k, 1024, weights, licence="MIT")


def is_hf_reference(model: str) -> bool:
    """Whether ``model`` names a Hugging Face DAC model: a local model folder (``config.json`` of
    ``model_type`` ``dac``, or none) or an ``owner/name`` repo id."""
    path = Path(model)
    if path.is_dir():
        return (path / "config.json").is_file() and hf_model_type(model) in ("dac", None)
    return not path.exists() and bool(_REPO_ID.match(model))


@register_codec("dac")
class DacPlugin(CodecPlugin):
    """DAC: descript-audio-codec checkpoints, and transformers' ``DacModel`` (repo id or model folder)."""

    label = "a DAC model"
    entries = (
        _entry("dac-44khz", "44khz", 44100, 512, 9, "0.0.1/weights.pth", "weights_44khz_8kbps_0.0.1.pth"),
        _entry(
            "dac-24khz", "24khz", 24000, 320, 32, "0.0.4/weights_24khz.pth", "weights_24khz_8kbps_0.0.4.pth"
        ),
        _entry(
            "dac-16khz", "16khz", 16000, 320, 12, "0.0.5/weights_16khz.pth", "weights_16khz_8kbps_0.0.5.pth"
        ),
        _entry(
            "dac-44khz-16kbps",
            "44khz-16kbps",
            44100,
            512,
            18,
            "1.0.0/weights_44khz_16kbps.pth",
            "weights_44khz_16kbps_1.0.0.pth",
        ),
    )
    checkpoint_suffixes = (".pth", ".pt")
    defaults = EncodeDefaults(codebooks=9, side_codebooks=4, stereo="mid-side", chunk_seconds=2.0)

    model_module = "audiotok.codecs.dac.model"

    def load_cached(self, located: Located, request: CachedLoad) -> Codec | None:
        """A :class:`~audiotok.codecs.dac.cached.CachedDacCodec` when all ``parts`` are cached (OpenVINO)."""
        from audiotok.codecs.dac.cached import CachedDacCodec, load_cached

        if not request.on_openvino(CachedDacCodec.caps):
            return None
        return load_cached(located.path, located.name, request.parts)

    def claims(self, ref: str) -> bool:
        """A Hugging Face model folder or ``owner/name`` repo id (transformers' ``DacModel``)."""
        return is_hf_reference(ref)

    def locate_reference(self, ref: str, download: bool) -> Located:
        """A model folder as it is; a repo id's files from the Hugging Face cache (downloaded if allowed).

        Raises
        ------
        ModelError
            If the folder has no weights file, or the repo's files are not cached and cannot be downloaded.
        """
        folder = Path(ref)
        if folder.is_dir():
            weights = hf_folder_weights(folder, ref)
        else:
            from audiotok.codecs.weights import offline

            _, weights = fetch_hub(ref, HubWeights(ref), download=download and not offline())
        return Located(self, weights, ref, source="hf")
