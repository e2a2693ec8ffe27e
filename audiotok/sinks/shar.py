"""``--format shar``: lhotse Shar, ``cuts.NNNNNN.jsonl.gz`` + one ``<field>.NNNNNN.tar`` per field.

What ``lhotse.CutSet.from_shar(in_dir=OUT)`` reads, and NeMo's
``MagpieTTSLhotseDataset`` through ``shar_path: OUT``. Shard ``N`` is
``cuts.N.jsonl.gz`` (one ``MonoCut`` per line) plus, per field, ``<field>.N.tar``
holding ``<cut_id>.npy`` (``np.save``, no pickle) then ``<cut_id>.json`` (its
lhotse manifest, storage left to the reader), cut by cut in the same order.

Presets (``--preset``):

``generic`` (default)
    ``codes``: ``(T, K)`` as a ``TemporalArray`` with ``temporal_dim=0`` and
    ``frame_shift = hop / sample_rate`` (``1 / fps``): lhotse's partial loads
    (``truncate``, ``cut_into_windows``) slice axis 0 whatever ``temporal_dim``
    says, so only time-major codes survive them. A layout with strides (SNAC)
    gets one field per level instead, ``codes_<k>`` of ``T_k`` codes with its own
    frame shift (never flattened). ``cond``: ESF conditioning ``(T, D)``
    float32, ``temporal_dim=0``. ``tokens``: with ``--flatten``, the LM-ready
    int32 stream as an ``Array`` (no time axis).
``nemo``
    NeMo Magpie-TTS's names and layout: ``target_codes`` ``(C, T)``,
    ``temporal_dim=-1`` (NeMo loads the whole array:
    ``cut.target_codes.load()``), ``cond`` as above; and every cut has a
    supervision whose ``speaker`` is ``"| Language:xx Dataset:… Speaker:… |"``
    (NeMo raises ``ValueError`` on any other) and whose ``text`` is the
    transcript. No ``context_codes``: NeMo's context is optional.

Every cut's ``custom`` holds ``codec`` (the codec identity,
:class:`~audiotok.sinks.shards.ShardIdentity`), ``source`` (the token file)
and ``n_frames``. With a ``--from-list`` manifest (:class:`ItemMeta`) a cut
also gets a supervision (text, speaker, language) and, when the source audio
and the codec's sample rate are known, a ``Recording`` pointing at the audio
(not copied; ``num_samples`` from the audio's duration), which lhotse's
``cut.truncate`` needs. A cut's ``duration`` is the span of its codes, ``T x
frame_shift`` (the last frame covers padding past the audio's end; never
less than the audio): lhotse loads ``round(duration / frame_shift)`` rows of
a cut's arrays, so ``cut.load_custom`` returns all ``T``.

Nothing else is in the folder: ``from_shar(in_dir=...)`` takes every entry of
it, hidden ones too, for a field and fails on any other file (an
``audiotok.json`` gave ``AssertionError: Expected 2 shards available for field
'audiotok'``). The receipts and the index are kept beside it, in
``OUT.audiotok/`` (:meth:`SharSink.state_for`); the index there is written last.

Written with :mod:`tarfile`, :mod:`gzip` and :mod:`json` into the temporary
files the shard core commits (:mod:`audiotok.sinks.shards`), the field tars
first and ``cuts`` last: lhotse's ``SharWriter`` opens and names its files
itself, and ``lhotse`` imports torch, which ``dataset export`` does not need;
lhotse is only needed to read. Headers are fixed (gzip mtime 0, tar mtime 0,
mode 0444), so a rewritten shard is byte for byte the same.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from audiotok.errors import UsageError
from audiotok.sinks.shards import ShardIdentity, ShardItem, ShardLimits, ShardSink, ShardWriter

__all__ = ["PRESETS", "ItemMeta", "SharPreset", "SharSink", "nemo_speaker"]

SharPreset = Literal["generic", "nemo"]
PRESETS: tuple[SharPreset, ...] = ("generic", "nemo")
_SHARD = re.compile(r"(?:cuts\.\d{6}\.jsonl\.gz|(?:codes(?:_\d+)?|target_codes|cond|tokens)\.\d{6}\.tar)")
NEMO_SPEAKER = re.compile(r"\| Language:\w+ Dataset:[\w\d\W]+ Speaker:[\w\d\W]+ \|")
"""The speaker string ``MagpieTTSLhotseDataset`` requires (its own regular expression)."""
_LANGUAGE = re.compile(r"\w+")


@dataclass(frozen=True)
class ItemMeta:
    """What a ``--from-list`` manifest says of one item.

    Attributes
    ----------
    text, speaker, language, dataset : str or None
        The transcript, speaker, language code (``en``) and dataset name.
    audio : str or None
        The source audio (absolute), for the cut's ``Recording``.
    """

    text: str | None = None
    speaker: str | None = None
    language: str | None = None
    dataset: str | None = None
    audio: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """As a JSON object (a changed manifest changes the item's fingerprint)."""
        return {
            "text": self.text, "speaker": self.speaker, "language": self.language,
            "dataset": self.dataset, "audio": self.audio,
        }  # fmt: skip


def nemo_speaker(meta: ItemMeta, dataset: str) -> tuple[str, list[str]]:
    """NeMo's speaker string for ``meta``, and the fields filled in by default (``dataset``: the fallback).

    A missing language is ``en`` (NeMo's own default), a missing dataset
    ``dataset``, a missing speaker ``unknown``. Whitespace in the dataset name
    becomes ``_``: NeMo reads it back as ``speaker.split()[2]`` after ``Dataset:``.

    Raises
    ------
    UsageError
        If the language has characters other than letters, digits and ``_``
        (NeMo's ``Language:\\w+``).
    """
    defaulted = [name for name in ("language", "dataset", "speaker") if not getattr(meta, name)]
    language = meta.language or "en"
    if _LANGUAGE.fullmatch(language) is None:
        raise UsageError(f"language {language!r} is not a NeMo language code (letters, digits, _)")
    corpus = re.sub(r"\s+", "_", (meta.dataset or dataset).strip())
    speaker = f"| Language:{language} Dataset:{corpus} Speaker:{meta.speaker or 'unknown'} |"
    return speaker, defaulted


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _manifest(shape: Sequence[int], *, frame_shift: float | None, temporal_dim: int) -> dict[str, Any]:
    """A lhotse ``TemporalArray`` (``Array`` without ``frame_shift``) whose storage the reader fills in."""
    array = {"storage_type": "shar", "storage_path": "", "storage_key": "", "shape": [int(n) for n in shape]}
    if frame_shift is None:
        return array
    return {"array": array, "temporal_dim": temporal_dim, "frame_shift": frame_shift, "start": 0}


def _finest_shift(ident: ShardIdentity) -> float:
    """Seconds between the finest frames: ``hop / sample_rate`` when the identity is known."""
    if ident.info is not None:
        return ident.info.hop_length / ident.info.sample_rate
    return 1.0 / (ident.frame_rate * max(ident.strides, default=1))


class _Writer(ShardWriter):
    def __init__(self, sink: SharSink, handles: Sequence[IO[bytes]]) -> None:
        self.sink = sink
        *tars, cuts = handles
        self.tars = {
            name: tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT)
            for name, fh in zip(sink.fields, tars, strict=True)
        }
        self.cuts = gzip.GzipFile(filename="", mode="wb", fileobj=cuts, mtime=0)

    def _member(self, field: str, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o444
        self.tars[field].addfile(info, io.BytesIO(data))

    def _array(
        self, field: str, key: str, array: np.ndarray[Any, Any], *, frame_shift: float | None, dim: int
    ) -> dict[str, Any]:
        manifest = _manifest(array.shape, frame_shift=frame_shift, temporal_dim=dim)
        self._member(field, f"{key}.npy", _npy(array))
        self._member(field, f"{key}.json", json.dumps(manifest).encode())
        return manifest

    def add(self, item: ShardItem) -> None:
        sink, ident = self.sink, self.sink.identity
        dtype = ident.codes_dtype
        finest = _finest_shift(ident)
        shift = finest * max(ident.strides, default=1)  # one row of codes
        custom: dict[str, Any] = {}
        data = item.codes.data
        if isinstance(data, tuple):
            for k, level in enumerate(data):
                level_shift = finest * ident.strides[k]
                custom[f"codes_{k}"] = self._array(
                    f"codes_{k}", item.key, level.astype(dtype), frame_shift=level_shift, dim=0
                )
        elif sink.preset == "nemo":
            codes = data.astype(dtype).T  # (C, T)
            custom["target_codes"] = self._array("target_codes", item.key, codes, frame_shift=shift, dim=-1)
        else:
            custom["codes"] = self._array("codes", item.key, data.astype(dtype), frame_shift=shift, dim=0)
        if sink.has_cond:
            if item.cond is None:  # lhotse's placeholder pair for a cut without the field
                self._member("cond", f"{item.key}.nodata", b"")
                self._member("cond", f"{item.key}.nometa", b"")
            else:
                cond = item.cond.astype(np.float32)
                custom["cond"] = self._array("cond", item.key, cond, frame_shift=shift, dim=0)
                custom["cond_names"] = list(item.cond_names)
        tokens = sink.tokens(item)
        if tokens is not None:
            custom["tokens"] = self._array("tokens", item.key, tokens, frame_shift=None, dim=0)
        custom.update(codec=ident.to_json(), source=item.source, n_frames=item.n_frames)
        # lhotse loads round(duration / frame_shift) rows of a cut's arrays: the cut spans every row of
        # codes (the last one covers padding past the audio's end), so load_custom returns all T.
        span = max(item.duration_s, item.n_frames * shift)
        cut: dict[str, Any] = {
            "id": item.key, "start": 0, "duration": span, "channel": 0,
            "supervisions": self._supervisions(item, span), "custom": custom,
        }  # fmt: skip
        recording = self._recording(item)
        if recording is not None:
            cut["recording"] = recording
        cut["type"] = "MonoCut"
        self.cuts.write((json.dumps(cut, ensure_ascii=False) + "\n").encode())

    def _supervisions(self, item: ShardItem, span: float) -> list[dict[str, Any]]:
        sink = self.sink
        meta = sink.meta.get(item.id)
        if sink.preset != "nemo" and (meta is None or not (meta.text or meta.speaker or meta.language)):
            return []
        meta = meta or ItemMeta()
        sup: dict[str, Any] = {
            "id": item.key, "recording_id": item.key, "start": 0, "duration": span, "channel": 0,
        }  # fmt: skip
        if meta.text is not None:
            sup["text"] = meta.text
        if meta.language:
            sup["language"] = meta.language
        if sink.preset == "nemo":
            sup["speaker"] = nemo_speaker(meta, sink.dataset)[0]
        elif meta.speaker:
            sup["speaker"] = meta.speaker
        return [sup]

    def _recording(self, item: ShardItem) -> dict[str, Any] | None:
        meta = self.sink.meta.get(item.id)
        rate = self.sink.identity.sample_rate
        if meta is None or meta.audio is None or not rate:
            return None
        n = round(item.duration_s * rate)
        return {
            "id": item.key, "sources": [{"type": "file", "channels": [0], "source": meta.audio}],
            "sampling_rate": rate, "num_samples": n, "duration": n / rate, "channel_ids": [0],
        }  # fmt: skip

    def close(self) -> None:
        for tar in self.tars.values():
            tar.close()  # the end-of-archive blocks; the file handles stay the core's
        self.cuts.close()


class SharSink(ShardSink):
    """lhotse Shar shards (see the module docstring)."""

    name = "shar"
    default_limits = ShardLimits(max_bytes=1_000_000_000, max_items=1000)
    state_beside = True

    def __init__(
        self,
        out: Path,
        identity: ShardIdentity,
        *,
        has_cond: bool,
        flatten: str | None = None,
        preset: SharPreset = "generic",
        meta: Mapping[str, ItemMeta] | None = None,
        dataset: str = "audiotok",
    ) -> None:
        super().__init__(out, identity, has_cond=has_cond, flatten=flatten)
        self.preset = preset
        #: per item id, what ``--from-list`` says of it
        self.meta: Mapping[str, ItemMeta] = meta or {}
        #: NeMo's ``Dataset:`` for items whose manifest names none
        self.dataset = dataset

    @property
    def fields(self) -> list[str]:
        """The tar fields of every shard, in the order they are written."""
        if not self.identity.rectangular:
            fields = [f"codes_{k}" for k in range(len(self.identity.strides))]
        else:
            fields = ["target_codes" if self.preset == "nemo" else "codes"]
        fields += ["cond"] if self.has_cond else []
        fields += ["tokens"] if self.flatten is not None else []
        return fields

    def context(self) -> dict[str, Any]:
        """The preset and NeMo's fallback dataset name shape every shard."""
        return {"preset": self.preset, "dataset": self.dataset}

    def shard_name(self, split: str, index: int, count: int) -> str:
        """``cuts.NNNNNN.jsonl.gz`` (a Shar folder holds one split)."""
        return f"cuts.{index:06d}.jsonl.gz"

    def companions(self, name: str) -> tuple[str, ...]:
        """``<field>.NNNNNN.tar`` of every field, written and moved before the cuts."""
        number = name.split(".")[1]
        return tuple(f"{field}.{number}.tar" for field in self.fields)

    @staticmethod
    def is_shard(relative: str) -> bool:
        """Whether a path below the output is one of this format's files."""
        return _SHARD.fullmatch(relative) is not None

    def open_files(self, handles: Sequence[IO[bytes]]) -> ShardWriter:
        """A writer of the field tars and the cuts (``handles`` in :attr:`fields` order, cuts last)."""
        return _Writer(self, handles)

    def finish(self, index: dict[str, Any]) -> None:
        """Nothing: the index (in ``OUT.audiotok/``) is the last file; the folder holds shards only."""
