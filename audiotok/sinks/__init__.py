"""Token sinks: the containers an encode writes (``--to``), one module each, registered by name.

============  =====================================================================
sink          what it writes
============  =====================================================================
``npq``       one ``.npq`` per input: NPQ1 one coded channel, NPQ2 Mid/Side (specs)
``ecdc``      one ``.ecdc`` per input: ESF v1, EnCodec's checkpoint layout (specs)
``hf``        a Hugging Face ``DatasetDict`` folder (``load_from_disk``), as ``dataset build``
============  =====================================================================

See :mod:`audiotok.sinks.base` for the contract (must / may / don't) and
:mod:`audiotok.sinks.manifest` for the identity manifest written beside every output.
"""

from audiotok.sinks.base import (
    FileJob,
    SinkContext,
    StoredTokens,
    TokenSink,
    get_sink,
    register_sink,
    sink_for_path,
    sinks,
)

__all__ = [
    "FileJob",
    "SinkContext",
    "StoredTokens",
    "TokenSink",
    "get_sink",
    "register_sink",
    "sink_for_path",
    "sinks",
]
