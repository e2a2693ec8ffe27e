"""The ``Examples`` section that ends each working command's ``--help``."""

from __future__ import annotations

from rich.markup import escape


def examples(*items: tuple[str, str]) -> str:
    """An ``epilog=`` for ``@app.command``: 2-4 ``(what it does, command line)`` pairs.

    Rendered by Typer's rich help as::

        Examples:
          What it does:
            audiotok group command ARGS

    The text is escaped, so ``[`` and friends show verbatim. The leading
    newline keeps the indentation: Typer dedents the epilog
    (``inspect.cleandoc``), and the unindented ``Examples:`` line is then the
    margin.

    Raises
    ------
    ValueError
        With fewer than 2 or more than 4 examples (a bug in the command's definition).
    """
    if not 2 <= len(items) <= 4:
        raise ValueError(f"a command's help shows 2-4 examples, not {len(items)}")
    lines = ["", "Examples:"]
    for what, command in items:
        lines += [f"  {what}:", f"    {command}"]
    return escape("\n".join(lines))
