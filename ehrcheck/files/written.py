"""A record of the files ehrcheck wrote, so that a re-run replaces its own output and nothing else.

A file's first bytes say which format it is, not who wrote it: a copy of an ehrcheck report with
the user's notes added starts exactly like the report did. So every report, evidence file and page
a command writes is recorded with its SHA-256 under its absolute path, in the per-user cache folder
(files/cache.py: the user's own, closed to others), and an existing file counts as ehrcheck's own
only while its bytes still hash to what was last recorded for its path. An edited report, a user's
file that imitates one, or a report ehrcheck never wrote on this account (copied from elsewhere, or
written before the record existed) needs --force. With no cache folder at all
(`EHRCHECK_CACHE_DIR=off`, a read-only home) there is no record, and the caller falls back to the
file's head; docs/security.md lists that limit.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

_RECORD = "files.jsonl"
_COMPACT_AT = 1_000_000  # bytes of record before it is rewritten with one line per path
_KEEP = 5_000  # paths kept when compacting (the newest): older outputs then need --force


def _record_file() -> Path | None:
    from ehrcheck.files.cache import cache_dir

    folder = cache_dir("written")
    return None if folder is None else folder / _RECORD


def _key(path: Path) -> str:
    # The folder resolved, the name as given: a symlink in the last place is refused before this.
    return os.path.join(os.path.realpath(path.parent), path.name)


def _digest(path: Path) -> str | None:
    sha = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
    except OSError:
        return None
    return sha.hexdigest()


_read: tuple[tuple[str, int, int], dict[str, str]] | None = None  # the record as last read, by stat


def _entries(record: Path) -> dict[str, str]:
    """The last digest recorded per path (later lines win); damaged lines are skipped. Read once
    per change of the file: an audit asks about each of its outputs in turn."""
    global _read
    try:
        info = record.stat()
    except OSError:
        return {}
    key = (str(record), info.st_mtime_ns, info.st_size)
    if _read is not None and _read[0] == key:
        return _read[1]
    found: dict[str, str] = {}
    try:
        lines = record.read_bytes().splitlines()
    except OSError:
        return found
    try:  # one parse for the whole record; line by line only when a line is damaged
        items = json.loads(b"[" + b",".join(line for line in lines if line.strip()) + b"]")
    except ValueError:
        items = []
        for line in lines:
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("p"), str) and isinstance(item.get("h"), str):
            found.pop(item["p"], None)  # re-inserted last: dict order is recency
            found[item["p"]] = item["h"]
    _read = (key, found)
    return found


def recorded_as_ours(path: Path) -> bool | None:
    """True when `path` holds exactly what ehrcheck last wrote there; False when it does not (or
    nothing was recorded for it); None when there is no record to ask (no cache folder)."""
    record = _record_file()
    if record is None:
        return None
    expected = _entries(record).get(_key(path))
    return expected is not None and expected == _digest(path)


def remember(paths: Iterable[Path]) -> None:
    """Record what was just written to each path. Best effort: without a cache folder, or when the
    record cannot be written, the next run asks for --force rather than guessing."""
    record = _record_file()
    if record is None:
        return
    lines = []
    for path in paths:
        digest = _digest(path)
        if digest is not None:
            lines.append(json.dumps({"p": _key(path), "h": digest}, ensure_ascii=True) + "\n")
    if not lines:
        return
    try:
        # O_APPEND: concurrent runs each add whole lines (each far below PIPE_BUF-sized writes).
        fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="ascii") as fh:
            for line in lines:
                fh.write(line)
        if record.stat().st_size > _COMPACT_AT:
            _compact(record)
    except OSError:
        return


def _compact(record: Path) -> None:
    from ehrcheck.files.cache import write_atomically

    newest = list(_entries(record).items())[-_KEEP:]  # a copy: the cached dict is not changed
    text = "".join(json.dumps({"p": p, "h": h}, ensure_ascii=True) + "\n" for p, h in newest)
    write_atomically(record, text.encode("ascii"))
