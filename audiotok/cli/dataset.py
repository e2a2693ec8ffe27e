"""`audiotok dataset`: Build Hugging Face datasets from token files and sidecars."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from audiotok.cli._console import console, err_console, progress
from audiotok.cli._groups import SHARD, Shard, grouped
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import JsonOpt, RecursiveOpt, alias, hidden_alias, jobs_option
from audiotok.cli._tables import Col, FitTable
from audiotok.services.dataset.scan import parse_split_map

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok.services.dataset import build as dataset_build
    from audiotok.services.dataset import export as dataset_export
    from audiotok.services.dataset import inspect as dataset_inspect
else:
    dataset_build = lazy_import("audiotok.services.dataset.build")
    dataset_export = lazy_import("audiotok.services.dataset.export")
    dataset_inspect = lazy_import("audiotok.services.dataset.inspect")


dataset_app = typer.Typer(
    help="Build Hugging Face datasets from token files and sidecars.", no_args_is_help=True
)

MATERIALIZE = (
    "Place token files under --tokens-subdir: link (relative symlinks), copy or none. "
    "Default: none when embedding, link with --no-embed."
)
MaterializeOpt = Annotated[str | None, typer.Option("--materialize", help=MATERIALIZE)]


@dataset_app.command(
    "build",
    epilog=examples(
        (
            "ESF codes + sidecars, every row re-read and compared",
            "audiotok dataset build ecdc hf_ds --recursive --verify",
        ),
        (
            "NPQ files, 5 % of them (by path hash) in a 'valid' split",
            "audiotok dataset build npq_out hf_npq -r --valid-fraction 0.05 --seed 0",
        ),
        (
            "Splits from folders inside TOKENS_DIR",
            "audiotok dataset build npq_out hf_npq -r --split-map train=train,valid=dev",
        ),
        (
            "Paths only, token files copied under tokens/",
            "audiotok dataset build ecdc hf_ds -r --no-embed --materialize copy",
        ),
    ),
)
def build(
    tokens_dir: Annotated[Path, typer.Argument(help="Folder of .ecdc (+ sidecars) or .npq files.")],
    out_dir: Annotated[
        Path, typer.Argument(help="Dataset folder (replaced only when the build is complete).")
    ],
    suffix: Annotated[
        str | None, typer.Option(help="Token files: .ecdc or .npq (default: detected).")
    ] = None,
    split: Annotated[str, typer.Option(help="Split name for all files.")] = "train",
    split_map: Annotated[str | None, typer.Option(help="Splits from folders: train=dirA,valid=dirB.")] = None,
    valid_fraction: Annotated[
        float | None, typer.Option(help="Send this fraction of files (by path hash) to the 'valid' split.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --valid-fraction hash.")] = 0,
    recursive: RecursiveOpt = False,
    tokens_subdir: Annotated[str, typer.Option(help="Folder the 'audio' paths point into.")] = "tokens",
    materialize: MaterializeOpt = None,
    embed: Annotated[
        bool, typer.Option("--embed/--no-embed", help="Store codes and conditioning in the rows.")
    ] = True,
    verify: Annotated[bool, typer.Option(help="Re-read every row and compare it with its source.")] = False,
    max_files: Annotated[int | None, typer.Option(help="Use only the first N files.")] = None,
    skip_errors: Annotated[
        bool, typer.Option("--skip-errors", help="Write the dataset without the files that failed.")
    ] = False,
    jobs: Annotated[int, jobs_option("Processes reading token files.")] = 1,
    skip_bad: Annotated[bool | None, hidden_alias("--skip-bad")] = None,
    workers: Annotated[int | None, hidden_alias("--workers")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Package token files (and ESF sidecars) as a Hugging Face DatasetDict."""
    skip_errors = alias(skip_errors, skip_bad, default=False, names=("--skip-errors", "--skip-bad"))
    jobs = alias(jobs, workers, default=1, names=("--jobs", "--workers"))
    with progress("Building", enabled=not as_json) as on_progress:
        result = dataset_build.build_dataset(
            tokens_dir, out_dir, suffix=suffix, split=split,
            split_map=parse_split_map(split_map) if split_map else None,
            valid_fraction=valid_fraction, seed=seed, recursive=recursive, tokens_subdir=tokens_subdir,
            materialize=_materialize(materialize), embed=embed, verify=verify, max_files=max_files,
            skip_bad=skip_errors, workers=jobs, on_progress=on_progress,
        )  # fmt: skip
    for failure in result.failures:
        err_console.print(f"error: {failure.path}: {failure.error}", markup=False, highlight=False)
    if as_json:
        typer.echo(result.model_dump_json())
    elif result.written:
        rows = ", ".join(f"{name}: {n}" for name, n in result.splits.items())
        console.print(f"[green]✓[/] {result.out_dir} ({result.kind}, {rows}; {result.elapsed_s:.1f} s)")
    else:
        err_console.print(
            f"{result.out_dir} left unchanged ({len(result.failures)} failed; see --skip-errors)"
        )
    if result.failures:
        raise typer.Exit(1)


