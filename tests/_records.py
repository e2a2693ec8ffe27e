"""Calling a batch service and keeping what it reports: its records and its summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from audiotok.records import FileRecord

S = TypeVar("S")


def collect(service: Callable[..., S], *args: Any, **kwargs: Any) -> tuple[S, list[FileRecord]]:
    """``service(*args, on_record=..., **kwargs)``: its summary and every record it sent, in order."""
    records: list[FileRecord] = []
    summary = service(*args, on_record=records.append, **kwargs)
    return summary, records


def records_of(service: Callable[..., object], *args: Any, **kwargs: Any) -> list[FileRecord]:
    """The records only (see :func:`collect`)."""
    return collect(service, *args, **kwargs)[1]


def failed(records: list[FileRecord]) -> list[FileRecord]:
    """The failed records."""
    return [r for r in records if r.status == "failed"]
