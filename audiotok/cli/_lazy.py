"""Import heavy modules on first use, so ``audiotok --help`` and ``npq inspect`` start fast.

The CLI wires every command group at start-up; importing their services
eagerly would import torch, descript-audio-codec, encodec and datasets (about
2.5 s) even for commands that need none of them. A :class:`LazyModule` stands
in for the module and imports it (through the normal, thread-safe import
system) the first time one of its attributes is read.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """A stand-in for module ``name`` that imports it on first attribute access."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(object.__getattribute__(self, "_name")), attr)

    def __repr__(self) -> str:
        return f"<lazy module {object.__getattribute__(self, '_name')!r}>"


def lazy_import(name: str) -> Any:
    """Return a :class:`LazyModule` for ``name``."""
    return LazyModule(name)


def lazy_imports(package: str, *names: str) -> tuple[Any, ...]:
    """A :class:`LazyModule` for each module ``package.name``, in the order of ``names``."""
    return tuple(LazyModule(f"{package}.{name}") for name in names)
