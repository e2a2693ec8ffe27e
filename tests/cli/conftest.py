"""Fixtures for the CLI tests."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def _restore_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what running the app does to interpreter-wide state.

    ``Typer.__call__`` (used by ``main()``) installs its own ``sys.excepthook``.
    The root callback's ``setup_logging`` replaces the handlers of the
    ``audiotok`` and ``py.warnings`` loggers, stops them propagating (so
    ``caplog`` would no longer see them) and turns on
    ``logging.captureWarnings``; other test folders must not inherit that.
    """
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate)
        for name in ("audiotok", "py.warnings")
        for lg in [logging.getLogger(name)]
    }
    yield
    logging.captureWarnings(False)
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


@pytest.fixture
def runner() -> CliRunner:
    """Typer's runner; ``result.stdout`` and ``result.stderr`` are kept apart."""
    return CliRunner()
