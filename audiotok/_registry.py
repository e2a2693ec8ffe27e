"""Registries of named plugins: codec families (:mod:`audiotok.codecs.plugin`), token sinks (``sinks``).

A plugin registers itself when its module is imported (a class decorator
calls :meth:`Registry.add`). :meth:`Registry.all` imports the built-in
modules and the entry point group once, and lists the built-in plugins
first, in the order of their modules, whatever was imported first.
"""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")
C = TypeVar("C", bound=type)


def _class(item: object) -> type:
    return item if isinstance(item, type) else type(item)


class Registry(Generic[T]):
    """Plugins by name: classes or instances of a class (compared, ordered, by that class).

    Parameters
    ----------
    what : str
        What a plugin is, for messages (``sink``, ``codec family``).
    builtin : tuple of str
        The modules of the built-in plugins.
    group : str
        The entry point group of other distributions' plugins (``audiotok.sinks``).
    """

    def __init__(self, what: str, builtin: tuple[str, ...], group: str) -> None:
        self.what = what
        self.builtin = builtin
        self.group = group
        self._items: dict[str, T] = {}
        self._loaded = False

    def add(self, name: str, cls: C, item: T, attribute: str) -> C:
        """Register ``item`` (``cls`` or an instance of it) as ``name``, and set ``cls.<attribute>`` to it.

        Again is fine (a module imported twice). Returns ``cls``: class decorators end with this.

        Raises
        ------
        ValueError
            If a plugin of another class has that name.
        """
        known = self._items.get(name)
        if known is not None and _class(known) is not cls:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        setattr(cls, attribute, name)
        self._items[name] = item
        return cls

    def all(self) -> dict[str, T]:
        """Every plugin by name: the built-in ones, then those of the entry point group."""
        if not self._loaded:
            self._loaded = True
            for module in self.builtin:
                importlib.import_module(module)
            from importlib.metadata import entry_points  # only now: start-up stays short

            for ep in entry_points(group=self.group):
                ep.load()
        builtin = [(n, i) for m in self.builtin for n, i in self._items.items() if _class(i).__module__ == m]
        return dict([*builtin, *self._items.items()])
