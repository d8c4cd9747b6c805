"""A progress bar on stderr for the long authenticated probes (US Core searches, bulk export).

It is the `progress` callable the probes report to (see probes/progress.py) and a context
manager the CLI holds open while the probes run, in place of the plain spinner.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ehrcheck.inert import terminal


class ProbeProgress:
    def __init__(self, console: Console):
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[probe]:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProbeProgress:
        self._progress.start()
        self._tasks["probes"] = self._progress.add_task("metadata, SMART, access control, TLS …", total=None, probe="probing")
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, task: str, completed: int, total: int | None, note: str) -> None:
        if task not in self._tasks:
            self._tasks[task] = self._progress.add_task(terminal(note), total=total, probe=terminal(task))
        # Notes quote server text (an X-Progress header, a manifest's file type): inert
        self._progress.update(self._tasks[task], completed=completed, total=total, description=terminal(note))
