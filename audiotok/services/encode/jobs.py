"""Planning an encode: the codec's facts (before loading it), and each file's job or why it has none."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audiotok.audio import AudioInfo, probe
from audiotok.codecs import registry
from audiotok.codecs.plugin import Codec, CodecPlugin
from audiotok.codecs.weights import sha256_file
from audiotok.errors import InputError
from audiotok.records import FileRecord
from audiotok.services.encode.options import ChannelPlan, CodecChoice
from audiotok.services.plan import PlanItem
from audiotok.sinks.base import FileJob, SinkContext, TokenSink

__all__ = ["Job", "Model", "plan_jobs", "probe_or_none"]

Status = Literal["todo", "skipped", "planned"]


class Model:
    """The codec of a run: its facts first (a named model's come from its entry), the model on first need.

    Parameters
    ----------
    choice : CodecChoice
    device : torch.device or str or None
        Where it loads (``None``: the CPU).
    dry_run : bool
        Never fetch or load a named model (its entry's facts, no sha256).
    loader : callable, optional
        Loads the codec instead of :func:`audiotok.codecs.registry.load_codec` (a preset's own loader).

    Raises
    ------
    UsageError
        If the model is not of ``choice.family``.
    """

    def __init__(
        self,
        choice: CodecChoice,
        device: Any = None,
        *,
        dry_run: bool = False,
        loader: Callable[[], Codec] | None = None,
    ) -> None:
        self.choice = choice
        self.loader = loader
        self.device = device
        self.dry_run = dry_run
        self.entry = registry.lookup(choice.model)
        if self.entry is not None and choice.family is not None:
            registry.get(choice.model, choice.family)  # raises for a model of another family
        self.codec: Codec | None = None
        self.codebooks: int | None = None
        self._context: SinkContext | None = None
        self._identified = False

    @property
    def plugin(self) -> CodecPlugin:
        """The codec's family plugin (the loaded model's, else the entry's)."""
        if self.codec is not None:
            return registry.plugin(self.codec.family)
        if self.entry is not None:
            return registry.plugin(self.entry.family)
        return registry.plugin(self.load().family)

    def context(self, *, identify: bool = True) -> SinkContext:
        """The codec as sinks see it.

        A named model's facts come from its registry entry, and with
        ``identify`` its weights file's sha256 (fetched, not loaded; never in a
        dry run); any other model is loaded for them.

        Raises
        ------
        ModelError
            If the weights cannot be found or loaded.
        """
        if self._context is not None and (self._identified or not identify):
            return self._context
        entry = self.entry
        if self.codec is None and entry is not None and self.choice.checkpoint is None:
            sha = None
            if identify and not self.dry_run:
                located = registry.locate(self.choice.model, family=self.choice.family)
                sha = sha256_file(located.path) if located is not None else None
            self._identified = identify
            self._context = SinkContext(entry.info(sha), entry.short_name, entry.normalizes)
            return self._context
        codec = self.load()
        self._identified = True
        self._context = SinkContext(codec.info, codec.name, codec.caps.normalizes)
        return self._context

    def load(self, codebooks: int | None = None) -> Codec:
        """The codec, loaded once (its encoder on ``choice.backend``; ``codebooks``: EnCodec's bandwidth).

        Raises
        ------
        ModelError
            If it cannot be loaded.
        UsageError
            If ``codebooks`` is not a count it offers.
        """
        if codebooks is not None:
            self.codebooks = codebooks
        if self.codec is None and self.loader is not None:
            self.codec = self.loader()
        if self.codec is None:
            choice = self.choice
            self.codec = registry.load_codec(
                choice.model, checkpoint=choice.checkpoint, family=choice.family, device=self.device,
                backend=choice.backend, parts=("encoder",), codebooks=self.codebooks,
            )  # fmt: skip
        return self.codec


@dataclass
class Job:
    """One planned file: its sink job, and what happens to it (``todo``: still to encode)."""

    file: FileJob
    status: Status
    record: FileRecord | None = None  # skipped or planned
    extras: dict[str, float] = field(default_factory=dict)  # per-file values found while reading (scale)


def probe_or_none(path: Path) -> AudioInfo | None:
    """The file's header, or ``None`` when it cannot be read (its job then says why)."""
    try:
        return probe(path)
    except InputError:
        return None


def _file(item: PlanItem, ctx: SinkContext, plan: ChannelPlan) -> FileJob | InputError:
    """The item's sink job from its audio header, or why it has none."""
    info = item.info if isinstance(item.info, AudioInfo) else None
    try:
        info = info or probe(item.path)
        mode, groups = plan.layout(info, item.path)
        n_samples = -(-info.frames * ctx.info.sample_rate // info.sample_rate)
        n_frames = -(-n_samples // ctx.info.row_hop)  # rows: frames, or coarsest frames under strides
        return FileJob(item.path, item.dst, info, mode, groups, n_samples, n_frames)
    except InputError as exc:
        return exc


def _job(item: PlanItem, found: FileJob | InputError, sink: TokenSink, overwrite: bool, dry_run: bool) -> Job:
    file = found if isinstance(found, FileJob) else None
    error = found if isinstance(found, InputError) else None
    skipped = None if overwrite else sink.resume(item.path, item.dst, file)
    if skipped is not None and file is not None:
        return Job(file, "skipped", skipped)
    if error is not None or file is None:
        if skipped is not None:  # done, though the audio cannot be read now: nothing to do
            raise _Skipped(skipped)
        raise error or InputError("cannot be read", item.path)
    if dry_run:
        return Job(file, "planned", sink.planned(file))
    return Job(file, "todo")


class _Skipped(Exception):
    """An item whose output is done although its audio is unreadable: its skipped record."""

    def __init__(self, record: FileRecord) -> None:
        super().__init__(record.input)
        self.record = record


def plan_jobs(
    items: Iterable[PlanItem],
    ctx: SinkContext,
    plan: ChannelPlan,
    sink: TokenSink,
    *,
    overwrite: bool,
    dry_run: bool,
) -> dict[int, Job | FileRecord | Exception]:
    """Every item's job, its record when resume settled it without one, or why it fails (for ``work``).

    Every file is probed before the sink is asked about any: a sharded sink
    sees them all (:meth:`~audiotok.sinks.base.TokenSink.plan`) and answers
    ``resume`` from its shard plan.
    """
    jobs: dict[int, Job | FileRecord | Exception] = {}
    items = list(items)
    todo = [item for item in items if item.skipped is None]
    for item in items:
        if item.skipped is not None:  # settled while planning (the runner returns its record)
            jobs[item.index] = item.skipped
    found: dict[int, FileJob | InputError] = {}
    for item in todo:
        try:
            found[item.index] = _file(item, ctx, plan)
        except Exception as exc:
            jobs[item.index] = exc
    sink.plan([f for f in found.values() if isinstance(f, FileJob)])
    for item in todo:
        if item.index not in found:
            continue
        try:
            jobs[item.index] = _job(item, found[item.index], sink, overwrite, dry_run)
        except _Skipped as done:
            jobs[item.index] = done.record
        except Exception as exc:
            jobs[item.index] = exc
    return {item.index: jobs[item.index] for item in items}  # in plan order


def model_name(choice: CodecChoice) -> str:
    """The model as the user named it (a name, or a path as given)."""
    return os.fspath(choice.model)
