"""NPQ use cases that need no codec: inspecting and verifying ``.npq`` files.

Kept free of torch so that ``audiotok npq inspect`` starts fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from pydantic import Field

from audiotok.errors import FormatError
from audiotok.formats import npq
from audiotok.progress import ProgressFn
from audiotok.records import FileRecord, ReadSummary
from audiotok.services import runner
from audiotok.sinks import manifest
from audiotok.sinks.npq import KMid, KSide, NCodebooks, SeqLen
from audiotok.tokens import CodecInfo

__all__ = ["NpqInspectRecord", "inspect_file", "inspect_paths"]

#: dtype_code -> numpy name ("uint16"); ``np.dtype.name`` is slow per call.
_DTYPE_NAMES = {code: dt.name for code, dt in npq.DTYPE_CODES.items()}


class NpqInspectRecord(FileRecord):
    """What ``npq inspect`` reports for one file (one JSON object per file): a record without output."""

    status: Literal["read"] = Field(default="read", description="read: the file was read and checked.")
    format: Literal["NPQ1", "NPQ2", "NPQ0"] = Field(description="NPQ0 = legacy, unversioned.")
    version: int | None = Field(description="Header version; None for legacy files.")
    layout: str | None = Field(default=None, description="Legacy field order (v0a/v0b).")
    mode: Literal["mono", "stereo-ms"]
    n_codebooks: NCodebooks
    k_mid: KMid = None
    k_side: KSide = None
    token_rate: float = Field(description="Frames per second (fps).")
    seq_len: SeqLen
    duration_s: float = Field(description="T / token_rate, seconds.")
    vocab_sizes: list[int]
    dtype: str = Field(description="Payload dtype: uint8, uint16 or uint32.")
    bytes: int = Field(description="File size in bytes.")
    orig_bitrate_kbps: float = Field(description="Source audio bit rate, kbps.")
    verified: bool | None = Field(
        default=None, description="True when the payload was read and every token is in range."
    )
    codec: str | None = Field(
        default=None, description="The codec that made it, from the identity manifest (tokens.json) above it."
    )
    strides: list[int] | None = Field(
        default=None,
        description="Finest frames per code of each codebook when they differ (SNAC: rows hold the levels).",
    )


def inspect_file(
    path: str | os.PathLike[str], *, verify: bool = False, identity: CodecInfo | None = None
) -> NpqInspectRecord:
    """Describe one ``.npq`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    verify : bool
        Also read the payload and check every token against its vocabulary.
    identity : CodecInfo, optional
        The codec its identity manifest names (``codec``, ``strides`` of the record).

    Raises
    ------
    FormatError
        If the file is not a valid NPQ file (or, with ``verify``, holds a token
        outside its codebook's vocabulary).
    """
    p = path if isinstance(path, Path) else Path(path)
    if verify:
        tokens, header = npq.read(p, mmap=True)
        npq.check_tokens(tokens, header.vocab_sizes, p)
        del tokens
    else:
        header = npq.read_header(p)
    # isinstance, not getattr(header, "k_mid", None): a missing attribute on a
    # pydantic model is slow, and this runs once per file.
    version: int | None = None
    layout: str | None = None
    k_mid: int | None = None
    k_side: int | None = None
    if isinstance(header, npq.NpqLegacyHeader):
        layout = header.layout
    else:
        version = header.version
    if isinstance(header, npq.Npq2Header):
        k_mid, k_side = header.k_mid, header.k_side
    return NpqInspectRecord(
        input=str(p),
        format=header.format,
        version=version,
        layout=layout,
        mode=header.mode,
        n_codebooks=header.n_codebooks,
        k_mid=k_mid,
        k_side=k_side,
        token_rate=header.token_rate,
        seq_len=header.seq_len,
        duration_s=header.duration_s,
        vocab_sizes=list(header.vocab_sizes),
        dtype=_DTYPE_NAMES[header.dtype_code],
        bytes=header.file_size,
        orig_bitrate_kbps=header.orig_bitrate_kbps,
        verified=True if verify else None,
        codec=identity.codec if identity is not None else None,
        strides=list(identity.layout.strides) if identity and not identity.layout.rectangular else None,
    )


def inspect_paths(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = False,
    verify: bool = False,
    on_record: Callable[[FileRecord], None] | None = None,
    on_progress: ProgressFn | None = None,
) -> ReadSummary:
    """Inspect every ``.npq`` file named by ``inputs`` (files, globs, folders).

    ``on_record`` gets one record per file, in order: an :class:`NpqInspectRecord`,
    or a failed :class:`~audiotok.records.FileRecord` for a bad file
    (the rest are still inspected). Inputs that match nothing come first, as
    failed records.
    """
    batch = runner.plan(inputs, suffixes=(".npq",), recursive=recursive)
    identities: dict[Path, CodecInfo | None] = {}  # by folder: one manifest read per folder

    def identity(path: Path) -> CodecInfo | None:
        folder = path.parent
        if folder not in identities:
            try:
                found = manifest.find(path)
            except FormatError:
                found = None  # an unreadable tokens.json does not stop an inspection of the files
            identities[folder] = found.info if found is not None else None
        return identities[folder]

    summary = runner.run(
        batch,
        lambda item, _: inspect_file(item.path, verify=verify, identity=identity(item.path)),
        on_record=on_record,
        on_progress=on_progress,
    )
    return runner.finish(summary, ReadSummary)
