"""`audiotok esf`: EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from audiotok.cli._console import console, err_console, progress
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import JsonOpt, RecursiveOpt
from audiotok.errors import UsageError
from audiotok.formats.esf import sidecar_paths
from audiotok.services.records import FileFailure

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok import device as device_lib
    from audiotok.services.esf import audit as esf_audit
    from audiotok.services.esf import encode as esf_encode
    from audiotok.services.esf import inspect as esf_inspect
    from audiotok.services.esf import producers
    from audiotok.services.esf import sidecars as esf_sidecars
else:
    device_lib = lazy_import("audiotok.device")
    esf_audit = lazy_import("audiotok.services.esf.audit")
    esf_encode = lazy_import("audiotok.services.esf.encode")
    esf_inspect = lazy_import("audiotok.services.esf.inspect")
    esf_sidecars = lazy_import("audiotok.services.esf.sidecars")
    producers = lazy_import("audiotok.services.esf.producers")


esf_app = typer.Typer(
    help="EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps).",
    no_args_is_help=True,
)

ShardIndexOpt = Annotated[int, typer.Option("--shard-index", help="Process only this shard (0-based).")]
ShardCountOpt = Annotated[int, typer.Option("--shard-count", help="Split the files into this many shards.")]


def _fail(failure: FileFailure, as_json: bool) -> None:
    err_console.print(
        f"error: {failure.path}: {failure.error}", markup=False, highlight=False, soft_wrap=True
    )
    if as_json:
        typer.echo(failure.model_dump_json())


def _suffixes(extensions: str) -> tuple[str, ...]:
    return tuple("." + e.strip().lower().lstrip(".") for e in extensions.split(",") if e.strip())


@esf_app.command(
    "encode",
    epilog=examples(
        (
            "Normalised audio to .ecdc codes, mirrored under ecdc/",
            "audiotok esf encode norm ecdc --recursive",
        ),
        (
            "12 kbps (16 codebooks), then re-read a sample of outputs",
            "audiotok esf encode norm ecdc -r --bandwidth 12 --verify",
        ),
        (
            "Which inputs still lack an output (and orphan outputs)",
            "audiotok esf encode norm ecdc -r --list-missing",
        ),
    ),
)
def encode(
    src: Annotated[str, typer.Argument(help="Audio file, folder or quoted glob.")],
    out: Annotated[
        Path | None, typer.Argument(help="Output folder (mirrors the input tree); default: beside.")
    ] = None,
    codec: Annotated[str, typer.Option("--codec", help="encodec_24khz or encodec_48khz.")] = "encodec_24khz",
    model: Annotated[
        Path | None, typer.Option("--model", help="State-dict file instead of the cache.")
    ] = None,
    bandwidth: Annotated[float, typer.Option("--bandwidth", "-b", help="kbps: 1.5, 3, 6, 12 or 24.")] = 6.0,
    recursive: RecursiveOpt = False,
    extensions: Annotated[str, typer.Option("--extensions", help="Audio suffixes.")] = "wav,flac,ogg,mp3",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Re-encode existing outputs.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be encoded.")] = False,
    list_missing: Annotated[
        bool, typer.Option("--list-missing", help="List missing outputs, orphans.")
    ] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-read a sample of outputs afterwards.")] = False,
    verify_samples: Annotated[int, typer.Option("--verify-samples", help="Files to verify.")] = 8,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Chunks per forward pass.")] = 1,
    chunk_seconds: Annotated[
        float, typer.Option("--chunk-seconds", min=1.0, help="Chunk length (s).")
    ] = 30.0,
    context_seconds: Annotated[float, typer.Option("--context-seconds", min=0.0, help="Context (s).")] = 1.0,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    as_json: JsonOpt = False,
) -> None:
    """Encode audio to EnCodec .ecdc codes (75 fps; resumable, atomic)."""
    exts = _suffixes(extensions)
    if list_missing:
        report = esf_encode.list_missing([src], outdir=out, recursive=recursive, suffixes=exts)
        if as_json:
            typer.echo(report.model_dump_json())
        else:
            for p in report.missing:
                console.print(f"missing {p}", markup=False, highlight=False)
            for p in report.orphans:
                console.print(f"orphan  {p}", markup=False, highlight=False)
            console.print(f"{len(report.missing)} missing, {len(report.orphans)} orphans")
        raise typer.Exit(1 if report.missing else 0)

    load = esf_encode.ModelLoader(
        codec, path=model, device=device_lib.select_device(device), bandwidth=bandwidth
    )
    written: list[str] = []
    counts = {"encoded": 0, "skipped": 0, "planned": 0, "failed": 0}
    with progress("Encoding", enabled=not as_json) as on_progress:
        for r in esf_encode.encode_paths(
            [src], outdir=out, load=load, recursive=recursive, suffixes=exts, overwrite=overwrite,
            dry_run=dry_run, shard_index=shard_index, shard_count=shard_count, chunk_s=chunk_seconds,
            context_s=context_seconds, batch_size=batch_size, on_progress=on_progress,
        ):  # fmt: skip
            if isinstance(r, FileFailure):
                counts["failed"] += 1
                _fail(r, as_json)
                continue
            counts[r.status] += 1
            if r.status != "planned":
                written.append(r.dst)
            if as_json:
                typer.echo(r.model_dump_json())
            elif r.status != "skipped":
                console.print(f"{r.status:8} {r.src} -> {r.dst}", markup=False, highlight=False)
    if verify and written and not dry_run:
        for v in esf_encode.verify_outputs(written, load.model, samples=verify_samples):
            counts["failed"] += not v.ok
            if as_json:
                typer.echo(v.model_dump_json())
            elif not v.ok:
                err_console.print(f"error: {v.path}: verify: {v.detail}", markup=False, highlight=False)
    if not as_json:
        console.print(", ".join(f"{v} {k}" for k, v in counts.items() if v or k == "failed"))
    if counts["failed"]:
        raise typer.Exit(1)


# -- sidecars -----------------------------------------------------------------------------

AudioRootOpt = Annotated[Path, typer.Option("--audio-root", help="Folder with the .ecdc files (recursive).")]
CondRootOpt = Annotated[Path | None, typer.Option("--cond-root", help="Mirror sidecars under this folder.")]
SuffixOpt = Annotated[str, typer.Option("--suffix", help="Sidecar suffix before .npy/.json.")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="float16 or float32.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing sidecars.")]
ManifestOpt = Annotated[
    Path | None, typer.Option("--manifest-csv", help="CSV of .ecdc paths (column 'path').")
]
SkipErrorsOpt = Annotated[bool, typer.Option("--skip-errors", help="Report failing files and go on.")]


def _sidecar_opts(**kw: object) -> esf_sidecars.SidecarOptions:
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


def _report_sidecars(results: Iterable[esf_sidecars.SidecarResult | FileFailure], as_json: bool) -> None:
    counts = {"written": 0, "skipped": 0, "failed": 0}
    for r in results:
        if isinstance(r, FileFailure):
            counts["failed"] += 1
            _fail(r, as_json)
            continue
        counts[r.status] += 1
        if as_json:
            typer.echo(r.model_dump_json())
    if not as_json:
        console.print(", ".join(f"{v} {k}" for k, v in counts.items()))
    if counts["failed"]:
        raise typer.Exit(1)


@esf_app.command(
    "init",
    epilog=examples(
        ("Empty sidecars beside every .ecdc file", "audiotok esf init --audio-root ecdc"),
        (
            "float32 sidecars in a mirrored folder of their own",
            "audiotok esf init --audio-root ecdc --cond-root cond --dtype float32",
        ),
    ),
)
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
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Threads (file system waits).")] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Create empty [T, 0] sidecars aligned to each .ecdc file."""
    opts = _sidecar_opts(
        audio_root=audio_root, cond_root=cond_root, suffix=suffix, dtype=dtype, overwrite=overwrite,
        manifest_csv=manifest_csv, shard_index=shard_index, shard_count=shard_count, skip_errors=skip_errors,
    )  # fmt: skip
    _report_sidecars(esf_sidecars.init_paths(opts, jobs=jobs), as_json)


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


