"""Option groups (``cli/_groups.py``): one parameter in the code, its options on the command line."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from audiotok.cli._groups import COMPUTE, RAY, SHARD, Compute, Rays, Shard, grouped, option
from audiotok.cli._options import JsonOpt

runner = CliRunner()


def _app(command: Any) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)  # two commands: the first is called by name
    return app


def test_a_group_is_its_options_in_its_place_and_one_value_in_the_command() -> None:
    seen: dict[str, Any] = {}

    @grouped
    def run(
        name: Annotated[str, typer.Argument()],
        compute: Compute = COMPUTE,
        shard: Shard = SHARD,
        as_json: JsonOpt = False,
        rays: Rays = RAY,
    ) -> None:
        seen.update(name=name, compute=compute, shard=shard, as_json=as_json, rays=rays)

    names = list(inspect.signature(run).parameters)
    assert names == [
        "name", "device", "backend", "precision", "threads", "shard_index", "shard_count", "as_json",
        "engine", "ray_address", "workers", "cpus_per_worker", "gpus_per_worker",
    ]  # fmt: skip
    args = ["run", "x", "--device", "cpu", "--threads", "2", "--shard-index", "1", "--shard-count", "3"]
    result = runner.invoke(_app(run), args)
    assert result.exit_code == 0, result.output
    assert seen == {
        "name": "x", "compute": Compute("cpu", "auto", "fp32", 2), "shard": (1, 3), "as_json": False,
        "rays": None,
    }  # fmt: skip


def test_ray_options_pack_into_ray_options_with_the_compute_options() -> None:
    seen: list[Any] = []

    @grouped
    def run(compute: Compute = COMPUTE, rays: Rays = RAY) -> None:
        seen.append(rays)

    args = ["run", "--engine", "ray", "--workers", "2", "--device", "cuda", "--threads", "3"]
    assert runner.invoke(_app(run), args).exit_code == 0
    (rays,) = seen
    assert (rays.worker_count, rays.device, rays.threads, rays.precision) == (2, "cuda", 3, "fp32")


def test_a_single_option_takes_the_name_of_its_parameter() -> None:
    seen: list[Any] = []

    @grouped
    def run(
        model: str | None = option(Annotated[str | None, typer.Option("--model", help="M.")], None),
    ) -> None:
        seen.append(model)

    assert list(inspect.signature(run).parameters) == ["model"]
    assert runner.invoke(_app(run), ["run", "--model", "m"]).exit_code == 0
    assert seen == ["m"]


def test_ray_without_compute_is_refused() -> None:
    def run(rays: Rays = RAY) -> None: ...

    with pytest.raises(TypeError, match="compute options"):
        grouped(run)
