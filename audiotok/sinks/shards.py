"""Shards: many items per file, each file committed atomically (the core of the sharded outputs).

A sharded output (``parquet``, ``webdataset``) is written in three steps:

1. **Plan.** Every item is known before any shard is written, with its key,
   its source and the bytes its codes take (from token-file headers:
   ``T * K * itemsize``, exact for the raw codes). :func:`pack` puts items in
   plan order into shards, each capped by bytes and by item count
   (:class:`ShardLimits`). The plan fixes the number of shards, so every shard
   gets its final name from the start (``data/train-00003-of-00010.parquet``,
   ``shard-000003.tar``): nothing is renamed at the end, and the shards of
   ``--shard-index/--shard-count`` runs (shard ``j`` belongs to run
   ``j % shard_count``) never share a name.
2. **Write.** :func:`write_shard` writes one shard to a temporary name in
   its folder (:func:`audiotok._fsio.atomic_write_group`) together with its
   *receipt* (``OUT/.audiotok/shards/<name>.json``: the plan's fingerprint of
   the shard, the keys written, the items that failed); both are moved into
   place only once the shard is complete, so an exception mid-shard leaves
   neither, and a process killed between the two moves is finished by the
   next run's :func:`sweep`. A shard is *committed* when its file and a
   receipt with the same fingerprint are there (:func:`committed`): a rerun
   skips it and writes the others.
3. **Index.** Once every shard of the plan is committed (whichever run
   finishes last sees it), :func:`write_index` removes shard files of older
   plans and writes ``OUT/.audiotok/index.json``; the format's visible card
   or index comes last.

The folder ``.audiotok`` is hidden: ``datasets.load_dataset`` skips hidden
paths, and WebDataset readers name their ``*.tar`` files. A format whose
folder must hold nothing but its shards (lhotse Shar: ``CutSet.from_shar(in_dir=...)``
takes every entry, hidden ones too, for a field) keeps that folder beside
the output instead, ``OUT.audiotok`` (:meth:`ShardSink.state_for`).

A shard may be several files committed together (lhotse Shar: one per
field, ``ShardPlan.files``): they are moved in order, the shard's ``name``
last, then the receipt; a shard is committed when all of them are there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np

from audiotok._fsio import atomic_write_group, remove_stale_temps, write_bytes_atomic
from audiotok.errors import UsageError
from audiotok.sinks.flatten import flatten_codes
from audiotok.tokens import CodecInfo, Codes

__all__ = [
    "INDEX",
    "STATE_DIR",
    "ItemRef",
    "ShardIdentity",
    "ShardItem",
    "ShardLimits",
    "ShardPlan",
    "ShardSink",
    "committed",
    "pack",
    "read_index",
    "state_of",
    "sweep",
    "write_index",
    "write_shard",
]

STATE_DIR = ".audiotok"
"""The hidden folder of an output's receipts and index."""
_RECEIPTS = "shards"
INDEX = "index.json"
"""The index of a finished output, in :data:`STATE_DIR`."""

T = TypeVar("T")


@dataclass(frozen=True)
class ShardLimits:
    """The most one shard holds.

    Attributes
    ----------
    max_bytes : int
        Bytes of codes (and conditioning) before compression; an item larger
        than this gets a shard of its own.
    max_items : int
        Items.

    Raises
    ------
    UsageError
        If either is below 1.
    """

    max_bytes: int
    max_items: int

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_items < 1:
            raise UsageError(
                f"shard limits must be at least 1, got {self.max_bytes} bytes and {self.max_items} items",
                param=("max_shard_bytes", "max_shard_items"),
            )


@dataclass(frozen=True, slots=True)
class ItemRef:
    """One item of a plan, before it is read.

    Attributes
    ----------
    key : str
        Its key in the output (unique; the format's :meth:`ShardSink.keys`).
    id : str
        Its id (its path below the source folder, without suffix).
    source : str
        The file it is read from (or ``FOLDER#split/row`` for a dataset row).
    n_bytes : int
        Bytes its codes (and conditioning) take uncompressed.
    version : str or int
        What changes when the source does (its size and mtime): part of the shard's fingerprint.
    origin : object
        What the caller needs to read the item (``dataset export``: its
        ``SourceRef``); not part of the fingerprint.
    """

    key: str
    id: str
    source: str
    n_bytes: int
    version: str | int = ""
    origin: Any = None


