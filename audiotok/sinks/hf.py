"""``--to hf``: a Hugging Face ``DatasetDict`` folder, byte for byte what ``dataset build`` writes.

``audiotok encode INPUTS -o OUT --to hf`` is ``--to npq -o OUT.tokens``
followed by ``audiotok dataset build OUT.tokens OUT --recursive``:

* each input's codes are staged as one ``.npq`` file in the sibling folder
  ``OUT.tokens/`` (the input tree mirrored, the bytes of the ``npq`` sink,
  with the identity manifest ``OUT.tokens/tokens.json``), so a killed run
  resumes from the files already staged, exactly as ``--to npq`` does;
* once every file is staged, :meth:`HfSink.commit` builds the dataset from
  the whole staging folder (:func:`audiotok.services.dataset.build.build_dataset`
  with ``recursive=True``, embedded codes, one ``train`` split). The build
  writes ``OUT.incomplete`` and swaps it in only when complete, with the
  manifest copied in as ``OUT/tokens.json``: a run killed before or during
  the commit leaves ``OUT`` as it was.

``OUT.tokens/`` stays after the build: a rerun resumes from it (skipping
every staged file, and the build itself when ``OUT`` was built from exactly
these files: a stamp, ``OUT.tokens/.hf-build.json``). It can be deleted
once the dataset is built; the dataset does not refer to it. A dataset is
built from every ``.npq`` file in the staging folder, also those staged by
earlier runs of other inputs (as ``dataset build`` of the folder would).
Runs committing into one staging folder at once (the shards of one
encode) take turns (``flock`` on ``OUT.tokens/.hf-build.lock``), so the
last one to finish builds every shard's files.

Codecs that normalise their input per file (EnCodec 48 kHz) are refused:
``.npq`` has no place for the scale, and ``dataset build`` takes ``.ecdc``
files only with their ESF sidecars.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audiotok._fsio import write_bytes_atomic
from audiotok.errors import FormatError, UsageError
from audiotok.sinks.base import SinkContext, register_sink
from audiotok.sinks.manifest import MANIFEST
from audiotok.sinks.npq import NpqSink

__all__ = ["LOCK", "STAMP", "HfSink", "staging_dir"]

log = logging.getLogger(__name__)

STAMP = ".hf-build.json"
"""The staging folder's record of the files ``OUT`` was last built from."""
LOCK = ".hf-build.lock"
"""Held (``flock``) while a run commits: shards finishing together build one after the other."""
_STAGED = ".tokens"


def staging_dir(outdir: Path) -> Path:
    """``OUT.tokens``: the sibling folder the token files of dataset ``outdir`` are staged in."""
    if outdir.name in ("", ".", ".."):
        outdir = Path(os.path.abspath(outdir))
    return outdir.with_name(outdir.name + _STAGED)


DATASET_DICT = "dataset_dict.json"
"""The file that marks a saved ``DatasetDict`` folder (``datasets.DatasetDict.save_to_disk``)."""


