"""A per-user cache folder for work that is the same on every run: compiled report templates, the
validated built-in rule packs, rendered help screens (cli/help_cache.py) and the claims labels
(claims/table.py); docs/benchmarks.md says what each saves.

What is stored there is loaded as code (marshal, pickle), so the folder must be the user's own and
closed to others: created 0700, and refused (no cache, never an error) when it belongs to someone
else or others may write to it. Every entry is keyed by a hash of what it was made from, so a
changed template, pack or ehrcheck never reads a stale one. `EHRCHECK_CACHE_DIR` moves it;
`EHRCHECK_CACHE_DIR=off` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def cache_dir(kind: str) -> Path | None:
    """The folder for one kind of entry, made if need be; None when there is no safe place."""
    configured = os.environ.get("EHRCHECK_CACHE_DIR", "")
    if configured.lower() == "off" or not hasattr(os, "getuid"):
        return None  # off, or no owner to check (Windows): run without the cache
    if configured:
        root = Path(configured)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(base) / "ehrcheck"
    folder = root / kind
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        for path in (root, folder):  # each checked before anything is made inside it
            path.mkdir(mode=0o700, exist_ok=True)
            info = path.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
                return None  # a symlink, someone else's, or writable by others: never load from it
    except OSError:
        return None  # read-only home, no home at all: run without the cache
    return folder


def fingerprint(*parts: bytes | str) -> str:
    """A short hex key over everything an entry was made from."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:32]


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so a concurrent reader sees the old file or the new, never half of one."""
    import tempfile  # only when writing: a run that reads the cache does without its imports

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