@dataclass(frozen=True)
class ShardPlan:
    """One shard of a plan: its name (relative to the output folder), position and items.

    ``context`` is what every shard of the output shares and its bytes depend
    on (format, codec identity, columns): a change redoes every shard.
    """

    name: str
    index: int
    items: tuple[ItemRef, ...]
    context: str = ""
    companions: tuple[str, ...] = ()
    """Other files of the shard (relative to the output), moved into place before ``name``."""

    @property
    def files(self) -> tuple[str, ...]:
        """Every file of the shard, in the order they are written and moved: ``companions``, then ``name``."""
        return (*self.companions, self.name)

    @property
    def fingerprint(self) -> str:
        """sha256 of the shard's context, name and items: a committed shard with another one is redone."""
        digest = hashlib.sha256(f"{self.context}\0{self.name}".encode())
        for item in self.items:
            fields = (item.key, item.id, item.source, str(item.n_bytes), str(item.version))
            digest.update(("\0" + "\0".join(fields)).encode())
        return digest.hexdigest()


def pack(items: Iterable[T], limits: ShardLimits, size: Callable[[T], int]) -> list[list[T]]:
    """Items in order into shards: a new shard when the next item would pass either limit.

    Every shard holds at least one item; no item is split.
    """
    shards: list[list[T]] = []
    current: list[T] = []
    held = 0
    for item in items:
        n = size(item)
        if current and (held + n > limits.max_bytes or len(current) >= limits.max_items):
            shards.append(current)
            current, held = [], 0
        current.append(item)
        held += n
    if current:
        shards.append(current)
    return shards


@dataclass(frozen=True)
class ShardIdentity:
    """Which codec made an output's codes, and how they are stored: what every format records.

    Attributes
    ----------
    codec : str or None
        The codec's name (registry name, or the model a file names), if known.
    frame_rate : float
        Rows of codes per second (the coarsest level's rate for a layout with strides).
    vocab_sizes : tuple of int or None
        Per codebook, its vocabulary (``None``: not recorded by the sources).
    strides : tuple of int
        Per codebook, finest frames one code spans (all 1: rectangular codes).
    sample_rate : int or None
        Hz of the audio the codec takes, if known.
    info : CodecInfo or None
        The full identity, when an identity manifest (``tokens.json``) names it.
    audiotok : str
        The audiotok version writing the output.
    command : str
        The command line that wrote it.
    """

    codec: str | None
    frame_rate: float
    vocab_sizes: tuple[int, ...] | None
    strides: tuple[int, ...] = ()
    sample_rate: int | None = None
    info: CodecInfo | None = None
    audiotok: str = ""
    command: str = ""

    @property
    def rectangular(self) -> bool:
        """Whether every codebook runs at one rate (codes are ``[T, K]``)."""
        return all(s == 1 for s in self.strides)

    @property
    def codes_dtype(self) -> np.dtype[Any]:
        """uint16 when every vocabulary fits (at most 65,536 symbols), else uint32."""
        fits = self.vocab_sizes is not None and max(self.vocab_sizes) <= 1 << 16
        return np.dtype(np.uint16 if fits else np.uint32)

    @property
    def weights_sha256(self) -> str | None:
        """The weights' sha256, when the identity manifest names it."""
        return None if self.info is None else self.info.weights_sha256

    def to_json(self) -> dict[str, Any]:
        """As a JSON object (schema metadata, ``index.json``, each WebDataset sample's ``codec``)."""
        return {
            "codec": self.codec,
            "frame_rate": self.frame_rate,
            "vocab_sizes": None if self.vocab_sizes is None else list(self.vocab_sizes),
            "strides": list(self.strides),
            "sample_rate": self.sample_rate,
            "weights_sha256": self.weights_sha256,
            "codes_dtype": self.codes_dtype.name,
            "info": None if self.info is None else self.info.to_json(),
            "audiotok": self.audiotok,
            "command": self.command,
        }


@dataclass(frozen=True)
class ShardItem:
    """One item read for writing: its codes and what a format records beside them.

    Attributes
    ----------
    key : str
        Its key in the output (:attr:`ItemRef.key`).
    id : str
        Its id (:attr:`ItemRef.id`).
    source : str
        The file it was read from.
    codes : Codes
        ``[T, K]`` (columns grouped by ``codes.groups``: Mid then Side), or one
        array per codebook for a layout with strides.
    duration_s : float
        Seconds of audio the codes cover.
    cond : ndarray[T, D] or None
        ESF conditioning, row ``i`` aligned to frame ``i``.
    cond_names : tuple of str
        Its column names.
    """

    key: str
    id: str
    source: str
    codes: Codes
    duration_s: float
    cond: np.ndarray[Any, Any] | None = None
    cond_names: tuple[str, ...] = ()

    @property
    def n_frames(self) -> int:
        """Rows of codes (the coarsest level's codes for a layout with strides)."""
        if isinstance(self.codes.data, tuple):
            return min((len(level) for level in self.codes.data), default=0)
        return int(self.codes.data.shape[0])


