"""The sources of ``dataset export``: token trees (``.npq``, ``.ecdc`` with or without sidecars) and
``dataset build`` output, planned from headers and read one item at a time.

:func:`plan_sources` reads every header once (no codes) and gives each item
its id, its size and the codec identity of the whole export;
:meth:`Sources.load` reads one item's codes when its shard is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from audiotok import __version__
from audiotok.errors import AudiotokError, FormatError, InputError
from audiotok.formats import ecdc, esf, npq
from audiotok.records import FileFailure
from audiotok.services.dataset import identity, scan
from audiotok.services.dataset._rows import esf_files
from audiotok.sinks import manifest
from audiotok.sinks.shards import ShardIdentity, ShardItem
from audiotok.tokens import CodecInfo, Codes, TokenLayout

__all__ = ["SourceKind", "SourceRef", "Sources", "plan_sources"]

SourceKind = Literal["npq", "esf", "dataset"]
_ENCODEC_VOCAB = 1024
"""Every EnCodec model's codebook size (``.ecdc`` files do not record it)."""


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One item of an export, from its headers.

    Attributes
    ----------
    id : str
        Its path below its split's folder, POSIX, without suffix (``d0/clip000``).
    path : str
        The token file (for a dataset row: the dataset folder).
    split : str
    n_frames : int
        Rows of codes; -1 when planned from the file's size (known once read).
    n_columns : int
        Codes per row (-1 likewise).
    n_bytes : int
        Bytes of codes (and conditioning) in the output, uncompressed.
    cond : bool
        ESF sidecars are there.
    row : int or None
        Row of a dataset split.
    version : int
        The source file's size and mtime (ns) at planning, ``size << 64 | mtime_ns`` (an int
        takes half the memory of the string, per item): a changed file is exported again.
    """

    id: str
    path: str
    split: str
    n_frames: int
    n_columns: int
    n_bytes: int
    cond: bool = False
    row: int | None = None
    version: int = 0

    @property
    def source(self) -> str:
        """The source named in records and outputs: the file, or ``FOLDER#split/row``."""
        return self.path if self.row is None else f"{self.path}#{self.split}/{self.row}"


