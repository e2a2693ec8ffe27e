"""``dataset export``: token trees or ``dataset build`` output -> Parquet, Shar, WebDataset or codec-bpe.

Plan, write, index (:mod:`audiotok.sinks.shards`): every item is planned from
the token files' headers (:mod:`._sources`), packed into shards capped by
bytes and items, and each shard of this run (``shard_index`` of
``shard_count``: shard ``j`` when ``j % shard_count == shard_index``) is
written to a temporary name and committed whole; a rerun skips committed
shards and redoes the rest. The run that finds every shard committed writes
the index and the format's card. codec-bpe writes one file per item (each
atomic, resumed by presence) and ``codec_info.json`` last.

A file that cannot be read is reported (one line: the file and the reason)
and left out; the export goes on.

lhotse Shar takes a ``--from-list`` JSON Lines manifest (:mod:`._annotations`)
for each item's text, speaker, language, dataset and audio; its ``nemo``
preset leaves out (one note each) items with no text, and names the
defaults it used for the others (one note each).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import AudiotokError, UsageError
from audiotok.formats._base import FrozenModel
from audiotok.paths import check_shard
from audiotok.progress import ProgressEvent, ProgressFn, emit
from audiotok.records import FileFailure
from audiotok.services.dataset._annotations import annotate
from audiotok.services.dataset._sources import SourceRef, Sources, plan_sources
from audiotok.sinks.codec_bpe import CodecBpeSink
from audiotok.sinks.flatten import FlattenMode, check_flatten
from audiotok.sinks.parquet import ParquetSink
from audiotok.sinks.shar import ItemMeta, SharPreset, SharSink, nemo_speaker
from audiotok.sinks.shards import (
    INDEX,
    STATE_DIR,
    ItemRef,
    ShardLimits,
    ShardPlan,
    ShardSink,
    committed,
    pack,
    sweep,
    write_index,
    write_shard,
)
from audiotok.sinks.webdataset import WebDatasetSink

__all__ = ["FORMATS", "ExportFormat", "ExportSummary", "export_dataset"]

log = logging.getLogger(__name__)

ExportFormat = Literal["parquet", "shar", "webdataset", "codec-bpe"]
FORMATS: tuple[ExportFormat, ...] = ("parquet", "shar", "webdataset", "codec-bpe")
EMPTY = "no frames; left out: codec-bpe's train_tokenizer fails on a (K, 0) file (range() step 0)"
_SHARDED: dict[str, type[ShardSink]] = {
    "parquet": ParquetSink,
    "shar": SharSink,
    "webdataset": WebDatasetSink,
}


class ExportSummary(FrozenModel):
    """What ``dataset export`` did."""

    out_dir: str = Field(description="The output folder.")
    format: ExportFormat = Field(description="parquet, shar, webdataset or codec-bpe.")
    source: str = Field(description="'npq', 'esf' (.ecdc, with or without sidecars) or 'dataset'.")
    items: int = Field(description="Items of this run's shards (all items with one shard).")
    written: int = Field(description="Items written by this run.")
    skipped: int = Field(description="Items already in committed shards (or files), not rewritten.")
    shards: int = Field(description="Shards of the whole plan (files, for codec-bpe).")
    shards_written: int = Field(description="Shards this run wrote.")
    failures: list[FileFailure] = Field(description="Files left out, and why.")
    left_out: list[FileFailure] = Field(
        default_factory=list,
        description="Items the format cannot hold, left out on purpose (codec-bpe: items without frames; "
        "shar --preset nemo: items without text).",
    )
    notes: list[FileFailure] = Field(
        default_factory=list,
        description="Items written with defaults (shar: fields --from-list does not give them).",
    )
    finished: bool = Field(description="Whether the index (and card) is written: every shard is committed.")
    elapsed_s: float = Field(description="Wall time, seconds.")


_FORMAT_FILE = "format.json"


def _claim(out: Path, format: str, state: Path) -> None:
    """Create the state folder naming the format; refuse an output another format wrote."""
    marker = state / _FORMAT_FILE
    try:
        found = json.loads(marker.read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        found = None
    if found is not None and found != format:
        raise UsageError(f"holds a {found} export; export {format} to another folder", out)
    if found is None:
        state.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(marker, (json.dumps({"format": format}) + "\n").encode())


def _check_out(out: Path, src: Path, state: Path) -> None:
    """Refuse an output that is a file, inside the source, or a non-empty folder audiotok did not export."""
    if out.exists() and not out.is_dir():
        raise UsageError("exists and is not a folder", out)
    real_out, real_src = os.path.realpath(out), os.path.realpath(src)
    if real_out == real_src or real_out.startswith(real_src.rstrip(os.sep) + os.sep):
        raise UsageError(f"must not be inside the source {src}", out)
    if out.is_dir() and not state.is_dir() and any(out.iterdir()):
        raise UsageError(f"exists, is not empty and holds no audiotok export (no {state.name} folder)", out)


def export_dataset(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: ExportFormat,
    split: str = "train",
    recursive: bool = True,
    shard: tuple[int, int] = (0, 1),
    max_shard_bytes: int | None = None,
    max_shard_items: int | None = None,
    flatten: FlattenMode | None = None,
    preset: SharPreset = "generic",
    from_list: str | os.PathLike[str] | None = None,
    command: str = "",
    on_progress: ProgressFn | None = None,
) -> ExportSummary:
    """Export the token files under ``src`` (or a ``dataset build`` folder) to ``out`` in ``format``.

    Parameters
    ----------
    src : str or os.PathLike
        A folder of ``.npq`` files, of ``.ecdc`` files (with or without ESF
        sidecars), or a dataset folder written by ``dataset build`` (embedded).
    out : str or os.PathLike
        The output folder: new, empty, or an earlier export's (resumed).
    format : {"parquet", "shar", "webdataset", "codec-bpe"}
    split : str
        The split of a token tree's items (a dataset keeps its splits).
    recursive : bool
        Scan subfolders of a token tree.
    shard : (int, int)
        ``(shard_index, shard_count)``: write only shards ``j`` with
        ``j % shard_count == shard_index`` (every run plans the same shards).
    max_shard_bytes, max_shard_items : int, optional
        Shard caps (default: the format's, Parquet 500 MB, WebDataset 1 GB).
    flatten : {"offsets", "orpheus"}, optional
        Add an LM-ready token stream beside the codes (Parquet ``tokens``,
        WebDataset ``<key>.tokens.npy``, Shar ``tokens``; :mod:`audiotok.sinks.flatten`).
    preset : {"generic", "nemo"}
        Shar only: ``nemo`` writes NeMo Magpie-TTS's fields (:mod:`audiotok.sinks.shar`).
    from_list : str or os.PathLike, optional
        Shar only: a JSON Lines manifest of each item's ``text``, ``speaker``,
        ``language``, ``dataset`` and ``audio`` (:mod:`._annotations`);
        ``--preset nemo`` needs it.
    command : str
        The command line, recorded in the card and index.
    on_progress : callable, optional
        Receives ``ProgressEvent("files", ...)``.

    Returns
    -------
    ExportSummary

    Raises
    ------
    InputError
        If ``src`` is missing or holds no readable token file.
    UsageError
        For a bad shard or limit, an output that is not an export, codes the
        format cannot hold (codec-bpe: strides; shar: several splits, NeMo:
        strides), sources that mix codecs, or a bad ``from_list``.
    """
    start = time.perf_counter()
    check_shard(*shard)
    _check_shar_options(format, preset, from_list, flatten)
    out_path = Path(out)
    state = _SHARDED[format].state_for(out_path) if format in _SHARDED else out_path / STATE_DIR
    _check_out(out_path, Path(src), state)
    # codec-bpe resumes by each file's shape: it needs every header. The sharded formats read each
    # .ecdc file once, when its shard is written.
    headers = format == "codec-bpe"
    sources = plan_sources(src, split=split, recursive=recursive, command=command, headers=headers)
    if flatten is not None:
        if format == "codec-bpe":
            raise UsageError("codec-bpe files hold (K, T) codes; flatten parquet or webdataset",
                             param="flatten")  # fmt: skip
        check_flatten(sources.identity, flatten)
    if format == "codec-bpe":
        CodecBpeSink.accepts(sources.identity)
        return _export_files(sources, out_path, shard, start, on_progress)
    sink_type = _SHARDED[format]
    sink_type.accepts(sources.identity)
    defaults = sink_type.default_limits
    limits = ShardLimits(max_shard_bytes or defaults.max_bytes, max_shard_items or defaults.max_items)
    left_out: list[FileFailure] = []
    notes: list[FileFailure] = []
    sink: ShardSink
    if format == "shar":
        sink, left_out, notes = _shar_sink(out_path, sources, Path(src), flatten, preset, from_list)
    else:
        sink = sink_type(out_path, sources.identity, has_cond=sources.has_cond, flatten=flatten)
    _claim(out_path, format, state)
    plan = _plan(sink, sources, limits)
    mine = [(split_name, s) for split_name, s in plan if s.index % shard[1] == shard[0]]
    sweep(out_path, [s for _, s in mine], state)
    emit(on_progress, ProgressEvent("files", total=sum(len(s.items) for _, s in mine)))
    failures = list(sources.failures)
    written = skipped = shards_written = 0
    for _, shard_plan in mine:
        receipt = committed(out_path, shard_plan, state)
        if receipt is not None:
            skipped += len(receipt["items"])
            failures += [FileFailure.model_validate(f) for f in receipt["failed"]]
            emit(on_progress, ProgressEvent("files", advance=len(shard_plan.items)))
            continue
        with write_shard(sink, shard_plan) as (writer, result):
            for ref in shard_plan.items:
                source: SourceRef = ref.origin
                try:
                    item = sources.load(source, ref.key)
                except (AudiotokError, OSError) as exc:
                    failure = _failure(source, exc)
                    result.failed.append(failure.model_dump())
                    failures.append(failure)
                else:
                    writer.add(item)
                    result.written.append(ref.key)
                    result.frames += item.n_frames
                    result.seconds += item.duration_s
                emit(on_progress, ProgressEvent("files", advance=1, item=source.path))
        written += len(result.written)
        shards_written += 1
    index = write_index(sink, plan, is_shard=sink_type.is_shard)
    return ExportSummary(
        out_dir=str(out_path), format=format, source=sources.kind,
        items=sum(len(s.items) for _, s in mine), written=written, skipped=skipped, shards=len(plan),
        shards_written=shards_written, failures=failures, left_out=left_out, notes=notes,
        finished=index is not None, elapsed_s=time.perf_counter() - start,
    )  # fmt: skip


def _check_shar_options(
    format: str, preset: str, from_list: str | os.PathLike[str] | None, flatten: str | None
) -> None:
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; known: {', '.join(FORMATS)}", param="format")
    if format != "shar" and (preset != "generic" or from_list is not None):
        raise UsageError("--preset and --from-list shape lhotse Shar exports only", param="preset")
    if preset not in ("generic", "nemo"):
        raise UsageError(f"unknown preset {preset!r}; known: generic, nemo", param="preset")
    if preset == "nemo" and from_list is None:
        raise UsageError("--preset nemo needs --from-list: NeMo needs each item's text and speaker",
                         param="from_list")  # fmt: skip
    if preset == "nemo" and flatten is not None:
        raise UsageError("NeMo reads (C, T) codes; --flatten the generic preset", param="flatten")


def _shar_sink(
    out: Path, sources: Sources, src: Path, flatten: FlattenMode | None, preset: SharPreset,
    from_list: str | os.PathLike[str] | None,
) -> tuple[SharSink, list[FileFailure], list[FileFailure]]:  # fmt: skip
    """The Shar sink, its items annotated from ``from_list`` (their versions include it), and the notes."""
    if len(sources.splits) > 1:
        raise UsageError(
            f"a Shar folder holds one split and the source has {', '.join(sources.splits)}: "
            "export each split's token folder on its own", param="format",
        )  # fmt: skip
    if preset == "nemo" and not sources.identity.rectangular:
        raise UsageError("NeMo reads (C, T) codes, and these codebooks run at different rates",
                         param="preset")  # fmt: skip
    meta = {} if from_list is None else annotate(from_list, src, sources.refs)
    for i, ref in enumerate(sources.refs):  # a changed manifest line rewrites the item's shard
        if ref.id in meta:
            line = json.dumps(meta[ref.id].to_json(), sort_keys=True)
            digest = hashlib.sha256(f"{ref.version}:{line}".encode()).digest()
            sources.refs[i] = dataclasses.replace(ref, version=int.from_bytes(digest[:16], "big"))
    dataset = src.resolve().name or "audiotok"
    left_out, notes = _nemo_checks(sources, meta, dataset) if preset == "nemo" else ([], [])
    sink = SharSink(out, sources.identity, has_cond=sources.has_cond, flatten=flatten, preset=preset,
                    meta=meta, dataset=dataset)  # fmt: skip
    return sink, left_out, notes


def _nemo_checks(
    sources: Sources, meta: dict[str, ItemMeta], dataset: str
) -> tuple[list[FileFailure], list[FileFailure]]:
    """Leave out the items NeMo cannot train on (no text, a bad language), note the defaults of the rest."""
    left_out, notes, kept = [], [], []
    for ref in sources.refs:
        found = meta.get(ref.id, ItemMeta())
        if not found.text:
            why = "not in --from-list" if ref.id not in meta else "no text in --from-list"
            left_out.append(FileFailure(path=ref.source, error=f"{why}: NeMo needs a transcript; left out"))
            continue
        try:
            _, defaulted = nemo_speaker(found, dataset)
        except UsageError as exc:
            left_out.append(FileFailure(path=ref.source, error=f"{exc.reason}; left out"))
            continue
        if defaulted:
            filled = {"language": "en", "dataset": dataset, "speaker": "unknown"}
            used = ", ".join(f"{name} {filled[name]}" for name in defaulted)
            notes.append(FileFailure(path=ref.source, error=f"--from-list gives no {', '.join(defaulted)}: "
                                     f"wrote {used}"))  # fmt: skip
        kept.append(ref)
    if not kept:
        raise UsageError(f"--from-list gives no item of the source a text ({len(left_out)} left out); "
                         "NeMo needs a transcript per item", param="from_list")  # fmt: skip
    sources.refs[:] = kept
    return left_out, notes


def _failure(ref: SourceRef, exc: Exception) -> FileFailure:
    reason = exc.reason if isinstance(exc, AudiotokError) else (getattr(exc, "strerror", None) or str(exc))
    return FileFailure(path=ref.source, error=reason)


def _plan(sink: ShardSink, sources: Sources, limits: ShardLimits) -> list[tuple[str, ShardPlan]]:
    """Every shard of the export, split by split, numbered across splits (``ShardPlan.index``)."""
    keys = sink.keys([r.id for r in sources.refs])
    items = [
        ItemRef(k, r.id, r.source, r.n_bytes, r.version, r) for k, r in zip(keys, sources.refs, strict=True)
    ]
    ident = {k: v for k, v in sink.identity.to_json().items() if k not in ("command", "audiotok")}
    shape = {"format": sink.name, "identity": ident, "cond": sink.has_cond, "flatten": sink.flatten}
    context = json.dumps({**shape, **sink.context()}, sort_keys=True)
    plan: list[tuple[str, ShardPlan]] = []
    for split in sources.splits:
        of_split = [i for i, r in zip(items, sources.refs, strict=True) if r.split == split]
        packed = pack(of_split, limits, lambda i: i.n_bytes)
        for j, shard_items in enumerate(packed):
            name = sink.shard_name(split, j, len(packed))
            shard_plan = ShardPlan(name, len(plan), tuple(shard_items), context, sink.companions(name))
            plan.append((split, shard_plan))
    return plan


def _export_files(
    sources: Sources, out: Path, shard: tuple[int, int], start: float, on_progress: ProgressFn | None
) -> ExportSummary:
    """codec-bpe: one ``<id>_c0.npy`` per item (this run's: item ``i`` when ``i % count == index``)."""
    sink = CodecBpeSink(out, sources.identity)
    _claim(out, "codec-bpe", out / STATE_DIR)
    mine = [r for i, r in enumerate(sources.refs) if i % shard[1] == shard[0]]
    emit(on_progress, ProgressEvent("files", total=len(mine)))
    failures = list(sources.failures)
    left_out = [FileFailure(path=r.source, error=EMPTY) for r in mine if not r.n_frames]
    written = skipped = 0
    for ref in mine:
        if not ref.n_frames:
            continue
        if sink.done(ref.id, (ref.n_columns, ref.n_frames), ref.path):
            skipped += 1
        else:
            try:
                sink.write(sources.load(ref, ref.id))
                written += 1
            except (AudiotokError, OSError) as exc:
                failures.append(_failure(ref, exc))
        emit(on_progress, ProgressEvent("files", advance=1, item=ref.path))
    failed = {f.path for f in failures}
    finished = all(
        not r.n_frames or r.source in failed or sink.done(r.id, (r.n_columns, r.n_frames), r.path)
        for r in sources.refs
    )
    if finished:  # every item of every run is there (or failed in this one): the index, codec_info.json last
        kept = [r for r in sources.refs if r.n_frames and r.source not in failed]
        index = {
            "format": "codec-bpe",
            "identity": sources.identity.to_json(),
            "splits": {name: sum(r.split == name for r in kept) for name in sources.splits},
            "items": len(kept),
            "frames": sum(r.n_frames for r in kept),
            "seconds": sum(r.n_frames for r in kept) / sources.identity.frame_rate,
            "shards": [],
            "failed": [f.model_dump() for f in failures],
        }
        write_bytes_atomic(out / STATE_DIR / INDEX, (json.dumps(index, indent=2) + "\n").encode())
        sink.finish()
    return ExportSummary(
        out_dir=str(out), format="codec-bpe", source=sources.kind, items=len(mine), written=written,
        skipped=skipped, shards=len(sources.refs), shards_written=written, failures=failures,
        left_out=left_out, finished=finished, elapsed_s=time.perf_counter() - start,
    )  # fmt: skip