class ShardSink:
    """A format written a shard at a time (subclasses: ``parquet``, ``webdataset``).

    Must: :attr:`name`, :attr:`default_limits`, :meth:`shard_name` and
    :meth:`is_shard` (its names, and how to recognise them), :meth:`open` (a
    writer over one shard's file handle) and :meth:`finish` (the format's
    card or index, written last). May: :meth:`keys` (safe item keys),
    :meth:`accepts` (refuse a layout before any work).
    """

    name = ""
    default_limits = ShardLimits(max_bytes=500_000_000, max_items=100_000)
    state_beside = False
    """Keep the receipts and index beside the output (``OUT.audiotok``), not in ``OUT/.audiotok``."""

    def __init__(
        self, out: Path, identity: ShardIdentity, *, has_cond: bool, flatten: str | None = None
    ) -> None:
        self.out = out
        self.identity = identity
        self.has_cond = has_cond
        #: ``--flatten`` order (:mod:`audiotok.sinks.flatten`): a ``tokens`` stream beside the codes.
        self.flatten = flatten

    @classmethod
    def state_for(cls, out: Path) -> Path:
        """The folder of ``out``'s receipts and index (:func:`state_of`)."""
        return state_of(out, beside=cls.state_beside)

    @property
    def state(self) -> Path:
        """The folder of this output's receipts and index."""
        return self.state_for(self.out)

    def companions(self, name: str) -> tuple[str, ...]:
        """Files written with shard ``name`` (relative to the output), moved before it (default: none)."""
        return ()

    def context(self) -> dict[str, Any]:
        """What else shapes every shard's bytes (a preset): part of every shard's fingerprint."""
        return {}

    @classmethod
    def keys(cls, ids: list[str]) -> list[str]:
        """The output keys of items with ``ids`` (default: the ids, unique already)."""
        return list(ids)

    @classmethod
    def accepts(cls, identity: ShardIdentity) -> None:
        """Refuse, before any work, codes this format cannot hold (default: every layout)."""

    @staticmethod
    def is_shard(relative: str) -> bool:
        """Whether a path below the output (POSIX) is one of this format's shard files."""
        return False

    def shard_name(self, split: str, index: int, count: int) -> str:
        """The path of shard ``index`` of ``count`` of ``split``, relative to the output folder."""
        raise NotImplementedError

    def tokens(self, item: ShardItem) -> np.ndarray[Any, Any] | None:
        """The item's ``--flatten`` stream (int32), or ``None`` without ``flatten``."""
        if self.flatten is None:
            return None
        return flatten_codes(item.codes, self.identity, self.flatten)  # type: ignore[arg-type]

    def open(self, fh: IO[bytes]) -> ShardWriter:
        """A writer of one shard into ``fh`` (a temporary file the core commits)."""
        raise NotImplementedError

    def open_files(self, handles: Sequence[IO[bytes]]) -> ShardWriter:
        """A writer of one shard into ``handles``, one per ``ShardPlan.files`` (default: :meth:`open`)."""
        return self.open(handles[-1])

    def finish(self, index: dict[str, Any]) -> None:
        """Write the format's card or index (``index`` is :func:`write_index`'s), last."""


class ShardWriter:
    """Writes the items of one shard into its file handle; :meth:`close` completes the file."""

    def add(self, item: ShardItem) -> None:
        """Append one item."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (footer, end of archive); not called when the shard is abandoned."""
        raise NotImplementedError

    def abort(self) -> None:
        """Stop writing an abandoned shard (its file is removed next): release threads, never raise."""


def state_of(out: Path, *, beside: bool = False) -> Path:
    """``OUT/.audiotok``, or with ``beside`` the folder ``OUT.audiotok`` next to ``OUT``.

    Raises
    ------
    UsageError
        If ``beside`` and ``out`` has no name (a file-system root).
    """
    if not beside:
        return out / STATE_DIR
    absolute = Path(os.path.abspath(out))
    if not absolute.name:
        raise UsageError("needs a name: its receipts and index go beside it, in NAME.audiotok", out)
    return absolute.parent / f"{absolute.name}.audiotok"


def _receipt(state: Path, name: str) -> Path:
    return state / _RECEIPTS / (name.replace("/", "__") + ".json")


