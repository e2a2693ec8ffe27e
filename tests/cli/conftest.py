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
    The root callback puts back the ``audiotok`` logger (and the warning
    filters) itself when the command ends, as ``tests/cli/test_diagnostics.py``
    checks; the logger is restored here too, so a failing test cannot leak it.
    """
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    logger = logging.getLogger("audiotok")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture
def runner() -> CliRunner:
    """Typer's runner; ``result.stdout`` and ``result.stderr`` are kept apart."""
    return CliRunner()
