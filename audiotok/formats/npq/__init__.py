"""NPQ token files: NPQ1 mono, NPQ2 Mid/Side, legacy v0.

Follows ``docs/specs/npq-format.md`` and ``docs/specs/npq-tools.md``.

``read_header(path)``, ``read(path)`` and ``write(path, tokens, header)`` are
the only parsers and writer. The byte layouts are one table
(:mod:`.table`), the header models live in :mod:`.header`, the parser and
readers in :mod:`.layout`, the writer in :mod:`.writer`.
"""

from audiotok.formats.npq.header import *  # noqa: F403
from audiotok.formats.npq.header import __all__ as _header_all
from audiotok.formats.npq.layout import *  # noqa: F403
from audiotok.formats.npq.layout import __all__ as _layout_all
from audiotok.formats.npq.table import LAYOUTS
from audiotok.formats.npq.writer import *  # noqa: F403
from audiotok.formats.npq.writer import __all__ as _writer_all

__all__ = [*_header_all, *_layout_all, *_writer_all, "LAYOUTS"]