@dataclass
class Sources:
    """Every item of an export, the codec identity and what could not be planned.

    Attributes
    ----------
    kind : {"npq", "esf", "dataset"}
    identity : ShardIdentity
    refs : list of SourceRef
        In scan order, split by split.
    failures : list of FileFailure
        Files whose headers could not be read (left out; the export goes on).
    """

    kind: SourceKind
    identity: ShardIdentity
    refs: list[SourceRef]
    failures: list[FileFailure] = field(default_factory=list)
    _tables: dict[str, Any] = field(default_factory=dict)

    @property
    def has_cond(self) -> bool:
        """Whether any item has ESF conditioning."""
        return any(r.cond for r in self.refs)

    @property
    def splits(self) -> list[str]:
        """Split names in order."""
        return list(dict.fromkeys(r.split for r in self.refs))

    def load(self, ref: SourceRef, key: str) -> ShardItem:
        """Read ``ref``'s codes (and conditioning) as the output's item ``key``.

        Raises
        ------
        FormatError
            If the file is invalid, or no longer has the frames its header had at planning.
        """
        if ref.row is not None:
            item = self._load_row(ref, key)
        elif ref.path.endswith(".npq"):
            item = self._load_npq(ref, key)
        else:
            item = self._load_esf(ref, key)
        if ref.n_frames >= 0 and item.n_frames != ref.n_frames:
            raise FormatError(f"has {item.n_frames} frames, {ref.n_frames} when planned", ref.path)
        data = item.codes.data
        levels = data if isinstance(data, tuple) else (data,)
        filled = [level for level in levels if level.size]
        low = min((int(level.min()) for level in filled), default=0)
        high = max((int(level.max()) for level in filled), default=0)
        dtype = self.identity.codes_dtype
        if low < 0 or high > np.iinfo(dtype).max:
            bad = low if low < 0 else high
            raise FormatError(f"code {bad} does not fit the export's {dtype.name} codes", ref.path)
        return item

    def _load_npq(self, ref: SourceRef, key: str) -> ShardItem:
        tokens, header = npq.read(ref.path)
        groups = (
            (header.k_mid, header.k_side) if isinstance(header, npq.Npq2Header) else (header.n_codebooks,)
        )
        info = self.identity.info
        if info is not None and not info.layout.rectangular:
            k = _strided_k(info.layout, header.n_codebooks, ref.path)
            codes = Codes.from_rows(np.asarray(tokens, np.int64), info.layout, (k,))
        else:
            codes = Codes(np.asarray(tokens), tuple(groups))
        return ShardItem(key, ref.id, ref.source, codes, header.seq_len / header.token_rate)

    def _load_esf(self, ref: SourceRef, key: str) -> ShardItem:
        """An ESF item, its files read once (the rules of ``dataset build`` applied to a triplet)."""
        if ref.cond:
            codes, cond, meta, cmeta = esf.read_triplet(ref.path, esf_files(ref.path)[1:])
            item = ShardItem(
                key, ref.id, ref.source, Codes(codes), _esf_seconds(meta), cond, tuple(cmeta.names)
            )
        else:
            codes, meta = ecdc.read(ref.path)
            item = ShardItem(key, ref.id, ref.source, Codes(codes), _esf_seconds(meta))
        rate = self.identity.frame_rate
        if ref.n_frames < 0 and abs(meta.fps - rate) > 1e-6 * rate:  # planned by size: checked here
            raise FormatError(f"{meta.fps} frames per second, the export's first file has {rate}", ref.path)
        return item

    def _load_row(self, ref: SourceRef, key: str) -> ShardItem:
        """One row of a ``dataset build`` split: its flat ``codes`` (and ``cond``) reshaped."""
        row = self._tables[ref.split].slice(ref.row, 1)
        names_in = set(row.column_names)
        scalars = row.drop_columns([c for c in ("codes", "cond") if c in names_in]).to_pylist()[0]
        t, k = int(scalars["n_frames"]), int(scalars["n_codebooks"])
        codes = _values(row, "codes").astype(np.int64).reshape(t, k)
        groups = (int(scalars["k_mid"]), int(scalars["k_side"])) if scalars.get("k_mid") else (k,)
        cond = None
        names: tuple[str, ...] = ()
        if "cond" in names_in and scalars.get("cond_names") is not None:
            names = tuple(scalars["cond_names"])
            cond = _values(row, "cond").astype(np.float32).reshape(t, len(names))
        if scalars.get("audio_length") and scalars.get("sample_rate"):
            seconds = scalars["audio_length"] / scalars["sample_rate"]
        else:
            seconds = t / float(scalars["fps"])
        return ShardItem(key, ref.id, ref.source, Codes(codes, groups), seconds, cond, names)


def _values(row: Any, column: str) -> np.ndarray[Any, Any]:
    """The values of a one-row table's ``list<...>`` cell as a numpy array."""
    return np.asarray(row.column(column).combine_chunks().flatten().to_numpy(zero_copy_only=False))


def _esf_seconds(meta: ecdc.EcdcMeta) -> float:
    if meta.audio_length is not None and meta.sample_rate:
        return meta.audio_length / meta.sample_rate
    return meta.duration_s


def _strided_k(layout: TokenLayout, columns: int, path: str) -> int:
    """Codebooks of a strided layout whose rows are ``columns`` wide."""
    for k in range(1, layout.n_codebooks + 1):
        if layout.columns(k) == columns:
            return k
    raise FormatError(f"rows of {columns} codes fit no codebook count of strides {layout.strides}", path)


