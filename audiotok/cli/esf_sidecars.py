"""`audiotok esf init` and `audiotok esf add`: writing ESF conditioning sidecars.

The commands are registered on ``esf_app`` by :func:`register` (called from
``cli/esf.py``); the sidecar options here are shared with ``esf audit``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audiotok.cli._console import console
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import (
    IoThreadsOpt,
    JsonOpt,
    ShardCountOpt,
    ShardIndexOpt,
    SkipErrorsOpt,
    alias,
    hidden_alias,
)
from audiotok.cli._output import Output
from audiotok.errors import UsageError
from audiotok.records import BatchSummary

if TYPE_CHECKING:
    from audiotok.services.esf import producers
    from audiotok.services.esf import sidecars as esf_sidecars
else:
    esf_sidecars = lazy_import("audiotok.services.esf.sidecars")
    producers = lazy_import("audiotok.services.esf.producers")

__all__ = [
    "AudioRootOpt",
    "CondRootOpt",
    "ManifestOpt",
    "SuffixOpt",
    "add",
    "init",
    "register",
    "sidecar_opts",
]

AudioRootOpt = Annotated[Path, typer.Option("--audio-root", help="Folder with the .ecdc files (recursive).")]
CondRootOpt = Annotated[Path | None, typer.Option("--cond-root", help="Mirror sidecars under this folder.")]
SuffixOpt = Annotated[str, typer.Option("--suffix", help="Sidecar suffix before .npy/.json.")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="float16 or float32.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing sidecars.")]
ManifestOpt = Annotated[
    Path | None, typer.Option("--manifest-csv", help="CSV of .ecdc paths (column 'path').")
]


def sidecar_opts(**kw: object) -> esf_sidecars.SidecarOptions:
    """The service's options from the command's, ``--dtype`` checked."""
    if kw["dtype"] not in ("float16", "float32"):
        raise UsageError(f"--dtype must be float16 or float32, not {kw['dtype']}")
    return esf_sidecars.SidecarOptions.model_validate(kw)


def _kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _counts_line(summary: BatchSummary) -> str:
    return f"{summary.files_written} written, {summary.files_skipped} skipped, {summary.files_failed} failed"


def init(
    audio_root: AudioRootOpt,
    cond_root: CondRootOpt = None,
    suffix: SuffixOpt = ".cond",
    dtype: DtypeOpt = "float16",
    overwrite: OverwriteOpt = False,
    manifest_csv: ManifestOpt = None,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    skip_errors: SkipErrorsOpt = False,
    io_threads: IoThreadsOpt = 4,
    jobs: Annotated[int | None, hidden_alias("--jobs", "-j")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create empty [T, 0] sidecars aligned to each .ecdc file."""
    io_threads = alias(
        io_threads, jobs, default=4, names=("--io-threads", "--jobs"),
        why=" here (elsewhere --jobs counts worker processes)",
    )  # fmt: skip
    opts = sidecar_opts(
        audio_root=audio_root, cond_root=cond_root, suffix=suffix, dtype=dtype, overwrite=overwrite,
        manifest_csv=manifest_csv, shard_index=shard_index, shard_count=shard_count, skip_errors=skip_errors,
    )  # fmt: skip
    out = Output(as_json=as_json)
    out.run("Writing sidecars", esf_sidecars.init_paths, opts, jobs=io_threads, line=_counts_line)


def _show_producers(producers_dir: Path | None, name: str | None) -> None:
    infos = producers.list_producers(producers_dir)
    if name is not None:
        infos = [i for i in infos if i.name == name]
        if not infos:
            raise UsageError(f"no producer named {name!r} (see --list-producers)")
    for info in infos:
        if name is None:
            first = (info.doc.splitlines() or [""])[0]
            console.print(f"{info.name:16} {info.source:24} {first}", markup=False, highlight=False)
        else:
            console.print(f"{info.name} ({info.source})\n\n{info.doc}", markup=False, highlight=False)


