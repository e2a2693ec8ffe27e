"""Dependencies point one way: ``cli -> services -> sinks / codecs / formats / audio`` (GUIDE, "Layout").

Every module of ``audiotok/`` is parsed, not imported, and each of its imports
(at module level, inside a function, under ``TYPE_CHECKING``, or a string
given to ``lazy_import`` / ``importlib.import_module``) is checked against
:data:`MAY_IMPORT`. ruff bans ``typer``, ``rich``, ``click`` and
``audiotok.cli`` outside the CLI (``pyproject.toml``); this test holds the rest
of the table, which ruff's per-rule ignores cannot express.

The CLI also uses only public names of the layers below it: no module or
name starting with ``_`` (``audiotok.services.dataset._swap``, ``build._rows``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audiotok"

MAY_IMPORT: dict[str, frozenset[str]] = {
    "cli": frozenset({"services", "sinks", "codecs", "formats", "audio", "data", "core"}),
    "services": frozenset({"sinks", "codecs", "formats", "audio", "core"}),
    "sinks": frozenset({"formats", "audio", "core"}),
    "codecs": frozenset({"audio", "core"}),
    "data": frozenset({"formats", "core"}),
    "audio": frozenset({"core"}),
    "formats": frozenset({"core"}),
    "core": frozenset(),
}
"""Per layer, the other layers its modules may import (each may import itself).

``core`` is the top-level modules (``errors``, ``tokens``, ``records``,
``device``, ``paths``, ``_fsio``, ...) and ``formats._base`` (``FrozenModel``,
the base of every model).
"""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("audiotok.sinks.hf", "audiotok.services.dataset.build"): (
        "the hf sink composes `dataset build`, run at commit (a lazy import)"
    ),
}
"""``(importer, imported): reason``: the only imports against :data:`MAY_IMPORT`."""

CORE_IN_SUBPACKAGES = ("audiotok.formats._base",)


def layer_of(module: str) -> str:
    """The layer of ``audiotok.x.y``: its first component's package, or ``core``."""
    if module in CORE_IN_SUBPACKAGES:
        return "core"
    parts = module.split(".")
    if len(parts) == 1:
        return "core"
    if parts[1] == "__main__":
        return "cli"  # the entry point, ``python -m audiotok``
    return parts[1] if parts[1] in MAY_IMPORT else "core"


def module_name(path: Path) -> str:
    """``audiotok/sinks/hf.py`` -> ``audiotok.sinks.hf``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str, source: str, is_package: bool = False) -> Iterator[tuple[int, str, str]]:
    """``(line, imported module, imported name or "")`` for every ``audiotok`` import in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                # `from audiotok.services import decode` imports the module audiotok.services.decode
                yield (node.lineno, sub, "") if sub in MODULES else (node.lineno, base, alias.name)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name in ("lazy_import", "import_module") and args:
                yield node.lineno, args[0], ""
            elif name == "lazy_imports":  # lazy_imports("audiotok.services.npq", "convert", ...)
                yield from ((node.lineno, f"{args[0]}.{sub}", "") for sub in args[1:])


def layer_violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Each import of ``module`` that points up or sideways against :data:`MAY_IMPORT`."""
    own = layer_of(module)
    found: dict[str, None] = {}  # once per line and module, in order
    for line, target, _ in imports_of(module, source, is_package):
        if target != "audiotok" and not target.startswith("audiotok."):
            continue
        theirs = layer_of(target)
        if theirs == own or theirs in MAY_IMPORT[own] or (module, target) in EXCEPTIONS:
            continue
        found[f"{module}:{line} ({own}) imports {target} ({theirs})"] = None
    return list(found)


def private_names(module: str, source: str, is_package: bool = False) -> list[str]:
    """Private (``_x``) modules or names of other layers that a CLI module uses."""
    found = []
    bound: set[str] = set()  # local names of modules from outside the CLI
    tree = ast.parse(source)
    for line, target, name in imports_of(module, source, is_package):
        if not target.startswith("audiotok.") or layer_of(target) == "cli":
            continue
        private = [p for p in [*target.split("."), name] if p.startswith("_") and not p.startswith("__")]
        if private:
            found.append(f"{module}:{line} imports {target} {name}".rstrip())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node)
            bound.update(a.asname or a.name for a in node.names if f"{base}.{a.name}" in MODULES)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if getattr(func, "id", "") in ("lazy_import", "lazy_imports"):
                targets = [e for t in node.targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
                bound.update(t.id for t in targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def _source(module: str) -> tuple[str, bool]:
    path = MODULES[module]
    return path.read_text(encoding="utf-8"), path.name == "__init__.py"


def test_the_package_is_found() -> None:
    assert {"audiotok.cli.app", "audiotok.services.runner", "audiotok.sinks.hf"} <= set(MODULES)


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_imports_point_down(layer: str) -> None:
    found = [
        v
        for module in MODULES
        if layer_of(module) == layer
        for v in layer_violations(module, *_source(module))
    ]
    assert not found, "imports against the layering (tests/test_layering.py):\n" + "\n".join(found)


def test_every_exception_is_still_needed() -> None:
    for importer, target in EXCEPTIONS:
        source, is_package = _source(importer)
        assert target in {t for _, t, _ in imports_of(importer, source, is_package)}, (importer, target)


def test_the_cli_uses_only_public_names_below_it() -> None:
    found = [v for m in MODULES if layer_of(m) == "cli" for v in private_names(m, *_source(m))]
    assert not found, "private names used by the CLI:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("audiotok.sinks.npq", "from audiotok.services.records import FileRecord\n"),
        ("audiotok.sinks.npq", "def f():\n    from audiotok.services import runner\n"),
        ("audiotok.formats.npq.header", "from audiotok.codecs import registry\n"),
        ("audiotok.codecs.batch", "from ..sinks import base\n"),
        ("audiotok.data.npq", "import audiotok.services.npq.inspect\n"),
        ("audiotok.errors", "from audiotok import audio\n"),
        ("audiotok.services.runner", "x = lazy_import('audiotok.cli.app')\n"),
        ("audiotok.sinks.npq", "x, y = lazy_imports('audiotok.services', 'runner', 'plan')\n"),
        ("audiotok.sinks.hf", "from audiotok.services.dataset._swap import is_dataset_dir\n"),
    ],
)
def test_an_import_against_the_layering_is_found(module: str, source: str) -> None:
    assert layer_violations(module, source)


@pytest.mark.parametrize(
    "source",
    [
        "from audiotok.services.dataset._swap import Staging\n",
        "from audiotok.services.npq.inspect import _header\n",
        "from audiotok.services import decode\nx = decode._plan\n",
        "svc = lazy_import('audiotok.services.decode')\ndef f():\n    return svc._plan()\n",
        "a, b = lazy_imports('audiotok.services.npq', 'encode', 'decode')\nx = b._plan\n",
    ],
)
def test_a_private_name_in_the_cli_is_found(source: str) -> None:
    assert private_names("audiotok.cli.npq", source)