@esf_app.command(
    "add",
    epilog=examples(
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
    ),
)
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
    opts = _sidecar_opts(
        audio_root=audio_root, cond_root=cond_root, suffix=suffix, dtype=dtype,
        manifest_csv=manifest_csv, shard_index=shard_index, shard_count=shard_count, skip_errors=skip_errors,
    )  # fmt: skip
    _report_sidecars(
        esf_sidecars.add_paths(opts, chosen, mode=mode, create_missing=create_missing),  # type: ignore[arg-type]
        as_json,
    )


def _csv_list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@esf_app.command(
    "audit",
    epilog=examples(
        ("Check every triplet, list the broken ones", "audiotok esf audit --audio-root ecdc"),
        (
            "Require features and check their ranges, 4 processes",
            "audiotok esf audit --audio-root ecdc --require pos,scene_id --verify-ranges -j 4",
        ),
        (
            "Every issue to a CSV, never failing",
            "audiotok esf audit --audio-root ecdc --export-csv issues.csv --fail-on none",
        ),
    ),
)
def audit(
    audio_root: AudioRootOpt,
    require: Annotated[str | None, typer.Option("--require", help="Comma-separated feature names.")] = None,
    expect_fps: Annotated[float | None, typer.Option("--expect-fps", help="Default: the codes' fps.")] = None,
    expect_dtype: Annotated[str | None, typer.Option("--expect-dtype", help="float16 or float32.")] = None,
    verify_ranges: Annotated[bool, typer.Option("--verify-ranges", help="Check data against norm.")] = False,
    range_tol: Annotated[float, typer.Option("--range-tol", help="Range check tolerance.")] = 1e-3,
    list_n: Annotated[str, typer.Option("--list", help="Broken files to list: N or all.")] = "20",
    export_csv: Annotated[
        Path | None,
        typer.Option("--export-csv", help="Write every issue to a CSV: type,rel_ecdc,rel_cond,detail,path."),
    ] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="any, none, or issue types (comma).")] = "any",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    cond_root: CondRootOpt = None,
    suffix: SuffixOpt = ".cond",
    manifest_csv: ManifestOpt = None,
    shard_index: ShardIndexOpt = 0,
    shard_count: ShardCountOpt = 1,
    as_json: JsonOpt = False,
) -> None:
    """Check every .ecdc + sidecar triplet; list broken ones; exit 1 on --fail-on issues."""
    fails = _csv_list(fail_on)
    unknown = set(fails) - set(esf_audit.ISSUE_TYPES) - {"any", "none"}
    if expect_dtype not in (None, "float16", "float32"):
        raise UsageError(f"--expect-dtype must be float16 or float32, not {expect_dtype}")
    if unknown or not (list_n == "all" or list_n.isdigit()):
        raise UsageError(f"bad --fail-on {sorted(unknown)} or --list {list_n!r}")
    sidecars = _sidecar_opts(
        audio_root=audio_root, cond_root=cond_root, suffix=suffix, dtype="float16",
        manifest_csv=manifest_csv, shard_index=shard_index, shard_count=shard_count,
    )  # fmt: skip
    opts = esf_audit.AuditOptions(
        require=_csv_list(require), expect_fps=expect_fps, expect_dtype=expect_dtype,
        verify_ranges=verify_ranges, range_tol=range_tol,
    )  # fmt: skip
    with progress("Auditing", enabled=not as_json) as on_progress:
        items = list(esf_audit.audit_paths(sidecars, opts, jobs=jobs, on_progress=on_progress))
    summary = esf_audit.summarize(items)
    if export_csv is not None:
        esf_audit.export_csv(items, export_csv, sidecars)
    if as_json:
        for item in items:
            typer.echo(item.model_dump_json())
        typer.echo(summary.model_dump_json())
    else:
        _render_audit(items, summary, None if list_n == "all" else int(list_n))
    if esf_audit.failing(items, fails):
        raise typer.Exit(1)


