"""`audiotok esf`: EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audiotok.cli import esf_sidecars
from audiotok.cli._compute import local_device
from audiotok.cli._console import console, err_console, progress
from audiotok.cli._groups import COMPUTE, RAY, SHARD, Compute, Rays, Shard, grouped
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_imports
from audiotok.cli._options import (
    ExtensionsOpt,
    FromListOpt,
    JsonOpt,
    OutdirOpt,
    RecursiveOpt,
    ShardCountOpt,
    ShardIndexOpt,
    SrcArg,
    inputs_of,
    jobs_option,
    model_option,
    outdir_of,
    suffixes_of,
)
from audiotok.cli._output import Output
from audiotok.cli._tables import Col, FitTable
from audiotok.cli.esf_sidecars import AudioRootOpt, CondRootOpt, ManifestOpt, SuffixOpt, sidecar_opts
from audiotok.errors import UsageError
from audiotok.formats.esf import sidecar_paths
from audiotok.paths import FileList
from audiotok.records import FileRecord

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok.services.esf import audit as esf_audit
    from audiotok.services.esf import encode as esf_encode
    from audiotok.services.esf import inspect as esf_inspect
else:
    esf_audit, esf_encode, esf_inspect = lazy_imports("audiotok.services.esf", "audit", "encode", "inspect")


esf_app = typer.Typer(
    help="EnCodec codes (.ecdc) with frame-aligned conditioning sidecars (ESF v1, 75 fps).",
    no_args_is_help=True,
)

#: The word for a record's status in ``esf encode``'s lines and counts.
_VERBS = {"written": "encoded", "skipped": "skipped", "planned": "planned", "failed": "failed"}


def _encoded(record: FileRecord) -> str | None:
    if record.status == "skipped":
        return None
    return f"{_VERBS[record.status]:8} {record.input} -> {record.output}"


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
@grouped
def encode(
    src: SrcArg = None,
    out: Annotated[
        Path | None, typer.Argument(help="Output folder (mirrors the input tree), or -o; default: beside.")
    ] = None,
    outdir: OutdirOpt = None,
    model: Annotated[
        str | None,
        model_option("EnCodec model (encodec_24khz, encodec_48khz) or a state-dict file; default: --codec."),
    ] = None,
    codec: Annotated[
        str | None, typer.Option("--codec", help="Architecture of a --model file (default encodec_24khz).")
    ] = None,
    bandwidth: Annotated[float, typer.Option("--bandwidth", "-b", help="kbps: 1.5, 3, 6, 12 or 24.")] = 6.0,
    recursive: RecursiveOpt = False,
    extensions: ExtensionsOpt = "wav,flac,ogg,mp3",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Re-encode existing outputs.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be encoded.")] = False,
    list_missing: Annotated[
        bool, typer.Option("--list-missing", help="List missing outputs, orphans.")
    ] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-read a sample of outputs afterwards.")] = False,
    verify_samples: Annotated[int, typer.Option("--verify-samples", help="Files to verify.")] = 8,
    compute: Compute = COMPUTE,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Chunks per forward pass.")] = 1,
    chunk_seconds: Annotated[
        float, typer.Option("--chunk-seconds", min=1.0, help="Chunk length (s).")
    ] = 30.0,
    context_seconds: Annotated[float, typer.Option("--context-seconds", min=0.0, help="Context (s).")] = 1.0,
    shard: Shard = SHARD,
    as_json: JsonOpt = False,
    from_list: FromListOpt = None,
    rays: Rays = RAY,
) -> None:
    """Encode audio to EnCodec .ecdc codes (75 fps; resumable, atomic)."""
    exts, folder = suffixes_of(extensions), outdir_of(out, outdir)
    inputs = inputs_of(None if src is None else [src], from_list)
    if list_missing:
        _list_missing(inputs, folder, recursive=recursive, suffixes=exts, as_json=as_json)
    written: list[str] = []

    def keep(record: FileRecord) -> None:
        if record.status in ("written", "skipped") and record.output is not None:
            written.append(record.output)
        sink.record(record)

    sink = Output(as_json=as_json, human=_encoded)
    with local_device(compute, rays) as dev:  # Ray (dev None): each actor picks its own device
        load = esf_encode.ModelLoader.from_option(
            model, architecture=codec, device=dev or "cpu", bandwidth=bandwidth, backend=compute.backend
        )
        with progress("Encoding", enabled=not as_json) as on_progress:
            summary = esf_encode.encode_paths(
                inputs, outdir=folder, load=load, recursive=recursive, suffixes=exts, overwrite=overwrite,
                dry_run=dry_run, shard=shard, chunk_s=chunk_seconds, context_s=context_seconds,
                batch_size=batch_size, engine=rays, on_record=keep, on_progress=on_progress,
            )  # fmt: skip
    bad = 0
    if verify and written and not dry_run:
        for v in esf_encode.verify_outputs(written, load.for_checks(), samples=verify_samples):
            bad += not v.ok
            sink.json(v)
            if not v.ok:
                sink.error(v.path, f"verify: {v.detail}")
    counts = {"encoded": summary.files_written, "skipped": summary.files_skipped}
    counts |= {"planned": summary.files_planned, "failed": summary.files_failed + bad}
    sink.summary(summary, ", ".join(f"{v} {k}" for k, v in counts.items() if v or k == "failed"))
    if counts["failed"]:
        raise typer.Exit(1)


def _list_missing(
    inputs: list[str | FileList],
    outdir: Path | None,
    *,
    recursive: bool,
    suffixes: tuple[str, ...],
    as_json: bool,
) -> None:
    """``--list-missing``: print the report, exit 1 if any input lacks its output."""
    report = esf_encode.list_missing(inputs, outdir=outdir, recursive=recursive, suffixes=suffixes)
    if as_json:
        typer.echo(report.model_dump_json())
    else:
        for p in report.missing:
            console.print(f"missing {p}", markup=False, highlight=False)
        for p in report.orphans:
            console.print(f"orphan  {p}", markup=False, highlight=False)
        console.print(f"{len(report.missing)} missing, {len(report.orphans)} orphans")
    raise typer.Exit(1 if report.missing else 0)


esf_sidecars.register(esf_app)


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
    jobs: Annotated[int, jobs_option("Worker processes.")] = 1,
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
    sidecars = sidecar_opts(
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
    items: list[esf_audit.AuditRecord], summary: esf_audit.AuditSummary, limit: int | None
) -> None:
    broken = [i for i in items if i.issues]
    for item in broken[:limit]:
        for issue in item.issues:
            console.print(f"{issue.type:22} {item.path}: {issue.detail}", markup=False, highlight=False)
    if limit is not None and len(broken) > limit:
        console.print(f"... {len(broken) - limit} more broken files (--list all)")
    table = FitTable(Col("issue", wrap=True), Col("files", justify="right"))
    for name, count in summary.issues.items():
        table.add_row(name, str(count))
    if summary.issues:
        console.print(table)
    console.print(f"{summary.files} files checked: {summary.ok} ok, {summary.broken} with issues")


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
    table = FitTable(
        Col("column", wrap=True), Col("min", justify="right"), Col("max", justify="right"),
        Col("mean", justify="right"), Col("units", drop=1),
    )  # fmt: skip
    for col in result.columns:
        table.add_row(
            col.name, *(f"{v:.4g}" if v is not None else "-" for v in (col.min, col.max, col.mean)), col.units
        )
    if result.columns:
        console.print(table)
    if plot is not None:
        console.print(f"plot written to {plot}", markup=False, highlight=False)
