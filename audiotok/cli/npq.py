"""`audiotok npq`: DAC RVQ token files (.npq)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from audiotok.cli._console import console, err_console, progress
from audiotok.cli._options import InputsArg, JsonOpt, RecursiveOpt
from audiotok.services import npq as npq_service
from audiotok.services._common import FileFailure

npq_app = typer.Typer(help="DAC RVQ token files (.npq): encode, decode, inspect.", no_args_is_help=True)


def _vocab(sizes: list[int]) -> str:
    return f"{sizes[0]}" if len(set(sizes)) == 1 else ",".join(map(str, sizes))


def report_failure(failure: FileFailure) -> None:
    """One line on stderr for a file that failed."""
    err_console.print(
        f"error: {failure.path}: {failure.error}", markup=False, highlight=False, soft_wrap=True
    )


@npq_app.command("inspect")
def inspect(
    inputs: InputsArg,
    recursive: RecursiveOpt = False,
    as_json: JsonOpt = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Also read the payload and check every token's range.")
    ] = False,
) -> None:
    """Show the header of .npq files (NPQ1, NPQ2, legacy v0); exit 1 if any is bad."""
    table = Table(
        "file", "format", "mode", "K", "fps", "T", "duration (s)", "vocab", "dtype", "bytes", "kbps"
    )
    failed = 0
    with progress("Inspecting", enabled=not as_json) as on_progress:
        for result in npq_service.inspect_paths(
            inputs, recursive=recursive, verify=verify, on_progress=on_progress
        ):
            if isinstance(result, FileFailure):
                failed += 1
                report_failure(result)
                if as_json:
                    typer.echo(result.model_dump_json())
                continue
            if as_json:
                typer.echo(result.model_dump_json())
                continue
            fmt = result.format if result.version is None else f"{result.format} v{result.version}"
            if result.layout:
                fmt += f" ({result.layout})"
            k = f"{result.k_mid}+{result.k_side}" if result.k_mid is not None else str(result.n_codebooks)
            table.add_row(
                result.path,
                fmt,
                result.mode,
                k,
                f"{result.token_rate:.4f}",
                str(result.seq_len),
                f"{result.duration_s:.2f}",
                _vocab(result.vocab_sizes),
                result.dtype,
                str(result.bytes),
                f"{result.orig_bitrate_kbps:.1f}",
            )
    if not as_json and table.row_count:
        console.print(table)
    if failed:
        raise typer.Exit(1)
