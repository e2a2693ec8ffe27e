"""NPQ token files (``specs/npq-format.md``, ``specs/npq-tools.md``): NPQ1 mono, NPQ2 Mid/Side, legacy v0.

``read_header(path)``, ``read(path)`` and ``write(path, tokens, header)`` are
the only parsers and writer; the header models live in :mod:`.header`.
"""

from audiotok.formats.npq.header import *  # noqa: F403
from audiotok.formats.npq.header import __all__ as _header_all
from audiotok.formats.npq.layout import *  # noqa: F403
from audiotok.formats.npq.layout import __all__ as _layout_all

__all__ = [*_header_all, *_layout_all]
