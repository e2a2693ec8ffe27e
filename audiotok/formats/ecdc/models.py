"""``.ecdc`` metadata: :class:`EcdcMeta` and the format's constants (see :mod:`audiotok.formats.ecdc`)."""

from __future__ import annotations

from pydantic import Field

from audiotok.formats._base import FrozenModel

__all__ = ["ENCODEC_FPS", "OFFICIAL_MAGIC", "EcdcMeta"]

ENCODEC_FPS = 75.0
"""Frame rate of EnCodec 24 kHz codes (hop 320), ESF's rate; the default when a file gives none.

EnCodec 48 kHz also has hop 320, so its codes run at 150 fps (``audiotok.codecs.encodec``); its
``.ecdc`` files record that ``fps``."""
OFFICIAL_MAGIC = b"ECDC"
"""Magic of the official EnCodec binary ``.ecdc`` stream (``encodec.binary``)."""


class EcdcMeta(FrozenModel):
    """What an ``.ecdc`` file says about its codes.

    ``n_codebooks`` and ``n_frames`` always come from the codes tensor itself.
    """

    n_codebooks: int = Field(ge=1, description="Cb, the number of RVQ codebooks.")
    n_frames: int = Field(ge=0, description="T, the number of frames (authoritative for sidecars).")
    sample_rate: int | None = Field(default=None, gt=0, description="Model sample rate in Hz.")
    fps: float = Field(
        default=ENCODEC_FPS, gt=0, allow_inf_nan=False, description="Frame rate in frames per second."
    )
    bandwidth: float | None = Field(default=None, gt=0, description="Target bandwidth in kbps.")
    model: str | None = Field(default=None, description="Codec model name, e.g. 'encodec_24khz'.")
    audio_length: int | None = Field(
        default=None, ge=0, description="Samples of the encoded audio, at sample_rate."
    )
    audiotok_version: str | None = Field(default=None, description="audiotok version that wrote the file.")

    @property
    def duration_s(self) -> float:
        """Duration covered by the codes in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps
