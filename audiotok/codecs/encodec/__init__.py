"""EnCodec (``encodec`` 0.1.1): the plugin (published models, defaults, loading), without PyTorch.

=================  =========  ========  ===  ===  ======  =================================
name               rate (Hz)  channels  hop  fps  causal  bandwidths (kbps) -> codebooks
=================  =========  ========  ===  ===  ======  =================================
encodec-24khz      24000      1         320  75   yes     1.5/3/6/12/24 -> 2/4/8/16/32
encodec-48khz      48000      2         320  150  no      3/6/12/24 -> 2/4/8/16
=================  =========  ========  ===  ===  ======  =================================

1024 entries per codebook. Weights come from ``encodec``'s own cache
(``$TORCH_HOME/hub/checkpoints``) or a state-dict file (``.th``). Chunked
encoding is not exact: the 24 kHz encoder ends in an LSTM and the 48 kHz
model normalises over time, so the codes of chunks with context only nearly
equal a whole-file encode (``exact_chunking`` is False and outputs say so).
A mono codec's stereo input is mixed down by default (speech; as ``esf
encode`` always did); the 48 kHz model codes stereo itself.

Modules: :mod:`.cached` (the architectures' numbers, and the 24 kHz encoder
on its cached OpenVINO entry, no PyTorch), :mod:`.model` (the PyTorch model),
:mod:`.networks` (the encoder and RVQ as one exportable network).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from audiotok.codecs.plugin import CodecEntry, CodecPlugin, EncodeDefaults, register_codec
from audiotok.codecs.weights import Weights

if TYPE_CHECKING:
    from audiotok.codecs.plugin import CachedLoad, Codec, Located

__all__ = ["EncodecPlugin"]

_URL = "https://dl.fbaipublicfiles.com/encodec/v0"


def _entry(name: str, short: str, rate: int, channels: int, k: int, filename: str) -> CodecEntry:
    sha = filename.rsplit("-", 1)[1].split(".")[0]
    weights = Weights(url=f"{_URL}/{filename}", filename=filename, cache="torch-hub", sha256_prefix=sha)
    return CodecEntry(
        name, short, "encodec", rate, channels, 320, k, 1024, weights, normalizes=channels == 2, licence="MIT"
    )


@register_codec("encodec")
class EncodecPlugin(CodecPlugin):
    """EnCodec 24 kHz (mono, causal) and 48 kHz (stereo) state dicts."""

    label = "an EnCodec model"
    entries = (
        _entry("encodec-24khz", "encodec_24khz", 24000, 1, 32, "encodec_24khz-d7cc33bc.th"),
        _entry("encodec-48khz", "encodec_48khz", 48000, 2, 16, "encodec_48khz-7e698e3e.th"),
    )
    checkpoint_suffixes = (".th",)
    defaults = EncodeDefaults(
        codebooks=8, side_codebooks=None, stereo="downmix", chunk_seconds=30.0, sink="ecdc"
    )

    model_module = "audiotok.codecs.encodec.model"

    def load_cached(self, located: Located, request: CachedLoad) -> Codec | None:
        """EnCodec 24 kHz's encoder on its cached OpenVINO entry for ``codebooks`` (default 8), else ``None``.

        Not for a bare state-dict file (its architecture is told from its
        tensors), a decoder, or a device other than the CPU.
        """
        from audiotok.codecs.encodec.cached import ENCODEC_MODELS, CachedEncodecCodec, load_cached

        spec = ENCODEC_MODELS.get(located.entry.short_name) if located.entry is not None else None
        if spec is None or request.parts != ("encoder",) or not request.on_openvino(CachedEncodecCodec.caps):
            return None
        kbps = spec.bandwidth_for(8 if request.codebooks is None else request.codebooks)
        return cast("Codec | None", load_cached(located.path, spec, kbps, request.eager))
