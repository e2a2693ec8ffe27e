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

# the public names of sinks/base.py, re-exported (``X as X``: mypy's explicit re-export)
from audiotok.sinks.base import FileJob as FileJob
from audiotok.sinks.base import SinkContext as SinkContext
from audiotok.sinks.base import StoredTokens as StoredTokens
from audiotok.sinks.base import TokenSink as TokenSink
from audiotok.sinks.base import get_sink as get_sink
from audiotok.sinks.base import register_sink as register_sink
from audiotok.sinks.base import sink_for_path as sink_for_path
from audiotok.sinks.base import sinks as sinks
