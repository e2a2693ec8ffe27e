"""Option groups: options several commands share, declared once and taken by a command as one value.

A command names a group as one parameter whose default is the group, and is
decorated with :func:`grouped`::

    @grouped
    def decode(..., compute: Compute = COMPUTE, ..., shard: Shard = SHARD, ..., rays: Rays = RAY) -> None:

Its ``--help`` lists the group's options in that place (``--device``,
``--backend``, ``--precision``, ``--threads`` for :data:`COMPUTE`), and the
command receives their values packed: a :class:`Compute`, a ``(index,
count)`` shard, the :class:`~audiotok.services.engines.ray.RayOptions` (or
``None``) of ``--engine`` and its Ray options. Typer builds a command from
:func:`inspect.signature`, which :func:`grouped` sets (``__signature__``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

import typer

from audiotok.cli._options import (
    BackendOpt,
    DeviceOpt,
    PrecisionOpt,
    ShardCountOpt,
    ShardIndexOpt,
    ThreadsOpt,
    one_of,
)
from audiotok.errors import UsageError

if TYPE_CHECKING:
    from audiotok.services.engines.ray import RayOptions

__all__ = ["COMPUTE", "RAY", "SHARD", "Compute", "Rays", "Shard", "grouped", "option", "ray_options"]

F = TypeVar("F", bound=Callable[..., None])
Shard: TypeAlias = "tuple[int, int]"
Rays: TypeAlias = "RayOptions | None"


@dataclass(frozen=True)
class Compute:
    """Where and how the codec runs: ``--device``, ``--backend``, ``--precision``, ``--threads``."""

    device: str
    backend: str
    precision: str
    threads: int | None


@dataclass(frozen=True)
class OptionGroup:
    """Options declared once: their parameters, and how a command gets their values as one.

    Attributes
    ----------
    params : tuple of inspect.Parameter
        The options, in ``--help`` order (Typer ``Annotated`` types, defaults).
    pack : callable or None
        Every value the command was called with -> the group's value; ``None``
        for one option (:func:`option`), named as its parameter.
    """

    params: tuple[inspect.Parameter, ...]
    pack: Callable[[Mapping[str, Any]], object] | None


def _group(pack: Callable[[Mapping[str, Any]], object], **options: tuple[Any, Any]) -> Any:
    """An :class:`OptionGroup` of ``name=(Annotated type, default)`` options (typed ``Any``: a default)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = tuple(inspect.Parameter(name, kind, annotation=t, default=d) for name, (t, d) in options.items())
    return OptionGroup(params, pack)


def option(annotated: Any, default: Any) -> Any:
    """One option, named as the parameter it is the default of, its value passed as it is.

    For commands made by a function: their annotations cannot name the
    function's arguments (the ``--model`` help of ``decode_command``).
    """
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return OptionGroup((inspect.Parameter("option", kind, annotation=annotated, default=default),), None)


def grouped(command: F) -> F:
    """Let ``command`` take option groups: each parameter whose default is one stands for its options.

    Raises
    ------
    TypeError
        If ``command`` takes :data:`RAY` without :data:`COMPUTE` (the actors' device and threads).
    """
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    packs: dict[str, Callable[[Mapping[str, Any]], object]] = {}
    for param in signature.parameters.values():
        group = param.default
        if not isinstance(group, OptionGroup):
            params.append(param)
        elif group.pack is None:
            params.append(group.params[0].replace(name=param.name))
        else:
            packs[param.name] = group.pack
            params.extend(group.params)
    if ray_options in packs.values() and not {"device", "precision", "threads"} <= {p.name for p in params}:
        raise TypeError(f"{command.__name__}: the Ray options need the compute options")
    expanded = {p.name for p in params} - set(signature.parameters)

    @functools.wraps(command)
    def run(**values: Any) -> None:
        packed = {name: pack(values) for name, pack in packs.items()}
        command(**{k: v for k, v in values.items() if k not in expanded}, **packed)

    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    # what typing.get_type_hints reads (Typer does): the options' types, not the groups' names
    run.__annotations__ = {p.name: p.annotation for p in params} | {"return": signature.return_annotation}
    return run  # type: ignore[return-value]


