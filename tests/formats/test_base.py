"""audiotok.formats._base.FrozenModel: the one base of every pydantic model in audiotok."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic import BaseModel, Field, ValidationError

import audiotok
from audiotok.formats._base import FrozenModel


class _Point(FrozenModel):
    x: int = Field(description="x.")


def test_frozen_and_strict() -> None:
    point = _Point(x=1)
    with pytest.raises(ValidationError, match="frozen"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        _Point(x=1, y=2)  # type: ignore[call-arg]


def _models() -> list[type[BaseModel]]:
    for info in pkgutil.walk_packages(audiotok.__path__, "audiotok."):
        if info.name.startswith(("audiotok.cli", "audiotok.__main__")):
            continue  # commands hold no models
        importlib.import_module(info.name)
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("audiotok."):
                seen.append(sub)
    return seen


def test_every_model_of_the_package_derives_from_frozen_model() -> None:
    models = _models()
    assert len(models) > 25  # formats, services and audio models were found
    loose = [f"{m.__module__}.{m.__qualname__}" for m in models if not issubclass(m, FrozenModel)]
    assert loose == []
    assert all(m.model_config.get("frozen") for m in models)
    extra = {m.__qualname__ for m in models if m.model_config.get("extra") != "forbid"}
    assert extra == {"CondMeta", "Norm"}  # the ESF sidecar JSON keeps keys other tools write