def _render_audit(
    items: list[esf_audit.AuditItem], summary: esf_audit.AuditSummary, limit: int | None
) -> None:
    broken = [i for i in items if i.issues]
    for item in broken[:limit]:
        for issue in item.issues:
            console.print(f"{issue.type:22} {item.path}: {issue.detail}", markup=False, highlight=False)
    if limit is not None and len(broken) > limit:
        console.print(f"... {len(broken) - limit} more broken files (--list all)")
    table = Table("issue", "files")
    for name, count in summary.issues.items():
        table.add_row(name, str(count))
    if summary.issues:
        console.print(table)
    console.print(f"{summary.files} files: {summary.ok} ok, {summary.broken} with issues")


@esf_app.command(
    "inspect",
    epilog=examples(
        ("Codes and sidecar: names, shapes, per-column stats", "audiotok esf inspect ecdc/a/take1.ecdc"),
        (
            "Plot codes above the conditioning curves",
            "audiotok esf inspect ecdc/a/take1.ecdc --plot item.png",
        ),
        ("JSON for scripts", "audiotok esf inspect ecdc/a/take1.ecdc --json"),
    ),
)
def inspect(
    codes: Annotated[Path, typer.Argument(help="An .ecdc file.")],
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG: codes above the curves.")] = None,
    audio_root: Annotated[Path | None, typer.Option("--audio-root", help="With --cond-root.")] = None,
    cond_root: CondRootOpt = None,
    suffix: SuffixOpt = ".cond",
    as_json: JsonOpt = False,
) -> None:
    """Show an .ecdc file and its sidecar (names, shapes, per-column stats)."""
    npy, js = sidecar_paths(codes, audio_root=audio_root, cond_root=cond_root, suffix=suffix)
    result = esf_inspect.inspect_triplet(codes, npy, js)
    if plot is not None:
        esf_inspect.plot_triplet(codes, npy, js, plot)
    if as_json:
        typer.echo(result.model_dump_json())
        return
    c = result.codes
    console.print(
        f"{result.path}: {c.n_codebooks} codebooks x {c.n_frames} frames @ {c.fps:g} fps "
        f"({c.duration_s:.2f} s), model {c.model}, {c.bandwidth} kbps",
        markup=False, highlight=False,
    )  # fmt: skip
    if result.sidecar_error:
        err_console.print(f"error: {result.sidecar_error}", markup=False, highlight=False)
        raise typer.Exit(1)
    console.print(f"sidecar {result.cond_shape} {result.cond_dtype} @ {result.fps:g} fps", highlight=False)
    table = Table("column", "min", "max", "mean", "units")
    for col in result.columns:
        table.add_row(
            col.name, *(f"{v:.4g}" if v is not None else "-" for v in (col.min, col.max, col.mean)), col.units
        )
    if result.columns:
        console.print(table)
    if plot is not None:
        console.print(f"plot written to {plot}", markup=False, highlight=False)