def ray_options(values: Mapping[str, Any]) -> RayOptions | None:
    """The Ray engine's options for ``--engine ray``; ``None`` for the local engine.

    ``values`` holds the command's Ray options and compute options. Ray itself
    is not imported here (the service does, when it runs).

    Raises
    ------
    UsageError
        If a Ray option is given with ``--engine local``.
    """
    given = {
        "ray_address": values["ray_address"], "worker_count": values["workers"],
        "cpus_per_worker": values["cpus_per_worker"], "gpus_per_worker": values["gpus_per_worker"],
    }  # fmt: skip
    if values["engine"] != "ray":
        named = [name for name, value in given.items() if value is not None]
        if named:
            flags = ", ".join(f"`{name}`" for name in named)
            raise UsageError(f"{flags} only apply with `engine` ray", param=named[0])
        return None
    from audiotok.services.engines.ray import RayOptions

    computed = {name: values[name] for name in ("device", "precision", "threads")}
    return RayOptions(**given, **computed)


COMPUTE: Any = _group(
    lambda v: Compute(v["device"], v["backend"], v["precision"], v["threads"]),
    device=(DeviceOpt, "auto"),
    backend=(BackendOpt, "auto"),
    precision=(PrecisionOpt, "fp32"),
    threads=(ThreadsOpt, None),
)
"""``--device``, ``--backend``, ``--precision``, ``--threads``: a :class:`Compute`."""

SHARD: Any = _group(
    lambda v: (v["shard_index"], v["shard_count"]),
    shard_index=(ShardIndexOpt, 0),
    shard_count=(ShardCountOpt, 1),
)
"""``--shard-index``, ``--shard-count``: ``(index, count)``."""

_RAY_PANEL = "Scale-out (--engine ray)"
ENGINE_NAMES = ("local", "ray")

RAY: Any = _group(
    ray_options,
    engine=(
        Annotated[
            str,
            typer.Option(
                "--engine",
                callback=one_of(ENGINE_NAMES),
                rich_help_panel=_RAY_PANEL,
                help="local: this process. ray: actors on a Ray cluster, one loaded codec each, the same "
                "outputs (needs pip install 'audiotok\\[ray]').",
            ),
        ],
        "local",
    ),
    ray_address=(
        Annotated[
            str | None,
            typer.Option(
                "--ray-address",
                rich_help_panel=_RAY_PANEL,
                show_default=False,
                help="A running Ray cluster (ray://host:10001, host:6379), or auto: the one this machine "
                "belongs to. Default: start a local cluster on this machine (stopped at the end).",
            ),
        ],
        None,
    ),
    workers=(
        Annotated[
            int | None,
            typer.Option(
                "--workers",
                min=1,
                rich_help_panel=_RAY_PANEL,
                show_default=False,
                help="Ray actors, each with one loaded codec. Default: the cluster's GPUs / "
                "--gpus-per-worker, else its CPUs / --cpus-per-worker.",
            ),
        ],
        None,
    ),
    cpus_per_worker=(
        Annotated[
            float | None,
            typer.Option(
                "--cpus-per-worker",
                min=0.01,
                rich_help_panel=_RAY_PANEL,
                show_default=False,
                help="CPUs each actor reserves, also its torch threads (at least 1) unless --threads. "
                "Default: 4, or half the CPUs of the largest node where it has fewer than 8.",
            ),
        ],
        None,
    ),
    gpus_per_worker=(
        Annotated[
            float | None,
            typer.Option(
                "--gpus-per-worker",
                min=0,
                rich_help_panel=_RAY_PANEL,
                show_default=False,
                help="GPUs each actor reserves (fractions share a GPU). Default: 1 if the cluster has GPUs, "
                "else 0.",
            ),
        ],
        None,
    ),
)
"""``--engine`` and the Ray options (their own ``--help`` panel): the run's ``RayOptions``, or ``None``."""