def _dataset_state(outdir: Path) -> list[int] | None:
    """Identity of the dataset at ``outdir`` (its ``dataset_dict.json``: inode, mtime, size), if one is there.

    Each build swaps in a new folder, so a rebuild (or any other dataset put there) changes it.
    """
    try:
        st = os.stat(outdir / DATASET_DICT)
    except OSError:
        return None
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def _staged_files(staged: Path) -> tuple[int, str]:
    """How many ``.npq`` files are staged; a digest of their (and the manifest's) names, sizes, mtimes."""
    digest = hashlib.sha256()
    n = 0
    for folder, dirs, files in os.walk(staged):
        dirs.sort()
        for name in sorted(files):
            is_npq = name.endswith(NpqSink.suffix)
            if not is_npq and not (name == MANIFEST and folder == str(staged)):
                continue
            path = os.path.join(folder, name)
            st = os.stat(path)
            n += is_npq
            digest.update(f"{os.path.relpath(path, staged)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return n, digest.hexdigest()


@contextlib.contextmanager
def _locked(staged: Path) -> Iterator[None]:
    fd = os.open(staged / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@register_sink("hf")
class HfSink(NpqSink):
    """A ``DatasetDict`` at ``-o OUT``, built from ``.npq`` files staged in ``OUT.tokens`` (module docstring).

    Writing, resuming and records are the ``npq`` sink's (the records name
    the staged files); :meth:`commit` builds the dataset.

    Raises
    ------
    UsageError
        If ``outdir`` exists and is neither empty nor a dataset folder (before any work).
    """

    strided = False  # its flat codes column has one frame rate

    def __init__(self, context: SinkContext, outdir: Path | None = None) -> None:
        super().__init__(context, outdir)
        if outdir is not None:  # the planning process: refuse now what the build would refuse at the end
            if outdir.exists() and not (outdir.is_dir() and not outdir.is_symlink()):
                raise UsageError("exists and is not a folder; the dataset cannot go there", outdir)
            is_dataset = (outdir / DATASET_DICT).is_file()
            if outdir.is_dir() and not is_dataset and any(outdir.iterdir()):
                raise UsageError(
                    "exists and is not a dataset (no dataset_dict.json); the dataset cannot go there", outdir
                )

    @classmethod
    def accepts(cls, context: SinkContext, groups: tuple[int, ...]) -> None:
        """What the ``npq`` sink holds, rectangular codes only: one or two coded channels, no per-file scale.

        Raises
        ------
        UsageError
            For a codec that normalises its input per file (write ``.ecdc``,
            add ESF sidecars, then ``dataset build``), a layout with strides,
            or what ``npq`` refuses.
        """
        if context.normalizes:
            raise UsageError(
                f"hf stages .npq files, which have no place for {context.name}'s per-file input scale; "
                "write `to` ecdc, add ESF sidecars (esf init), then run dataset build",
                param="to",
            )
        if not context.info.layout.rectangular:  # its flat [T, K] codes column would hide the levels
            raise UsageError(
                f"hf holds codes of one frame rate; {context.info.codec}'s codebooks run at different "
                "rates: write `to` npq (rows of levels, the strides in tokens.json)",
                param="to",
            )
        super().accepts(context, groups)

    @classmethod
    def item_root(cls, outdir: Path | None) -> Path:
        """``OUT.tokens``, where each input's ``.npq`` file is staged (:func:`staging_dir`).

        Raises
        ------
        UsageError
            Without ``outdir``: the dataset needs a folder.
        """
        if outdir is None:
            raise UsageError("hf writes one dataset folder: name it with `outdir`", param="outdir")
        return staging_dir(outdir)

    def commit(self) -> None:
        """Build the dataset at ``outdir`` from every staged file, unless it was built from exactly these.

        Nothing is built (and ``outdir`` not touched) when no file is staged.

        Raises
        ------
        FormatError
            If a staged file cannot be read (``outdir`` left as it was).
        UsageError, InputError, OutputError
            As :func:`audiotok.services.dataset.build.build_dataset`.
        """
        if self.outdir is None:
            return
        staged = staging_dir(self.outdir)
        if not staged.is_dir():
            log.info("%s: no token files staged; no dataset built", staged)
            return
        with _locked(staged):  # shards of one run commit one at a time; the last builds every file
            self._build(self.outdir, staged)

    def _build(self, out: Path, staged: Path) -> None:
        n, digest = _staged_files(staged)
        if not n:
            log.info("%s: no token files staged; no dataset built", staged)
            return
        stamp = staged / STAMP
        state: dict[str, Any] = {"dataset": os.path.abspath(out), "files": digest}
        if self._stamped(stamp, state, out):
            log.info("%s: up to date with %s", out, staged)
            return
        # The one import of the services from below them (layering cli -> services -> sinks; allowed in
        # tests/test_layering.py): this sink composes `dataset build`, run at commit. Lazy: importing
        # the sink does not import the services.
        from audiotok.services.dataset.build import build_dataset

        result = build_dataset(staged, out, recursive=True)
        if not result.written:
            first = result.failures[0]
            raise FormatError(
                f"{len(result.failures)} staged file(s) unreadable, dataset {out} not built; "
                f"first: {first.error}",
                first.path,
            )
        state["built"] = _dataset_state(out)
        write_bytes_atomic(stamp, (json.dumps(state, indent=2) + "\n").encode())

    @staticmethod
    def _stamped(stamp: Path, state: dict[str, Any], out: Path) -> bool:
        """Whether ``out`` holds the dataset last built from the staged files ``state`` describes."""
        try:
            found = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return False
        built = _dataset_state(out)
        return built is not None and found == {**state, "built": built}
