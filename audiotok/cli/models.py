"""`audiotok models`: Codec weights: list known models, fetch them into the cache."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from audiotok.cli._console import console
from audiotok.cli._help import examples
from audiotok.cli._lazy import lazy_import
from audiotok.cli._options import JsonOpt
from audiotok.cli._tables import Col, FitTable

# torch, codecs and datasets load on first use (see cli/_lazy.py); mypy sees the real modules.
if TYPE_CHECKING:
    from audiotok.services import weights as models_service
else:
    models_service = lazy_import("audiotok.services.weights")


models_app = typer.Typer(
    help="Codec weights: list known models, fetch them into the cache.", no_args_is_help=True
)


@models_app.command(
    "list",
    epilog=examples(
        ("Known models, cached or not, and where", "audiotok models list"),
        ("JSON Lines for scripts", "audiotok models list --json"),
    ),
)
def list_(as_json: JsonOpt = False) -> None:
    """Known models (DAC, EnCodec, Mimi, XCodec2, ...): rate (in→out where decoding differs), hop,
    codebooks, licence, whether and where each is cached."""
    infos = models_service.list_models()
    if as_json:
        for info in infos:
            typer.echo(info.model_dump_json())
        return
    table = FitTable(*LIST_COLUMNS)
    for i in infos:
        cached = Text("yes", style="green") if i.cached else "no"
        table.add_row(
            i.name,
            i.alias,
            str(i.sample_rate)
            if i.output_sample_rate == i.sample_rate
            else f"{i.sample_rate}→{i.output_sample_rate}",
            str(i.channels),
            str(i.hop_length),
            f"{i.token_rate:.4f}",
            str(i.n_codebooks),
            i.licence,
            cached,
            _home(i.path),
        )
    console.print(table)


#: ``models list``'s columns; on a narrow terminal the highest ``drop`` go first, the path folds.
LIST_COLUMNS = (
    Col("name"),
    Col("alias", drop=2),
    Col("Hz", drop=3, justify="right"),
    Col("ch", drop=5, justify="right"),
    Col("hop", drop=6, justify="right"),
    Col("fps", drop=4, justify="right"),
    Col("codebooks", justify="right"),
    Col("licence", drop=7),
    Col("cached"),
    Col("path", wrap=True),
)


def _home(path: str) -> str:
    """``path`` with the home folder as ``~`` (shorter on a narrow terminal)."""
    home = os.path.expanduser("~")
    inside = path == home or path.startswith(home.rstrip(os.sep) + os.sep)
    return "~" + path[len(home) :] if inside and home not in ("", os.sep, "~") else path


@models_app.command(
    "fetch",
    epilog=examples(
        ("Download the default 44.1 kHz DAC model, print its sha256", "audiotok models fetch dac-44khz"),
        ("EnCodec 24 kHz, JSON for scripts", "audiotok models fetch encodec-24khz --json"),
    ),
)
def fetch(
    name: Annotated[str, typer.Argument(help="A name or alias of `audiotok models list` (dac-44khz).")],
    as_json: JsonOpt = False,
) -> None:
    """Download a model's weights into its codec's own cache and print their sha256."""
    fetched = models_service.fetch_model(name)
    if as_json:
        typer.echo(fetched.model_dump_json())
    else:
        console.print(
            f"{fetched.name}: {fetched.path}\nsha256 {fetched.sha256}", markup=False, highlight=False
        )
