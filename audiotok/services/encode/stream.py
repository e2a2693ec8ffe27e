"""The encode pipeline of one process: a reading thread, batched encoder calls across files, a writer thread.

The files still to encode are one :class:`~audiotok.codecs.batch.StreamEncoder`
run (or, for a codec with a global receptive field, one
:class:`~audiotok.codecs.segments.SegmentEncoder` run: each file one window,
cut at quiet points past the longest): their windows are decoded and resampled ahead in a reading thread,
windows of exactly equal length share encoder calls across files, and each
file's codes go to the sink's writer in a background thread
(:class:`~audiotok.services.pipeline.Pipeline`) as soon as its last window is
encoded (a codec that carries its state:
:class:`~audiotok.codecs.streaming.StatefulEncoder`, files in lockstep). A
sharded sink (many files per output file) is written in plan order instead, by :meth:`Writes.record`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from audiotok import __version__, audio
from audiotok.audio.stream import FileSource, ResampledSource, SampleSource
from audiotok.codecs.batch import Encoded, Stream
from audiotok.codecs.plugin import Codec
from audiotok.codecs.sizing import auto_batch_size
from audiotok.codecs.stream import stream_encoder
from audiotok.records import FileRecord
from audiotok.services.encode.jobs import Job
from audiotok.services.encode.options import Settings
from audiotok.services.pipeline import Pipeline
from audiotok.sinks import manifest
from audiotok.sinks.base import FileJob, TokenSink
from audiotok.tokens import Codes

__all__ = ["PREFETCH_CALLS", "Manifests", "Writes", "encode_pipeline", "scale_of"]

PREFETCH_CALLS = 2
"""Encoder calls' worth of windows decoded and resampled ahead, in the reading thread."""


class ScaledSource:
    """A :class:`SampleSource` divided by a constant (a normalising codec's per-file input scale)."""

    def __init__(self, source: SampleSource, scale: float) -> None:
        self.source, self.scale = source, scale
        self.channels, self.sample_rate, self.length = source.channels, source.sample_rate, source.length

    def read(self, start: int, stop: int) -> audio.Audio:
        """Samples ``[start, min(stop, length))`` divided by the scale (in torch, float32)."""
        import torch  # a normalising model (EnCodec 48 kHz) runs on PyTorch anyway

        out: audio.Audio = (torch.from_numpy(self.source.read(start, stop)) / self.scale).numpy()
        return out


def scale_of(path: Path, mode: audio.ChannelMode) -> float:
    """RMS of the mono mix over the whole file, plus 1e-8 (EnCodec 48 kHz's input normalisation)."""
    total, count = 0.0, 0
    for block in audio.iter_blocks(path, 1 << 20):
        mono = audio.apply_channel_mode(block, mode, path).mean(axis=0, dtype=np.float64)
        total += float(np.square(mono).sum())
        count += mono.size
    return math.sqrt(total / max(count, 1)) + 1e-8


@contextmanager
def _opened(file: FileJob, sample_rate: int, scale: float | None) -> Iterator[SampleSource]:
    with FileSource(file.src, file.mode, file.audio) as fsrc:
        source: SampleSource = ResampledSource(fsrc, sample_rate)
        yield source if scale is None else ScaledSource(source, scale)


class Manifests:
    """Writes the identity manifest of each output root once, before its first token file."""

    def __init__(self, roots: Callable[[Path], Path], sink: str, codec: Codec) -> None:
        self.roots, self.sink, self.codec = roots, sink, codec
        self.done: set[Path] = set()
        self.lock = threading.Lock()

    def before(self, dst: Path) -> None:
        """Record the codec in the manifest of ``dst``'s root, the first time this run writes there."""
        root = self.roots(dst)
        with self.lock:
            if root not in self.done:
                manifest.record(root, self.codec.info, self.sink, __version__)
                self.done.add(root)


class Writes:
    """How a job's codes reach its sink: in the writer thread, or (sharded sinks) in plan order."""

    def __init__(self, sink: TokenSink, manifests: Manifests) -> None:
        self.sink, self.manifests = sink, manifests

    def write(
        self, job: Job, codes: Codes, started: float, segments: tuple[tuple[int, int], ...] = ()
    ) -> FileRecord:
        """Write ``codes`` of ``job`` and return its record (wall time from ``started``).

        ``segments``: the ``(start, stop)`` frames of each separately encoded segment of a file that
        was cut (:class:`~audiotok.codecs.segments.SegmentEncoder`), added to the sink's record.
        """
        self.manifests.before(job.file.dst)
        with self.sink.lock:
            record = self.sink.write(job.file, codes, time.perf_counter() - started)
        if segments:
            record = record.model_copy(update={"segments": [list(s) for s in segments]})
        return record


def encode_pipeline(
    jobs: dict[int, Job], codec: Codec, settings: Settings, writes: Writes
) -> tuple[Pipeline[Any], dict[int, int]]:
    """The ``todo`` jobs as one :class:`StreamEncoder` run, finished by ``writes`` in a background thread.

    Returns the pipeline and each job's stream (item index -> stream index).
    For a sharded sink the pipeline hands back ``(codes, started)`` instead
    of a record, and the caller writes in plan order.
    """
    todo = {i: job for i, job in jobs.items() if job.status == "todo"}
    index = list(todo)  # stream -> plan item
    started: dict[int, float] = {}

    def opener(i: int, job: Job) -> Callable[[], AbstractContextManager[SampleSource]]:
        def open_file() -> AbstractContextManager[SampleSource]:
            started[i] = time.perf_counter()
            scale = None
            if codec.caps.normalizes:
                scale = job.extras["scale"] = scale_of(job.file.src, job.file.mode)
            return _opened(job.file, codec.sample_rate, scale)

        return open_file

    streams = [Stream(job.file.n_samples, job.file.groups, opener(i, job)) for i, job in todo.items()]
    batch_size = settings.batch_size or auto_batch_size(codec, settings.chunk_seconds)
    encoder = stream_encoder(
        codec, chunk_seconds=settings.chunk_seconds, context=codec.encoder_context(settings.context_seconds),
        batch_size=batch_size,
    )  # fmt: skip

    def finish(done: Encoded) -> Any:
        i = index[done.stream]
        job = todo[i]
        codes = Codes.from_rows(done.codes, codec.layout, job.file.groups, job.extras)
        if writes.sink.sharded:
            return codes, started[i], done.segments
        return writes.write(job, codes, started[i], done.segments)

    events = encoder.run(streams, prefetch=PREFETCH_CALLS * batch_size)
    return Pipeline(events, finish), {i: s for s, i in enumerate(index)}
