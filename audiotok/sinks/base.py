"""Token sinks: where the codes of an encode go. The :class:`TokenSink` contract and the sink registry.

A sink is one module in ``audiotok/sinks/`` whose class derives from
:class:`TokenSink` and is decorated with ``@register_sink("name")``: the
``--to`` value of ``audiotok encode``. The encode pipeline
(:mod:`audiotok.services.encode`) asks it, for every planned input file,
where the output goes, whether it is already done (resume), and then hands
it each file's :class:`~audiotok.tokens.Codes` in a writer thread; it sees
the codec only through :class:`SinkContext`.

Must (a subclass): set :attr:`TokenSink.suffix` (per-file sinks) and
:attr:`TokenSink.record_type`; implement :meth:`~TokenSink.accepts`
(refuse what it cannot hold, one line, before any work),
:meth:`~TokenSink.resume`, :meth:`~TokenSink.planned` and
:meth:`~TokenSink.write` (atomically: a temp name in the same folder, then
``os.replace``; :mod:`audiotok._fsio`).

May: write many items per file (:attr:`TokenSink.sharded`: the pipeline then
calls :meth:`~TokenSink.write` in plan order, and :meth:`~TokenSink.resume`
answers from committed shards, planned in :meth:`~TokenSink.plan`); finish something once at the end
(:meth:`~TokenSink.commit`: an index, a dataset card); read its files back
for ``audiotok decode`` (:meth:`~TokenSink.read`,
:meth:`~TokenSink.read_head`).

Don't: load or run a codec; print; leave a half-written file where a
finished one belongs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from audiotok._registry import Registry
from audiotok._types import HasDuration
from audiotok.errors import AudiotokError, UsageError
from audiotok.tokens import CodecInfo, Codes

if TYPE_CHECKING:
    from audiotok.audio import AudioInfo, ChannelMode
    from audiotok.records import FileRecord


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


BUILTIN_SINKS: tuple[str, ...] = (
    "audiotok.sinks.npq",
    "audiotok.sinks.ecdc",
    "audiotok.sinks.hf",
    "audiotok.sinks.sharded",
)
"""The modules of the sinks audiotok ships, imported (registering them) on first use."""


@dataclass(frozen=True)
class SinkContext:
    """The codec of a run, as sinks see it (known before the model is loaded).

    Attributes
    ----------
    info : CodecInfo
        The codec's identity and numbers (``weights_sha256`` ``None`` in a dry run).
    name : str
        The codec's name in records and files (``44khz``, ``encodec_24khz``, a checkpoint path).
    normalizes : bool
        Its input is divided by one scale per file (EnCodec 48 kHz): every
        file's codes come with ``extras["scale"]``, which the output must keep.
    exact_chunking : bool
        Chunked codes equal a whole-file encode (else nearly: a sink may say so).
    """

    info: CodecInfo
    name: str
    normalizes: bool = False
    exact_chunking: bool = True


@dataclass(frozen=True)
class FileJob:
    """One planned input file, as a sink sees it.

    Attributes
    ----------
    src : Path
        The audio file.
    dst : Path
        Its output (for a sharded sink: the item's key in its shard).
    audio : AudioInfo
        The audio file's header (rate, channels, frames, bit rate).
    mode : {"mono", "mid-side", "stereo", "keep"}
        How its channels are coded (:data:`audiotok.audio.ChannelMode`).
    groups : tuple of int
        Codebooks per coded channel: ``(9, 4)`` Mid and Side, ``(9,)`` one.
    n_samples : int
        Samples per channel at the codec's rate.
    n_frames : int
        Rows of codes, ``ceil(n_samples / row_hop)``: frames, or coarsest
        frames for a layout with strides (:attr:`~audiotok.tokens.CodecInfo.row_hop`).
    """

    src: Path
    dst: Path
    audio: AudioInfo
    mode: ChannelMode
    groups: tuple[int, ...]
    n_samples: int
    n_frames: int


@dataclass(frozen=True)
class StoredTokens:
    """A token file read back for decoding.

    What :meth:`TokenSink.read` returns and :func:`audiotok.services.decode.decode_file` decodes.

    Attributes
    ----------
    codes : Codes
        The codes (may be memory-mapped), with their groups and extras.
    frame_rate : float
        Frames per second the file says it holds.
    vocab_sizes : tuple of int
        Per codebook, the vocabulary the file declares.
    model : str or None
        The model the file names, when it names one (``.ecdc``: ``encodec_24khz``).
    """

    codes: Codes
    frame_rate: float
    vocab_sizes: tuple[int, ...]
    model: str | None = None


class TokenSink:
    """Where one run's codes go (see the module docstring for the contract).

    Parameters
    ----------
    context : SinkContext
        The run's codec.
    outdir : Path, optional
        The output the user named (``-o``); ``None``: outputs beside their inputs.
        Only the process that plans a run commits it (Ray actors only write).
    """

    name: ClassVar[str] = ""
    #: The suffix of per-file outputs (``.npq``); read back by :func:`sink_for_path`.
    suffix: ClassVar[str] = ""
    #: Many items per file, committed a shard at a time.
    sharded: ClassVar[bool] = False
    #: Holds codes whose codebooks run at different rates (SNAC), as rows or levels, not flattened.
    strided: ClassVar[bool] = False
    #: The record of one written, skipped or planned file.
    record_type: ClassVar[type[FileRecord]]

    def __init__(self, context: SinkContext, outdir: Path | None = None) -> None:
        self.context = context
        self.outdir = outdir
        self.lock = threading.Lock()

    @classmethod
    def accepts(cls, context: SinkContext, groups: tuple[int, ...]) -> None:
        """Refuse, before any work, a codec or channel plan this sink cannot hold.

        ``groups`` is the largest plan: ``(k, k_side)`` for Mid/Side, else ``(k,)``.

        Raises
        ------
        UsageError
            One line naming what the sink cannot hold and what to use instead.
        """
        if not cls.strided and not context.info.layout.rectangular:
            raise UsageError(
                f"{cls.name} holds codes of one frame rate; {context.info.codec}'s levels differ"
            )

    @classmethod
    def item_root(cls, outdir: Path | None) -> Path | None:
        """The folder the per-item outputs mirror the input tree under (default: ``outdir`` itself).

        A sink whose final output is not one file per item (``hf``: a dataset
        folder) may stage its items elsewhere.
        """
        return outdir

    def plan(self, files: list[FileJob]) -> None:
        """See every file of the run, in plan order, before any :meth:`resume` (default: nothing).

        A sharded sink plans its shards here: which items each holds and their names.
        """

    def resume(self, src: Path, dst: Path, job: FileJob | None) -> FileRecord | None:
        """The ``skipped`` record of ``src`` when ``dst`` already holds its codes, else ``None``.

        ``job`` is ``None`` when the audio file could not be read (a sink that
        needs nothing of it may still find its output done).
        """
        raise NotImplementedError

    def planned(self, job: FileJob) -> FileRecord:
        """The record of a dry run for ``job``."""
        raise NotImplementedError

    def write(self, job: FileJob, codes: Codes, wall_s: float) -> FileRecord:
        """Write ``job``'s codes (atomically) and return its ``written`` record."""
        raise NotImplementedError

    def commit(self) -> None:
        """Finish the output once every item is written (default: nothing)."""

    @classmethod
    def head(cls, path: Path) -> HasDuration | None:
        """What a file says of itself without its codes (``duration_s`` at least), or ``None`` if invalid."""
        try:
            return cls.read_head(path)
        except AudiotokError:
            return None

    @classmethod
    def read_head(cls, path: Path) -> HasDuration | None:
        """:meth:`head` of a valid file (default ``None``: the sink does not read its files back).

        Raises
        ------
        AudiotokError
            If the file is not a valid file of this sink.
        """
        return None

    @classmethod
    def read(cls, path: Path) -> StoredTokens:
        """Read a file this sink wrote, for decoding.

        Raises
        ------
        FormatError
            If the file is not a valid file of this sink.
        """
        raise NotImplementedError(f"{cls.name} files cannot be read back")


S = TypeVar("S", bound=type[TokenSink])
_SINKS: Registry[type[TokenSink]] = Registry("sink", BUILTIN_SINKS, "audiotok.sinks")


def register_sink(name: str) -> Callable[[S], S]:
    """Class decorator: register a :class:`TokenSink` subclass as ``--to name`` (``ValueError`` if taken)."""
    return lambda cls: _SINKS.add(name, cls, cls, "name")


def sinks() -> dict[str, type[TokenSink]]:
    """Every registered sink by name: the built-in ones, then the ``audiotok.sinks`` entry point group."""
    return _SINKS.all()


def get_sink(name: str) -> type[TokenSink]:
    """The sink registered as ``name``.

    Raises
    ------
    UsageError
        If there is none; the message lists the known sinks.
    """
    found = sinks().get(name)
    if found is None:
        raise UsageError(f"unknown sink {name!r}; known: {', '.join(sinks())}", param="to")
    return found


def sink_for_path(path: Path) -> type[TokenSink] | None:
    """The sink whose per-file outputs have ``path``'s suffix (``.npq``, ``.ecdc``), or ``None``."""
    suffix = path.suffix.lower()
    return next((c for c in sinks().values() if c.suffix and c.suffix == suffix), None)