def _widest(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Per codebook, the larger vocabulary of ``a`` and ``b`` (the longer one's tail kept)."""
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    return tuple(max(x, y) for x, y in zip(longer, shorter, strict=False)) + longer[len(shorter) :]


def _id(relative_dir: str, name: str, suffix: str) -> str:
    stem = name[: -len(suffix)]
    return f"{relative_dir}/{stem}" if relative_dir else stem


def _manifest_info(found: tuple[manifest.Manifest, ...]) -> CodecInfo | None:
    return next((m.info for m in found if m.info.weights_sha256), found[0].info if found else None)


def _identity(
    info: CodecInfo | None,
    *,
    frame_rate: float,
    vocab: tuple[int, ...] | None,
    codec: str | None,
    sample_rate: int | None,
    command: str,
) -> ShardIdentity:
    if info is not None and not info.layout.rectangular:
        return ShardIdentity(
            codec=info.codec, frame_rate=info.row_rate, vocab_sizes=info.layout.vocab_sizes,
            strides=info.layout.strides, sample_rate=info.sample_rate, info=info,
            audiotok=__version__, command=command,
        )  # fmt: skip
    strides = (1,) * len(vocab) if vocab else ()
    return ShardIdentity(
        codec=info.codec if info else codec, frame_rate=frame_rate, vocab_sizes=vocab, strides=strides,
        sample_rate=info.sample_rate if info else sample_rate, info=info, audiotok=__version__,
        command=command,
    )  # fmt: skip


def _failure(path: str, exc: Exception) -> FileFailure:
    reason = exc.reason if isinstance(exc, AudiotokError) else (getattr(exc, "strerror", None) or str(exc))
    return FileFailure(path=path, error=reason)


class _Files:
    """Token files planned one by one: their refs, failures, and what they say of the codec."""

    def __init__(self, info: CodecInfo | None, *, headers: bool = True) -> None:
        self.info = info
        #: Read every ``.ecdc`` header (exact frames); without it only the first one is read and the
        #: others are planned from their sizes (:meth:`_ecdc_by_size`): each is read once, when written.
        self.headers = headers
        self.width = 2 if info is None or max(info.layout.vocab_sizes) <= 1 << 16 else 4
        self.refs: list[SourceRef] = []
        self.failures: list[FileFailure] = []
        self.vocab: tuple[int, ...] = ()
        self.rate: float | None = None
        self.model: str | None = None
        self.sample_rate: int | None = None
        self.suffixes: set[str] = set()

    def add(self, path: str, item_id: str, split: str) -> None:
        """Plan one ``.npq`` or ``.ecdc`` file from its headers; a bad one becomes a failure."""
        try:
            if path.endswith(".npq"):
                header = npq.read_header(path)
                self.vocab = _widest(self.vocab, tuple(header.vocab_sizes))
                fps, t, k = header.token_rate, header.seq_len, header.n_codebooks
                cond_bytes, has_cond = 0, False
            elif not self.headers and self.model is not None:
                self._ecdc_by_size(path, item_id, split)
                return
            else:
                meta, has_cond, cond_bytes = _esf_header(path)
                self.model = self.model or meta.model
                self.sample_rate = self.sample_rate or meta.sample_rate
                self.vocab = _widest(self.vocab, (_ENCODEC_VOCAB,) * meta.n_codebooks)
                fps, t, k = meta.fps, meta.n_frames, meta.n_codebooks
            self.rate = fps if self.rate is None else self.rate
            if abs(fps - self.rate) > 1e-6 * self.rate:
                raise FormatError(f"{fps} frames per second, the export's first file has {self.rate}")
            st = os.stat(path)
        except (AudiotokError, OSError) as exc:
            self.failures.append(_failure(path, exc))
            return
        self.suffixes.add(os.path.splitext(path)[1])
        version = st.st_size << 64 | st.st_mtime_ns
        n_bytes = t * k * self.width + cond_bytes
        self.refs.append(SourceRef(item_id, path, split, t, k, n_bytes, has_cond, None, version))

    def _ecdc_by_size(self, path: str, item_id: str, split: str) -> None:
        """Plan an ``.ecdc`` file from ``stat`` alone: frames unknown (-1), bytes from its size.

        Its codes are stored as int64 (8 bytes a value), so the export holds
        about ``size / 8`` values; the sidecars are estimated as in
        :func:`_esf_header`. Its frame rate is checked when it is read.
        """
        try:
            st = os.stat(path)
        except OSError as exc:
            self.failures.append(_failure(path, exc))
            return
        npy, js = esf_files(path)[1:]
        try:
            npy_size = os.stat(npy).st_size
        except OSError:
            npy_size = -1
        has_cond = npy_size >= 0 or os.path.lexists(js)
        n_bytes = st.st_size // 8 * self.width + max(npy_size - _NPY_HEADER, 0) * 2
        version = st.st_size << 64 | st.st_mtime_ns
        self.refs.append(SourceRef(item_id, path, split, -1, -1, n_bytes, has_cond, None, version))

    def identity(self, command: str) -> ShardIdentity:
        """The export's codec identity: the manifest's, else what the headers say."""
        known = self.suffixes == {".npq"} or (self.model or "").startswith("encodec")
        return _identity(
            self.info, frame_rate=self.rate or 0.0, vocab=self.vocab if known and self.vocab else None,
            codec=self.model, sample_rate=self.sample_rate, command=command,
        )  # fmt: skip


def _plan_tree(src: Path, split: str, recursive: bool, command: str, headers: bool) -> Sources:
    roots = scan.split_roots(src, split, None)
    suffix = scan.detect_suffix(roots, recursive)
    total = scan.count(roots, suffix, recursive=recursive)
    found = identity.find_manifests(roots, suffix, recursive=recursive, total=total)
    files = _Files(_manifest_info(found), headers=headers)
    for folder in scan.folders(roots, suffix, recursive=recursive):
        for entry in folder.files:
            files.add(entry.path, _id(folder.relative, entry.name, suffix), split)
    if not files.refs:
        raise InputError(f"no readable {suffix} files ({len(files.failures)} unreadable)", src)
    kind: SourceKind = "npq" if suffix == ".npq" else "esf"
    return Sources(kind, files.identity(command), files.refs, files.failures)


def _plan_paths(src: Path, dsd: Any, info: CodecInfo | None, command: str, headers: bool) -> Sources:
    """A ``dataset build --no-embed`` folder: each row's ``audio`` names a token file below ``src``."""
    files = _Files(info, headers=headers)
    root = os.path.realpath(src)
    for split, ds in dsd.items():
        prefix = f"tokens/{split}/"
        for audio in ds.data.table.column("audio").to_pylist():
            path = os.path.join(root, str(audio))
            rel = str(audio)[len(prefix) :] if str(audio).startswith(prefix) else str(audio)
            if not scan.inside(os.path.realpath(os.path.dirname(path)), root):
                files.failures.append(
                    FileFailure(path=path, error="the audio path leaves the dataset folder")
                )
                continue
            files.add(path, os.path.splitext(rel)[0], split)
    if not files.refs:
        raise InputError(f"no readable token files ({len(files.failures)} unreadable)", src)
    return Sources("dataset", files.identity(command), files.refs, files.failures)


_NPY_HEADER = 128
"""Bytes of a usual ``.npy`` header (v1, padded to 64-byte alignment; what numpy writes for ``[T, D]``)."""


def _esf_header(path: str) -> tuple[ecdc.EcdcMeta, bool, int]:
    """An ``.ecdc`` file's header, whether sidecars are there, and their values' bytes (float32).

    Only the ``.ecdc`` header is read; the sidecars are only looked at
    (``stat``): they are read once, with the codes, when the item is written
    (:meth:`Sources.load` applies the ESF rules then, as ``dataset build``
    does). Their bytes are estimated from the ``.npy`` file's size (float16
    values count twice: they are stored as float32).
    """
    npy, js = esf_files(path)[1:]
    meta = ecdc.read_meta(path)
    try:
        size = os.stat(npy).st_size
    except OSError:
        size = -1
    if size < 0 and not os.path.lexists(js) and not os.path.lexists(npy):
        return meta, False, 0
    return meta, True, max(size - _NPY_HEADER, 0) * 2


def _plan_dataset(src: Path, command: str, headers: bool) -> Sources:
    from datasets import DatasetDict, load_from_disk  # a slow import: only this source needs it

    dsd = load_from_disk(os.fspath(src))
    if not isinstance(dsd, DatasetDict):  # pragma: no cover - dataset_dict.json says it is one
        raise InputError("not a DatasetDict", src)
    found = src / manifest.MANIFEST
    info = manifest.read(found).info if found.is_file() else None
    refs: list[SourceRef] = []
    tables: dict[str, Any] = {}
    stamp = os.stat(src / "dataset_dict.json")  # every build writes it anew
    version = stamp.st_ino << 64 | stamp.st_mtime_ns
    vocab: tuple[int, ...] = ()
    rate = 0.0
    model = None
    sample_rate = None
    width = 2
    for split, ds in dsd.items():
        table = ds.data.table
        if "codes" not in table.column_names:  # --no-embed: the rows name token files
            return _plan_paths(src, dsd, info, command, headers)
        tables[split] = table
        width = max(width, table.schema.field("codes").type.value_type.bit_width // 8)
        cols = table.select(
            [c for c in ("audio", "id", "n_frames", "n_codebooks", "fps", "cond") if c in table.column_names]
        )
        meta = table.select([c for c in ("vocab_sizes", "model", "sample_rate") if c in table.column_names])
        first = meta.slice(0, 1).to_pylist()[0] if table.num_rows else {}
        if first.get("vocab_sizes") and len(first["vocab_sizes"]) > len(vocab):
            vocab = tuple(first["vocab_sizes"])
        model, sample_rate = model or first.get("model"), sample_rate or first.get("sample_rate")
        prefix = f"tokens/{split}/"
        for i, row in enumerate(cols.select([c for c in cols.column_names if c != "cond"]).to_pylist()):
            if "id" in row:  # embedded with nothing placed: the id is stored
                item_id = str(row["id"])
            else:
                audio = str(row["audio"])
                item_id = os.path.splitext(audio[len(prefix) :] if audio.startswith(prefix) else audio)[0]
            t, k = int(row["n_frames"]), int(row["n_codebooks"])
            rate = rate or float(row["fps"])
            has_cond = "cond" in cols.column_names
            refs.append(SourceRef(item_id, os.fspath(src), split, t, k, t * k * width, has_cond, i, version))
    if not refs:
        raise InputError("the dataset has no rows", src)
    if not vocab and (model or "").startswith("encodec"):
        vocab = (_ENCODEC_VOCAB,) * max(r.n_columns for r in refs)
    ident = _identity(
        info, frame_rate=rate, vocab=vocab or None, codec=model, sample_rate=sample_rate, command=command
    )
    kind: SourceKind = "dataset"
    return Sources(kind, ident, refs, [], tables)


def plan_sources(
    src: str | os.PathLike[str], *, split: str, recursive: bool, command: str, headers: bool = True
) -> Sources:
    """Every item under ``src``, from headers: a token tree or a ``dataset build`` output.

    With ``headers`` off, only the first ``.ecdc`` file's header is read (the
    codec identity) and the others are planned from their sizes: each file is
    then read once, when its shard is written (frames unknown until then:
    ``SourceRef.n_frames`` is -1). ``.npq`` headers (64 bytes, and the
    vocabularies that decide the codes' width) are always read.

    Raises
    ------
    InputError
        If ``src`` is missing or holds no readable token file.
    UsageError
        If it holds both ``.npq`` and ``.ecdc`` files, or files of different codecs.
    """
    path = Path(src)
    if (path / "dataset_dict.json").is_file():
        return _plan_dataset(path, command, headers)
    return _plan_tree(path, split, recursive, command, headers)
