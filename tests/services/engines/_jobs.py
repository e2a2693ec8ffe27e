"""A :class:`~audiotok.services.engines.ray.RemoteJob` wrapper that kills its actor (Ray tests).

A module of its own, so that Ray's actors import it without the test module.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiotok.records import FileRecord
from audiotok.services.plan import PlanItem


@dataclass(frozen=True)
class CrashOn:
    """``job``, except that the file named ``name`` kills the actor's process, every time.

    Before dying, the attempt leaves a mark in ``marks`` (to count attempts)
    and a half-written temporary file beside the output, as the atomic writer
    would when killed mid-write.
    """

    job: Any
    name: str
    marks: str

    def setup(self, device: Any) -> Any:
        return self.job.setup(device)

    def work(self, state: Any, item: PlanItem) -> FileRecord:
        if item.path.name == self.name:
            n = len(list(Path(self.marks).iterdir()))
            (Path(self.marks) / f"attempt{n}-pid{os.getpid()}").touch()
            item.dst.parent.mkdir(parents=True, exist_ok=True)
            (item.dst.parent / f".{item.dst.name}.{n:012x}.tmp").write_bytes(b"torn")
            os.kill(os.getpid(), signal.SIGKILL)
        record: FileRecord = self.job.work(state, item)
        return record

    def describe(self, state: Any) -> dict[str, Any]:
        desc: dict[str, Any] = self.job.describe(state)
        return desc
