"""The encode pipeline in a Ray actor: one generic remote job for every (codec, sink) pair."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiotok.codecs.plugin import Codec
from audiotok.records import FileRecord
from audiotok.services.encode.jobs import Job, Model, plan_jobs
from audiotok.services.encode.options import CodecChoice, Settings
from audiotok.services.encode.stream import Manifests, Writes, encode_pipeline
from audiotok.services.plan import PlanItem
from audiotok.sinks.base import SinkContext, TokenSink, get_sink

__all__ = ["ActorState", "RemoteEncode", "manifest_root"]


def manifest_root(outdir: Path | None) -> Callable[[Path], Path]:
    """Where the manifest of an output goes: the output folder, else beside the output."""
    if outdir is not None:
        root = outdir
        return lambda dst: root
    return lambda dst: dst.parent


@dataclass
class ActorState:
    """One actor's loaded codec and its sink."""

    codec: Codec
    sink: TokenSink
    writes: Writes


@dataclass(frozen=True)
class RemoteEncode:
    """``encode`` in a Ray actor (:class:`~audiotok.services.engines.ray.RemoteJob`).

    Each call's files go through the local engine's pipeline (the next windows
    decoded while the encoder runs, outputs written in a writer thread), so
    their codes and bytes are the local engine's.
    """

    choice: CodecChoice
    sink: str
    settings: Settings
    outdir: Path | None

    def setup(self, device: Any) -> ActorState:
        """Load the codec on this actor's ``device``; make the sink."""
        model = Model(self.choice, device)
        codec = model.load(self.settings.plan.most)
        sink = get_sink(self.sink)(SinkContext(codec.info, codec.name, codec.caps.normalizes))
        return ActorState(codec, sink, Writes(sink, Manifests(manifest_root(self.outdir), self.sink, codec)))

    def _jobs(self, state: ActorState, items: Sequence[PlanItem]) -> dict[int, Job | FileRecord | Exception]:
        return plan_jobs(
            items, state.sink.context, self.settings.plan, state.sink, overwrite=self.settings.overwrite,
            dry_run=False,
        )  # fmt: skip

    def work(self, state: ActorState, item: PlanItem) -> FileRecord:
        """One file through the pipeline."""
        calls = self.work_many(state, [item])  # held until its result is in: closing it ends the pipeline
        try:
            return next(calls)()
        finally:
            calls.close()

    def work_many(
        self, state: ActorState, items: Sequence[PlanItem]
    ) -> Generator[Callable[[], FileRecord], None, None]:
        """``items`` through the pipeline (batched, read ahead, written behind), in order.

        Yields one call per item that returns its record or raises its error.
        """
        jobs = self._jobs(state, items)
        runnable = {i: j for i, j in jobs.items() if isinstance(j, Job)}
        pipe, stream_of = encode_pipeline(runnable, state.codec, self.settings, state.writes)

        def one(item: PlanItem) -> Callable[[], FileRecord]:
            def result() -> FileRecord:
                job = jobs[item.index]
                if isinstance(job, Exception):
                    raise job
                if isinstance(job, FileRecord):
                    return job
                if job.status != "todo" and job.record is not None:  # written meanwhile: skipped
                    return job.record
                got = pipe.result(stream_of[item.index])
                if state.sink.sharded:
                    return state.writes.write(job, *got)
                return got  # type: ignore[no-any-return]

            return result

        with pipe:
            for item in items:
                yield one(item)

    def describe(self, state: ActorState) -> dict[str, Any]:
        """The model, its weights' sha256 and the encoder's backend."""
        codec = state.codec
        return {
            "model": codec.name,
            "weights_sha256": codec.weights_sha256,
            "backend": codec.backend_of("encoder"),
        }
