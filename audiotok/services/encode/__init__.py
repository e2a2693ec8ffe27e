"""``audiotok encode``: audio files to any codec's tokens in any sink, through one pipeline.

A run is: the codec's facts (:class:`~.jobs.Model`: a named model's come from
its registry entry, the model loads only when a file needs encoding), the
options settled with the codec family's defaults (:func:`~.options.settle`),
the sink's refusal of what it cannot hold, the plan (inputs, outputs,
shard, resume, probed durations; :mod:`audiotok.services.runner`), the
identity manifest check, and then the pipeline (:mod:`.stream`) here or on
Ray actors (:mod:`.remote`, the same pipeline in each actor). ``npq
encode`` and ``esf encode`` are presets of it (:mod:`audiotok.services.npq.encode`,
:mod:`audiotok.services.esf.encode`).
"""

from audiotok.services.encode.jobs import Job, Model, plan_jobs, probe_or_none
from audiotok.services.encode.options import (
    ChannelPlan,
    CodecChoice,
    EncodeOptions,
    EncodeRunSummary,
    EncodeSummary,
    Settings,
    settle,
)
from audiotok.services.encode.remote import RemoteEncode, manifest_root
from audiotok.services.encode.run import encode_paths
from audiotok.services.encode.single import encode_file
from audiotok.services.encode.stream import PREFETCH_CALLS, ScaledSource, encode_pipeline, scale_of

__all__ = [
    "PREFETCH_CALLS",
    "ChannelPlan",
    "CodecChoice",
    "EncodeOptions",
    "EncodeRunSummary",
    "EncodeSummary",
    "Job",
    "Model",
    "RemoteEncode",
    "ScaledSource",
    "Settings",
    "encode_file",
    "encode_paths",
    "encode_pipeline",
    "manifest_root",
    "plan_jobs",
    "probe_or_none",
    "scale_of",
    "settle",
]
