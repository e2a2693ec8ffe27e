"""Tables that stay readable on a narrow terminal (80 columns) instead of cutting cells to ``exa…``.

A :class:`FitTable` collects rows of text and lays itself out when printed,
for the width it is printed at:

1. every column at its natural width, if the table fits;
2. else the columns of least value (highest :attr:`Col.drop`) are left out,
   one at a time, until the rest fits with the one :attr:`Col.wrap` column
   (file names, paths) at least :data:`WRAP_MIN` wide; that column folds a
   longer value onto more lines, never cutting it;
3. a table of one row that would lose a column is shown vertically instead,
   one ``field  value`` line per column, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Column, Table
from rich.text import Text

__all__ = ["WRAP_MIN", "Col", "FitTable"]

WRAP_MIN = 40
"""Narrowest the wrap column is squeezed to before columns are dropped (a longer value folds)."""


@dataclass(frozen=True)
class Col:
    """One column of a :class:`FitTable`.

    Attributes
    ----------
    header : str
    drop : int
        0: always shown. Otherwise, when the table is too wide, the column
        with the highest ``drop`` goes first.
    justify : {"left", "right"}
    wrap : bool
        The column that takes the width left over and folds long values
        (at most one per table).
    """

    header: str
    drop: int = 0
    justify: Literal["left", "right"] = "left"
    wrap: bool = False


def _overhead(columns: int) -> int:
    """Cells a boxed table spends around ``columns`` columns: one border each plus one, padding 1 + 1."""
    return 3 * columns + 1


class FitTable:
    """Rows of text cells that fit the console when printed (see the module docstring).

    Parameters
    ----------
    *columns : Col
    """

    def __init__(self, *columns: Col) -> None:
        if sum(c.wrap for c in columns) > 1:
            raise ValueError("at most one wrap column")
        self.columns = columns
        self.rows: list[tuple[Text, ...]] = []

    @property
    def row_count(self) -> int:
        """Rows added so far."""
        return len(self.rows)

    def add_row(self, *cells: str | Text) -> None:
        """Add a row, one cell per column: plain text (never markup: names may hold ``[``) or a Text."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(tuple(c if isinstance(c, Text) else Text(c) for c in cells))

    def _natural(self, i: int) -> int:
        lines = (line for row in self.rows for line in row[i].plain.splitlines())
        return max([cell_len(self.columns[i].header), *map(cell_len, lines)])

    def kept(self, width: int) -> list[int]:
        """The columns shown at ``width`` cells, in order (a multi-row layout)."""
        natural = [self._natural(i) for i in range(len(self.columns))]
        keep = list(range(len(self.columns)))

        def needed() -> int:
            return _overhead(len(keep)) + sum(
                min(natural[i], WRAP_MIN) if self.columns[i].wrap else natural[i] for i in keep
            )

        for i in sorted(keep, key=lambda i: -self.columns[i].drop):
            if needed() <= width or not self.columns[i].drop:
                break
            keep.remove(i)
        return keep

    def layout(self, width: int) -> Table:
        """The rich table for ``width`` cells."""
        keep = self.kept(width)
        if len(self.rows) == 1 and len(keep) < len(self.columns):
            return self._vertical()
        natural = {i: self._natural(i) for i in keep}
        rest = width - _overhead(len(keep)) - sum(n for i, n in natural.items() if not self.columns[i].wrap)
        table = Table(*(self._column(self.columns[i], min(natural[i], max(rest, 8))) for i in keep))
        for row in self.rows:
            table.add_row(*(row[i] for i in keep))
        return table

    def _column(self, col: Col, room: int) -> Column:
        """``room``: cells the wrap column can have (at most its natural width)."""
        if col.wrap:
            return Column(col.header, justify=col.justify, overflow="fold", min_width=min(room, WRAP_MIN))
        return Column(col.header, justify=col.justify, no_wrap=True)

    def _vertical(self) -> Table:
        grid = Table.grid(Column(no_wrap=True, style="bold"), Column(overflow="fold"), padding=(0, 2))
        for col, cell in zip(self.columns, self.rows[0], strict=True):
            grid.add_row(col.header, cell)
        return grid

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Lay out for the width being printed at."""
        yield self.layout(options.max_width)