def committed(out: Path, shard: ShardPlan, state: Path | None = None) -> dict[str, Any] | None:
    """The receipt of ``shard`` when its files are there and were written by this plan, else ``None``.

    ``state`` is the output's receipts folder (default ``OUT/.audiotok``).
    """
    try:
        receipt = json.loads(_receipt(state or out / STATE_DIR, shard.name).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(receipt, dict) or receipt.get("fingerprint") != shard.fingerprint:
        return None
    return receipt if all((out / f).is_file() for f in shard.files) else None


def sweep(out: Path, shards: Sequence[ShardPlan], state: Path | None = None) -> None:
    """Remove what a killed writer of ``shards`` left (temporary files), finishing interrupted commits.

    Call it for the shards of this run only: another run's shards may be being written.
    """
    receipts = state or out / STATE_DIR
    paths = [p for s in shards for p in (*(out / f for f in s.files), _receipt(receipts, s.name))]
    remove_stale_temps(*paths)


@dataclass
class ShardResult:
    """What :func:`write_shard` wrote: the keys of the items written, and the items that failed."""

    written: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def write_shard(sink: ShardSink, shard: ShardPlan) -> Iterator[tuple[ShardWriter, ShardResult]]:
    """Write one shard: yields its writer and the result to fill; commits both files on success.

    The shard and its receipt go to temporary names beside their destinations
    and are moved into place only when the ``with`` body ends without an
    exception; otherwise both temporary files are removed and nothing
    changes. The caller records each item in the result (``written``,
    ``failed``).
    """
    paths = [*(sink.out / f for f in shard.files), _receipt(sink.state, shard.name)]
    with atomic_write_group(paths) as handles:
        *files, receipt_fh = handles
        writer = sink.open_files(files)
        result = ShardResult()
        try:
            yield writer, result
        except BaseException:
            writer.abort()
            raise
        writer.close()
        receipt = {
            "shard": shard.name,
            "fingerprint": shard.fingerprint,
            "items": result.written,
            "failed": result.failed,
            "frames": result.frames,
            "seconds": result.seconds,
        }
        receipt_fh.write((json.dumps(receipt) + "\n").encode())


def read_index(out: Path) -> dict[str, Any] | None:
    """The index of a finished output (in ``OUT/.audiotok`` or ``OUT.audiotok``), or ``None``."""
    for state in (out / STATE_DIR, state_of(out, beside=True) if Path(os.path.abspath(out)).name else None):
        if state is None:
            continue
        try:
            found = json.loads((state / INDEX).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(found, dict):
            return found
    return None


def write_index(
    sink: ShardSink, shards: Sequence[tuple[str, ShardPlan]], *, is_shard: Callable[[str], bool]
) -> dict[str, Any] | None:
    """Write the output's index (then the format's card) if every shard of the plan is committed.

    Parameters
    ----------
    sink : ShardSink
    shards : sequence of (split, ShardPlan)
        The whole plan (every run's shards).
    is_shard : callable
        Whether a path relative to the output is a shard file of this format:
        those not in the plan (an older plan's) are removed with their receipts.

    Returns
    -------
    dict or None
        The index, or ``None`` while a shard is missing (another run is still writing).
    """
    receipts = []
    for split, shard in shards:
        found = committed(sink.out, shard, sink.state)
        if found is None:
            return None
        receipts.append((split, found))
    planned = {f for _, shard in shards for f in shard.files}
    for folder, _, files in os.walk(sink.out):
        if os.path.basename(folder) == STATE_DIR or f"{os.sep}{STATE_DIR}{os.sep}" in folder + os.sep:
            continue
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), sink.out).replace(os.sep, "/")
            if is_shard(rel) and rel not in planned:
                os.unlink(os.path.join(folder, name))
                _receipt(sink.state, rel).unlink(missing_ok=True)
    splits: dict[str, int] = {}
    for split, receipt in receipts:
        splits[split] = splits.get(split, 0) + len(receipt["items"])
    index = {
        "format": sink.name,
        "identity": sink.identity.to_json(),
        "splits": splits,
        "items": sum(splits.values()),
        "frames": sum(int(r["frames"]) for _, r in receipts),
        "seconds": sum(float(r["seconds"]) for _, r in receipts),
        "shards": [{"split": split, "name": r["shard"], "items": len(r["items"])} for split, r in receipts],
        "failed": [f for _, r in receipts for f in r["failed"]],
    }
    write_bytes_atomic(sink.state / INDEX, (json.dumps(index, indent=2) + "\n").encode())
    sink.finish(index)
    return index
