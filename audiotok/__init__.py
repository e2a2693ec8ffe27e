"""audiotok: audio corpora to neural-codec token datasets.

Formats
-------
- ``.npq``: DAC RVQ tokens ``[T, K]`` (NPQ1 mono, NPQ2 Mid/Side), see
  :mod:`audiotok.formats.npq`.
- ``.ecdc`` + ``.cond.npy`` + ``.cond.json``: EnCodec codes with frame-aligned
  conditioning sidecars (ESF v1).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
