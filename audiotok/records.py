"""The records of per-file commands: one record per file, one summary per run (torch-free).

Every per-file command (``npq encode|decode|convert|inspect``, ``esf
encode|init|add``, ``audio normalize``) reports each file as a
:class:`FileRecord` subclass and the run as a :class:`BatchSummary` (or a
subclass). A record serialises to flat JSON: ``input``, ``output``,
``status``, ``error``, ``segments`` (only for a file an encode cut, see
:class:`FileRecord`), then the command's own fields.

It sits below the services: the sinks (:mod:`audiotok.sinks`) build these
records too, and they import nothing from :mod:`audiotok.services`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audiotok.formats._base import FrozenModel

__all__ = ["BatchSummary", "FileFailure", "FileRecord", "ReadSummary", "Status"]

Status = Literal["planned", "written", "read", "skipped", "failed"]
"""What happened to one file.

``planned``: a dry run would process it; ``written``: processed, its output
written; ``read``: read and checked by a command that writes nothing
(``npq inspect``); ``skipped``: a valid output already existed (resume);
``failed``: see ``error``.
"""


class FileRecord(FrozenModel):
    """One input file (or command-line argument that named none) and what became of it.

    Commands subclass it to add their own fields after these four.
    """

    input: str = Field(description="The input file, or the command-line argument that matched nothing.")
    output: str | None = Field(default=None, description="The output file; None for commands without one.")
    status: Status = Field(description="planned, written, read, skipped or failed.")
    error: str | None = Field(default=None, description="One-line reason, when status is failed.")
    segments: list[list[int]] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="An encoded file that was cut (a codec with a global receptive field, file longer "
        "than its longest window): each separately encoded segment's [start, stop) frames; absent "
        "when the file was encoded whole.",
    )


class BatchSummary(FrozenModel):
    """A whole run: counts per status, audio seconds, wall time, speed and provenance.

    Commands subclass it for their own counts (``files_mono``).
    """

    files_planned: int = Field(default=0, description="Files a dry run would process.")
    files_written: int = Field(default=0, description="Files processed, outputs written.")
    #: Counted for every run, printed only by the read-only commands' :class:`ReadSummary`.
    files_read: int = Field(default=0, exclude=True)
    files_skipped: int = Field(default=0, description="Files whose valid output already existed.")
    files_failed: int = Field(default=0, description="Files (and arguments matching nothing) that failed.")
    audio_seconds: float = Field(
        default=0.0, description="Seconds of audio processed (written, read or planned)."
    )
    wall_seconds: float = Field(default=0.0, description="Wall time of the run, seconds.")
    real_time_factor: float = Field(
        default=0.0, description="Audio seconds per wall second (higher is faster); 0 without audio."
    )
    model: str | None = Field(default=None, description="Model name or checkpoint, for commands with one.")
    weights_sha256: str | None = Field(default=None, description="sha256 of the weights, when loaded.")
    backend: str | None = Field(
        default=None, description="What ran the codec's networks: eager, compile or openvino."
    )

    @property
    def files_ok(self) -> int:
        """Files written, read (commands that write nothing), or planned in a dry run."""
        return self.files_written + self.files_read + self.files_planned


class ReadSummary(BatchSummary):
    """:class:`BatchSummary` of a command that reads and checks files and writes none (``npq inspect``)."""

    files_read: int = Field(default=0, description="Files read and checked.")


class FileFailure(FrozenModel):
    """A file a batch could not process, and why (``dataset build`` and ``esf audit``).

    The per-file commands report :class:`FileRecord` with ``status="failed"`` instead.
    """

    path: str = Field(description="The file or command-line argument.")
    error: str = Field(description="One-line reason.")