def add(
    audio_root: AudioRootOpt,
    producer: Annotated[list[str], typer.Option("--producer", "-p", help="Producer name (repeatable).")] = [],  # noqa: B006
    const: Annotated[list[str], typer.Option("--const", help="const producer: name=value.")] = [],  # noqa: B006
    lin: Annotated[list[str], typer.Option("--lin", help="lin producer: name=start:end.")] = [],  # noqa: B006
    filename_regex: Annotated[
        str | None, typer.Option("--filename-regex", help="from_filename regex.")
    ] = None,
    audio_dir: Annotated[Path | None, typer.Option("--audio-dir", help="from_audio: source audio.")] = None,
    opt: Annotated[list[str], typer.Option("--opt", help="Plugin option key=value.")] = [],  # noqa: B006
    producers_dir: Annotated[Path | None, typer.Option("--producers-dir", help="Folder of plugins.")] = None,
    list_producers: Annotated[
        bool, typer.Option("--list-producers", help="List producers and exit.")
    ] = False,
    show_producer: Annotated[
        str | None, typer.Option("--show-producer", help="Describe one producer.")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="append or overwrite.")] = "append",
    create_missing: Annotated[bool, typer.Option("--create-missing", help="Create absent sidecars.")] = False,
    cond_root: CondRootOpt = None,
    suffix: SuffixOpt = ".cond",
    dtype: DtypeOpt = "float16",
    manifest_csv: ManifestOpt = None,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    skip_errors: SkipErrorsOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add feature columns from producers (built-in or plugin .py files: code you choose to run)."""
    if list_producers or show_producer:
        _show_producers(producers_dir, show_producer)
        return
    if mode not in ("append", "overwrite"):
        raise UsageError(f"--mode must be append or overwrite, not {mode}")
    builtin_opts = {
        "const": _kv(const, "--const"), "lin": _kv(lin, "--lin"),
        "from_filename": {"regex": filename_regex or ""},
        "from_audio": {**_kv(opt, "--opt"), "audio_dir": str(audio_dir or ""), "audio_root": str(audio_root)},
    }  # fmt: skip
    chosen = [
        producers.find_producer(name, producers_dir, builtin_opts.get(name, _kv(opt, "--opt")))
        for name in producer
    ]
    opts = sidecar_opts(
        audio_root=audio_root, cond_root=cond_root, suffix=suffix, dtype=dtype,
        manifest_csv=manifest_csv, shard_index=shard_index, shard_count=shard_count, skip_errors=skip_errors,
    )  # fmt: skip
    out = Output(as_json=as_json)
    out.run(
        "Adding features",
        esf_sidecars.add_paths,
        opts,
        chosen,
        mode=mode,
        create_missing=create_missing,
        line=_counts_line,
    )


INIT_EXAMPLES = examples(
    ("Empty sidecars beside every .ecdc file", "audiotok esf init --audio-root ecdc"),
    (
        "float32 sidecars in a mirrored folder of their own",
        "audiotok esf init --audio-root ecdc --cond-root cond --dtype float32",
    ),
)
ADD_EXAMPLES = examples(
    (
        "A constant and a linear ramp per file",
        "audiotok esf add --audio-root ecdc -p const --const scene_id=7 -p lin --lin pos=0:1",
    ),
    (
        "Per-frame loudness (rms_db) from the source audio",
        "audiotok esf add --audio-root ecdc -p from_audio --audio-dir norm",
    ),
    (
        "A plugin from your own folder, with an option",
        "audiotok esf add --audio-root ecdc -p parity --producers-dir ./producers --opt scale=2",
    ),
)


def register(app: typer.Typer) -> None:
    """Add ``init`` and ``add`` to the ``esf`` group, in this order."""
    app.command("init", epilog=INIT_EXAMPLES)(init)
    app.command("add", epilog=ADD_EXAMPLES)(add)
