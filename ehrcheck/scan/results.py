"""Reading a scan's results.jsonl back: in list order, and without the unreachable rows when
`--resume --retry-unreachable` audits those endpoints again.

Rows are appended in completion order (whatever finished first), which differs run to run. Reports
show them in list order instead — the order of the de-duplicated list, each row's `index` — by
sorting (index, file offset) pairs and seeking: a few bytes per endpoint, never the rows.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NOT_AUDITED = ("unreachable", "error")


def _row(raw: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(raw)
    except ValueError:
        return None
    return row if isinstance(row, dict) and "url" in row else None


def iter_in_list_order(path: Path) -> Iterator[dict[str, Any]]:
    """Every row, ordered by its position in the list (rows without one, from older scans, last)."""
    order: list[tuple[int, int, int]] = []  # (index or big, offset, length)
    with path.open("rb") as fh:
        offset = 0
        for n, raw in enumerate(fh):
            row = _row(raw)
            if row is not None:
                index = row.get("index")
                key = index if isinstance(index, int) and not isinstance(index, bool) else 1 << 62
                order.append((key, n, offset))
            offset += len(raw)
        order.sort()
        for _, _, start in order:
            fh.seek(start)
            row = _row(fh.readline())
            if row is not None:
                yield row


def drop_not_audited(path: Path) -> int:
    """Rewrite results.jsonl without its unreachable and audit-error rows (atomically: a crash
    leaves the old file); returns how many were dropped, so --resume audits them again."""
    if not path.exists():
        return 0
    dropped = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as fh:
            for raw in fh:
                row = _row(raw)
                if row is not None and row.get("outcome") in NOT_AUDITED and raw.endswith(b"\n"):
                    dropped += 1
                    continue
                out.write(raw)
        if dropped:
            os.replace(tmp, path)
        else:
            Path(tmp).unlink()
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dropped