def _materialize(value: str | None) -> Literal["link", "copy", "none"] | None:
    if value is None or value in ("link", "copy", "none"):
        return value  # type: ignore[return-value]
    raise typer.BadParameter(f"must be link, copy or none, not {value!r}", param_hint="--materialize")


@dataset_app.command(
    "inspect",
    epilog=examples(
        ("Splits, rows, frames, hours, K and D", "audiotok dataset inspect hf_ds"),
        ("JSON for scripts", "audiotok dataset inspect hf_ds --json"),
        ("An export: format, codec, items, hours, shards, columns", "audiotok dataset inspect codes_pq"),
        ("Read every item of an export back", "audiotok dataset inspect codes_pq --verify"),
    ),
)
def inspect(
    out_dir: Annotated[
        Path, typer.Argument(help="A dataset folder built by 'dataset build', or a 'dataset export' output.")
    ],
    as_json: JsonOpt = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Exports: read every item back; one line per bad item (exit 1).")
    ] = False,
) -> None:
    """Show splits, rows, columns, codes dtype, total frames and hours, distinct K and D."""
    exported = dataset_inspect.inspect_export(out_dir)
    if exported is not None and verify:
        _verify_export(out_dir, as_json)
        return
    if exported is not None:
        _show_export(exported, as_json)
        return
    if verify:
        raise typer.BadParameter("reads exports back; check a built dataset with 'dataset build --verify'",
                                 param_hint="--verify")  # fmt: skip
    summary = dataset_inspect.inspect_dataset(out_dir)
    if as_json:
        typer.echo(summary.model_dump_json())
        return
    table = FitTable(
        Col("split", wrap=True), Col("rows", justify="right"), Col("layout", drop=3), Col("kind"),
        Col("codes", drop=2), Col("frames", drop=1, justify="right"), Col("hours", justify="right"),
        Col("K"), Col("D"),
    )  # fmt: skip
    for s in summary.splits:
        table.add_row(
            s.name, str(s.rows), s.layout, s.kind or "-", s.codes_dtype or "-",
            "-" if s.total_frames is None else str(s.total_frames),
            "-" if s.hours is None else f"{s.hours:.3f}",
            ",".join(map(str, s.codebooks)) or "-", ",".join(map(str, s.cond_dims)) or "-",
        )  # fmt: skip
    console.print(table)
    for columns in dict.fromkeys(", ".join(s.columns) for s in summary.splits):
        console.print(f"columns: {columns}", highlight=False)
    total = "" if summary.hours is None else f", {summary.total_frames} frames, {summary.hours:.3f} h"
    console.print(f"{summary.path}: {summary.rows} rows{total}")


def _verify_export(out_dir: Path, as_json: bool) -> None:
    from audiotok.services.dataset.verify_export import verify_export

    check = verify_export(out_dir)
    if as_json:
        typer.echo(check.model_dump_json())
    for failure in check.failures:
        err_console.print(f"bad: {failure.path}: {failure.error}", markup=False, highlight=False)
    if not as_json:
        console.print(
            f"{check.path}: {check.format}, {check.items} items read back, {len(check.failures)} bad"
        )
    if check.failures:
        raise typer.Exit(1)


def _show_export(info: dataset_inspect.ExportInfo, as_json: bool) -> None:
    if as_json:
        typer.echo(info.model_dump_json())
        return
    table = FitTable(Col("split", wrap=True), Col("items", justify="right"))
    for name, n in info.splits.items():
        table.add_row(name, str(n))
    console.print(table)
    strides = "" if all(s == 1 for s in info.strides) else f", strides {info.strides}"
    sha = f" (weights {info.weights_sha256[:12]}…)" if info.weights_sha256 else ""
    codec = f"codec: {info.codec or 'unknown'}{sha}, {info.frame_rate:g} rows/s, {info.codes_dtype}{strides}"
    console.print(codec, highlight=False)
    if info.columns:
        console.print(f"columns: {', '.join(info.columns)}", highlight=False)
    failed = f", {info.failed} source files left out" if info.failed else ""
    console.print(
        f"{info.path}: {info.format}, {info.items} items, {info.total_frames} frames, {info.hours:.3f} h, "
        f"{info.shards} shards{failed}"
    )


EXPORT_FORMATS = ("parquet", "shar", "webdataset", "codec-bpe")
SHAR_PRESETS = ("generic", "nemo")


def _command_line(
    src: Path, out: Path, fmt: str, split: str, recursive: bool, max_bytes: int | None, max_items: int | None
) -> str:
    """The export's command line, as the card records it (the options that shape the output)."""
    argv = ["audiotok", "dataset", "export", str(src), str(out), "--format", fmt, "--split", split]
    argv += [] if recursive else ["--no-recursive"]
    argv += ["--max-shard-bytes", str(max_bytes)] if max_bytes else []
    argv += ["--max-shard-items", str(max_items)] if max_items else []
    return shlex.join(argv)


