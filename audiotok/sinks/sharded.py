"""``--to parquet|shar|webdataset``: an encode written straight into shards, no file per item.

``audiotok encode INPUTS -o OUT --to parquet`` writes what ``audiotok encode
-o TOKENS --to npq`` then ``audiotok dataset export TOKENS OUT --format
parquet`` would (the same formats: :mod:`audiotok.sinks.parquet`,
:mod:`audiotok.sinks.shar`, :mod:`audiotok.sinks.webdataset`), without the
token files between them. The shard core (:mod:`audiotok.sinks.shards`) does
the rest:

* :meth:`ShardedTokenSink.plan` sees every probed input before any is
  encoded: each item's id is its path below the input root without suffix,
  its size the codes its audio header promises (``n_frames x K``), its
  version the audio file's size, mtime and channel plan. The items are packed
  into shards (the format's caps) with their final names.
* :meth:`~ShardedTokenSink.resume` skips the items of committed shards (the
  rerun of a killed encode encodes only the shards that were not committed;
  a shard committed without some of its items, whose encode failed, is
  encoded again, whole);
* :meth:`~ShardedTokenSink.write` gets the codes in plan order and adds them
  to the open shard, which is committed (files, then receipt) as soon as its
  last item is written, or when an item of a later shard comes (its items
  that never came, encodes that failed, are listed in its receipt);
* :meth:`~ShardedTokenSink.commit` writes the index (and card) once every
  shard is committed.

A record's ``output`` is the item's place in the plan (``OUT/.audiotok/items/<id>``,
no file of its own; ``OUT.audiotok/items/<id>`` for Shar) and ``shard`` the
shard file that holds it; the identity manifest (``tokens.json``) goes to that
``items`` folder, never into the format's own files. One process writes every
shard: ``--engine ray`` and ``--shard-count`` above 1 are refused (each actor
writing whole shards is issue 23's next step). Codecs whose codebooks run at
different rates, and those that scale their input per file, are refused.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from audiotok import __version__
from audiotok.errors import OutputError, UsageError
from audiotok.records import FileRecord
from audiotok.sinks.base import FileJob, SinkContext, TokenSink, register_sink
from audiotok.sinks.shards import (
    ItemRef,
    ShardIdentity,
    ShardItem,
    ShardLimits,
    ShardPlan,
    ShardResult,
    ShardSink,
    ShardWriter,
    committed,
    pack,
    sweep,
    write_index,
    write_shard,
)
from audiotok.tokens import Codes

__all__ = ["ShardEncodeRecord", "ShardedTokenSink"]

_ITEMS = "items"
_SPLIT = "train"


class ShardEncodeRecord(FileRecord):
    """One input file encoded into a shard (one JSON object per file)."""

    shard: str | None = Field(description="The shard file that holds the item's codes.")
    n_codebooks: int = Field(description="K, all codebooks.")
    n_frames: int = Field(description="T, frames.")
    duration_s: float = Field(description="Audio duration, seconds.")
    wall_s: float = Field(description="Wall time spent on this file, seconds.")
    model: str = Field(description="Model name or checkpoint path.")
    weights_sha256: str | None = Field(description="sha256 of the weights (None in a dry run).")


class _Open:
    """The shard being written: its plan, the core's commit context, its writer and result."""

    def __init__(
        self, shard: ShardPlan, stack: contextlib.ExitStack, writer: ShardWriter, result: ShardResult
    ):
        self.shard, self.stack, self.writer, self.result = shard, stack, writer, result


