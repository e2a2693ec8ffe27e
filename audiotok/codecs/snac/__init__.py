"""SNAC (multi-scale neural audio codec): the plugin (published models, loading), without PyTorch.

==========  =========  ===  ============  =====  ===============================================
name        rate (Hz)  hop  strides       K      weights (Hugging Face Hub, MIT)
==========  =========  ===  ============  =====  ===============================================
snac-24khz  24000      512  4, 2, 1       3      ``hubertsiuzdak/snac_24khz`` (config.json, pytorch_model.bin)
snac-32khz  32000      384  8, 4, 2, 1    4      ``hubertsiuzdak/snac_32khz``
snac-44khz  44100      384  8, 4, 2, 1    4      ``hubertsiuzdak/snac_44khz``
==========  =========  ===  ============  =====  ===============================================

Mono, 4096 entries per codebook. Its codebooks run at different rates: codebook
``k`` holds one code per ``stride_k`` finest frames (24 kHz: 11.7, 23.4 and
46.9 Hz), so a file's codes are one array per codebook
(:class:`~audiotok.tokens.Codes`) and ``--to npq`` stores them as rows, one
per coarsest frame (:meth:`~audiotok.tokens.TokenLayout.to_rows`: ``[T0, 1 +
2 + 4]`` at 24 kHz, ``[T0, 1 + 2 + 4 + 8]`` at 32 and 44.1 kHz). Non-causal
convolutions (and, at 32 and 44.1 kHz, attention in windows of 32 finest
frames) with a finite receptive field: chunks on SNAC's padding grid (2048
samples at 24 kHz, 12288 at 32 and 44.1 kHz) with context on both sides give
the codes of a whole-file ``SNAC.encode`` exactly. Runs through the ``snac``
package (``pip install 'audiotok[codecs]'``); :mod:`.model` holds the
PyTorch side.
"""

from __future__ import annotations

import json
from pathlib import Path

from audiotok.codecs.plugin import CodecEntry, CodecPlugin, EncodeDefaults, Located, register_codec
from audiotok.codecs.weights import HubWeights, fetch_hub, offline

__all__ = ["SNAC_REPOS", "SnacPlugin"]

SNAC_REPOS = {
    "snac-24khz": "hubertsiuzdak/snac_24khz",
    "snac-32khz": "hubertsiuzdak/snac_32khz",
    "snac-44khz": "hubertsiuzdak/snac_44khz",
}
"""The Hugging Face repos of the published SNAC models, by name."""

SNAC_FILES = {"files": ("config.json",), "weights": ("pytorch_model.bin",)}


def _entry(name: str, rate: int, hop: int, strides: tuple[int, ...]) -> CodecEntry:
    weights = HubWeights(SNAC_REPOS[name], SNAC_FILES["files"], SNAC_FILES["weights"])
    short = SNAC_REPOS[name].split("/")[1]
    return CodecEntry(
        name, short, "snac", rate, 1, hop, len(strides), 4096, weights, licence="MIT", strides=strides
    )


@register_codec("snac")
class SnacPlugin(CodecPlugin):
    """SNAC through the ``snac`` package: its three published models, their repo ids, or a model folder."""

    label = "a SNAC model"
    entries = (
        _entry("snac-24khz", 24000, 512, (4, 2, 1)),
        _entry("snac-32khz", 32000, 384, (8, 4, 2, 1)),
        _entry("snac-44khz", 44100, 384, (8, 4, 2, 1)),
    )
    #: 3 s chunks (with 0.34 s of context each side at 24 kHz): on OpenVINO, 24 clips of 3-10 s encoded
    #: 2.4x faster than in 10 s chunks (one window a clip) on 2 cores (benchmarks/bench_snac.py).
    defaults = EncodeDefaults(codebooks=None, stereo="downmix", chunk_seconds=3.0)
    model_module = "audiotok.codecs.snac.model"

    def claims(self, ref: str) -> bool:
        """A published repo id, or a folder of a SNAC model (:func:`_snac_folder`)."""
        return ref in SNAC_REPOS.values() or _snac_folder(Path(ref))

    def locate_reference(self, ref: str, download: bool) -> Located:
        """The repo id's files from the Hugging Face cache (downloaded if allowed); a folder as it is.

        Raises
        ------
        ModelError
            If the repo's files are not cached and cannot be downloaded.
        """
        folder = Path(ref)
        if folder.is_dir():
            return Located(self, folder / "pytorch_model.bin", ref, source="hf")
        hub = HubWeights(ref, SNAC_FILES["files"], SNAC_FILES["weights"])
        _, weights = fetch_hub(ref, hub, download=download and not offline())
        return Located(self, weights, ref, source="hf")


def _snac_folder(folder: Path) -> bool:
    """Whether ``folder`` holds ``pytorch_model.bin`` and a ``config.json`` with ``vq_strides`` (SNAC's)."""
    try:
        if not (folder / "pytorch_model.bin").is_file():
            return False
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "vq_strides" in config