def _format(value: str) -> str:
    if value not in EXPORT_FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(EXPORT_FORMATS)}, not {value!r}")
    return value


def _preset(value: str) -> str:
    if value not in SHAR_PRESETS:
        raise typer.BadParameter(f"must be one of {', '.join(SHAR_PRESETS)}, not {value!r}")
    return value


@dataset_app.command(
    "export",
    epilog=examples(
        (
            "Parquet shards for the Hub (data/train-NNNNN-of-NNNNN.parquet + README.md)",
            "audiotok dataset export npq_out codes_pq --format parquet",
        ),
        (
            "NeMo Magpie-TTS's Shar: target_codes (C, T), speaker and text from a JSON Lines list",
            "audiotok dataset export nano_npq magpie --format shar --preset nemo --from-list items.jsonl",
        ),
        (
            "WebDataset tars of at most 1000 samples",
            "audiotok dataset export ecdc codes_wds --format webdataset --max-shard-items 1000",
        ),
        (
            "Shard 0 of 4 (run 4 of them; the last to finish writes the card)",
            "audiotok dataset export npq_out codes_pq --format parquet --shard-index 0 --shard-count 4",
        ),
    ),
)
@grouped
def export(
    src: Annotated[
        Path, typer.Argument(help="Folder of .npq or .ecdc (+ sidecars) files, or a 'dataset build' folder.")
    ],
    out: Annotated[Path, typer.Argument(help="Output folder (new, empty, or an earlier export: resumed).")],
    format: Annotated[
        str,
        typer.Option("--format", "-f", callback=_format, help="parquet, shar, webdataset or codec-bpe."),
    ],
    split: Annotated[str, typer.Option(help="Split of a token folder's items.")] = "train",
    recursive: Annotated[
        bool, typer.Option("--recursive/--no-recursive", "-r", help="Scan subfolders.")
    ] = True,
    max_shard_bytes: Annotated[
        int | None,
        typer.Option(
            min=1, help="Bytes of codes per shard (default: parquet 500 MB, webdataset and shar 1 GB)."
        ),
    ] = None,
    max_shard_items: Annotated[
        int | None, typer.Option(min=1, help="Items per shard (default: shar 1000, as lhotse).")
    ] = None,
    flatten: Annotated[
        str | None,
        typer.Option(
            help="Add an LM-ready token stream beside the codes: offsets (frame-major, per-codebook "
            "offsets) or orpheus (SNAC 24 kHz's 7-token frames, offset position x 4096)."
        ),
    ] = None,
    preset: Annotated[
        str,
        typer.Option(
            callback=_preset,
            help="shar: generic (codes (T, K), temporal_dim 0) or nemo (NeMo Magpie-TTS: target_codes "
            "(C, T) and its speaker string; needs --from-list).",
        ),
    ] = "generic",
    from_list: Annotated[
        Path | None,
        typer.Option(
            "--from-list",
            help='shar: JSON Lines, one object per item: "path" (its token file, or the audio it was '
            'encoded from), "text", "speaker", "language", "dataset", "audio". Paths relative to the '
            "list's folder.",
            show_default=False,
        ),
    ] = None,
    shard: Shard = SHARD,
    as_json: JsonOpt = False,
) -> None:
    """Export token files as Parquet (Hub), lhotse Shar, WebDataset or codec-bpe shards; resumable, atomic."""
    command = _command_line(src, out, format, split, recursive, max_shard_bytes, max_shard_items)
    command += f" --flatten {flatten}" if flatten else ""
    command += f" --preset {preset}" if preset != "generic" else ""
    command += f" --from-list {shlex.quote(str(from_list))}" if from_list else ""
    with progress("Exporting", enabled=not as_json) as on_progress:
        result = dataset_export.export_dataset(
            src, out, format=format, split=split, recursive=recursive, shard=shard,  # type: ignore[arg-type]
            max_shard_bytes=max_shard_bytes, max_shard_items=max_shard_items,
            flatten=flatten, preset=preset, from_list=from_list,  # type: ignore[arg-type]
            command=command,
            on_progress=on_progress,
        )  # fmt: skip
    for failure in result.failures:
        err_console.print(f"error: {failure.path}: {failure.error}", markup=False, highlight=False)
    for note in [*result.left_out, *result.notes]:
        err_console.print(f"note: {note.path}: {note.error}", markup=False, highlight=False)
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        state = "complete" if result.finished else "waiting for the other shards"
        unit = "files" if result.format == "codec-bpe" else "shards"
        console.print(
            f"[green]✓[/] {result.out_dir} ({result.format}: {result.written} written, {result.skipped} "
            f"skipped, {result.shards_written}/{result.shards} {unit} by this run; {state}; "
            f"{result.elapsed_s:.1f} s)"
        )
    if result.failures:
        raise typer.Exit(1)
