"""How long-running probes tell the CLI where they are, without knowing about terminals.

The CLI puts a callable in `ctx.settings["progress"]`; probes call `progress(ctx)` to get it, or a
no-op when nobody is watching (tests, `-q`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# progress(task, completed, total, note): `task` is the probe id; total None means "not known yet".
ProgressFn = Callable[[str, int, "int | None", str], None]


def _quiet(task: str, completed: int, total: int | None, note: str) -> None:
    return None


def progress_of(settings: dict[str, Any]) -> ProgressFn:
    fn = settings.get("progress")
    return fn if callable(fn) else _quiet