class ShardedTokenSink(TokenSink):
    """The encode side of a sharded format (see the module docstring); subclasses name the format."""

    sharded = True
    record_type = ShardEncodeRecord
    format_name: ClassVar[str] = ""

    def __init__(self, context: SinkContext, outdir: Path | None = None) -> None:
        super().__init__(context, outdir)
        self.out = outdir
        self.sink: ShardSink | None = None
        self.shards: list[ShardPlan] = []
        self.where: dict[str, tuple[int, ItemRef]] = {}  # item id -> (shard, its ref)
        self.open: _Open | None = None
        self.swept = False
        self.abandoned: set[int] = set()  # shards whose writing failed in this run: the rerun writes them
        self.limits: tuple[int | None, int | None] = (None, None)

    def set_limits(self, max_bytes: int | None, max_items: int | None) -> None:
        """Cap each shard at ``max_bytes`` of codes and ``max_items`` items (``None``: the format's default);
        a cap below 1 is refused (``UsageError``) when the shards are planned."""
        self.limits = (max_bytes, max_items)

    @classmethod
    def format(cls) -> type[ShardSink]:
        """The shard format (imported on first use: pyarrow only for Parquet)."""
        if cls.format_name == "parquet":
            from audiotok.sinks.parquet import ParquetSink

            return ParquetSink
        if cls.format_name == "shar":
            from audiotok.sinks.shar import SharSink

            return SharSink
        from audiotok.sinks.webdataset import WebDatasetSink

        return WebDatasetSink

    @classmethod
    def accepts(cls, context: SinkContext, groups: tuple[int, ...]) -> None:
        """Rectangular codes of one or two coded channels, no per-file scale.

        Raises
        ------
        UsageError
            For a codec whose codebooks run at different rates, one that
            normalises its input per file, or more than Mid and Side.
        """
        super().accepts(context, groups)
        if context.normalizes:
            raise UsageError(
                f"{cls.name} has no place for {context.name}'s per-file input scale; write `to` ecdc",
                param="to",
            )
        if len(groups) > 2:
            raise UsageError(f"{cls.name} holds one or two coded channels, not {len(groups)}", param="to")

    @classmethod
    def item_root(cls, outdir: Path | None) -> Path:
        """``OUT/.audiotok/items`` (Shar: ``OUT.audiotok/items``): the items' keys, and ``tokens.json``.

        Raises
        ------
        UsageError
            Without ``outdir``: the shards need a folder.
        """
        if outdir is None:
            raise UsageError(
                f"{cls.name} writes shards into one folder: name it with `outdir`", param="outdir"
            )
        return cls.format().state_for(outdir) / _ITEMS

    def _identity(self) -> ShardIdentity:
        info = self.context.info
        return ShardIdentity(
            codec=info.codec, frame_rate=info.row_rate, vocab_sizes=info.layout.vocab_sizes,
            strides=info.layout.strides, sample_rate=info.sample_rate, info=info, audiotok=__version__,
        )  # fmt: skip

    def _id(self, dst: Path) -> str:
        relative = os.path.relpath(dst, self.item_root(self.out))
        return Path(relative).as_posix()  # the input's suffix is already off (``suffix`` is "")

    def plan(self, files: list[FileJob]) -> None:
        """Pack every file into shards with their final names (see the module docstring)."""
        if self.out is None:
            return
        fmt = self.format()
        sink = fmt(self.out, self._identity(), has_cond=False)
        width = sink.identity.codes_dtype.itemsize
        ids = [self._id(f.dst) for f in files]
        refs = []
        for key, item_id, f in zip(fmt.keys(ids), ids, files, strict=True):
            try:
                st = os.stat(f.src)
                version = f"{st.st_size}:{st.st_mtime_ns}:{list(f.groups)}:{f.mode}"
            except OSError:
                version = f"{list(f.groups)}:{f.mode}"
            refs.append(ItemRef(key, item_id, str(f.src), f.n_frames * sum(f.groups) * width, version))
        ident = {k: v for k, v in sink.identity.to_json().items() if k not in ("command", "audiotok")}
        context = json.dumps({"format": sink.name, "identity": ident, "cond": False, "flatten": None,
                              **sink.context()}, sort_keys=True)  # fmt: skip
        default = fmt.default_limits
        limits = ShardLimits(self.limits[0] or default.max_bytes, self.limits[1] or default.max_items)
        packed = pack(refs, limits, lambda r: r.n_bytes)
        self.sink, self.shards, self.where = sink, [], {}
        for j, items in enumerate(packed):
            name = sink.shard_name(_SPLIT, j, len(packed))
            shard = ShardPlan(name, j, tuple(items), context, sink.companions(name))
            self.shards.append(shard)
            self.where.update({r.id: (j, r) for r in items})

    def _place(self, job: FileJob) -> tuple[ShardSink, int, ItemRef]:
        """The item's shard (planning ``job`` alone when no plan was made: a single file).

        Raises
        ------
        UsageError
            Without an output folder.
        OutputError
            If the item is not in this run's plan.
        """
        if self.sink is None:
            self.plan([job])
        if self.sink is None:
            raise UsageError(
                f"{self.name} writes shards into one folder: name it with `outdir`", param="outdir"
            )
        found = self.where.get(self._id(job.dst))
        if found is None:
            raise OutputError("not in this run's shard plan", job.dst)
        j, ref = found
        return self.sink, j, ref

    def _record(self, job: FileJob, status: str, wall_s: float, shard: str | None) -> FileRecord:
        return ShardEncodeRecord(
            input=str(job.src), output=str(job.dst), status=status,  # type: ignore[arg-type]
            shard=shard, n_codebooks=sum(job.groups), n_frames=job.n_frames,
            duration_s=job.audio.duration_s, wall_s=wall_s, model=self.context.name,
            weights_sha256=self.context.info.weights_sha256,
        )  # fmt: skip

    def resume(self, src: Path, dst: Path, job: FileJob | None) -> FileRecord | None:
        """``skipped`` when the item's planned shard is committed by this plan, every item in it.

        A committed shard whose receipt lists failed items is encoded again, whole (its other items
        are not kept apart from it), so a file whose encode failed gets another try, as with ``npq``.
        """
        if job is None or self.out is None:
            return None
        sink, j, _ = self._place(job)
        receipt = committed(self.out, self.shards[j], sink.state)
        if receipt is None or receipt.get("failed"):
            return None
        return self._record(job, "skipped", 0.0, str(self.out / self.shards[j].name))

    def planned(self, job: FileJob) -> FileRecord:
        """What a dry run reports: the shard the item would go to."""
        shard = None
        if self.out is not None:
            _, j, _ = self._place(job)
            shard = str(self.out / self.shards[j].name)
        return self._record(job, "planned", 0.0, shard)

    def write(self, job: FileJob, codes: Codes, wall_s: float) -> FileRecord:
        """Add the item to its shard (in plan order), committing the shard once its last item is in."""
        sink, j, ref = self._place(job)
        if not self.swept:  # what a killed run of these shards left: one process writes them all
            sweep(sink.out, self.shards, sink.state)
            self.swept = True
        if j in self.abandoned:
            raise OutputError(
                f"not written: writing {self.shards[j].name} failed; rerun to write it", job.dst
            )
        if self.open is not None and self.open.shard.index != j:
            self._close()
        if self.open is None:
            self.open = self._begin(sink, self.shards[j])
        duration = job.n_samples / self.context.info.sample_rate
        item = ShardItem(ref.key, ref.id, ref.source, codes, duration)
        try:
            self.open.writer.add(item)
        except BaseException as exc:  # abandon the shard: its temporary files are removed
            current, self.open = self.open, None
            self.abandoned.add(j)
            current.stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        result = self.open.result
        result.written.append(ref.key)
        result.frames += item.n_frames
        result.seconds += duration
        shard = self.open.shard
        if len(result.written) == len(shard.items):
            self._close()
        return self._record(job, "written", wall_s, str(sink.out / shard.name))

    @staticmethod
    def _begin(sink: ShardSink, shard: ShardPlan) -> _Open:
        stack = contextlib.ExitStack()
        writer, result = stack.enter_context(write_shard(sink, shard))
        return _Open(shard, stack, writer, result)

    def _close(self) -> None:
        """Commit the open shard; its items that never came (failed encodes) go into its receipt."""
        current, self.open = self.open, None
        if current is None:
            return
        came = set(current.result.written)
        current.result.failed += [
            {"path": r.source, "error": "not encoded (see the encode's record)"}
            for r in current.shard.items
            if r.key not in came
        ]
        current.stack.close()

    def commit(self) -> None:
        """Commit the open shard, then the index and card once every shard is committed."""
        self._close()
        if self.sink is None or not self.shards:
            return
        write_index(self.sink, [(_SPLIT, s) for s in self.shards], is_shard=self.format().is_shard)


@register_sink("parquet")
class ParquetTokenSink(ShardedTokenSink):
    """``--to parquet``: ``data/train-NNNNN-of-NNNNN.parquet`` + ``README.md``."""

    format_name = "parquet"


@register_sink("shar")
class SharTokenSink(ShardedTokenSink):
    """``--to shar``: lhotse Shar, generic preset; the receipts and index in ``OUT.audiotok``."""

    format_name = "shar"


@register_sink("webdataset")
class WebDatasetTokenSink(ShardedTokenSink):
    """``--to webdataset``: ``shard-NNNNNN.tar`` + ``audiotok.json`` (:mod:`audiotok.sinks.webdataset`)."""

    format_name = "webdataset"
