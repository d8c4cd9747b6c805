"""Reading a scan's results.jsonl back: in list order, and without the unreachable rows when
`--resume --retry-unreachable` audits those endpoints again.

Rows are appended in completion order (whatever finished first), which differs run to run. Reports
show them in list order instead — the order of the de-duplicated list, each row's `index` — by
sorting (index, file offset) pairs and seeking: a few bytes per endpoint, never the rows.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, ValidationError, field_validator, model_validator

from ehrcheck.http.redact import query_pairs, secret_param

NOT_AUDITED = ("unreachable", "error")


def evidence_name(url: str) -> str:
    """The file name a scan gives an endpoint's evidence (and, as .html, its report)."""
    return hashlib.sha256(url.encode()).hexdigest()[:20] + ".json"


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class _ListedBy(_Part):
    name: str | None
    source: str | None


class _Verdict(_Part):
    level: str
    label: str


class _Finding(_Part):
    rule: str
    pack: str
    status: str
    severity: str
    message: str
    waived: str | None = None


class ResultRow(_Part):
    """The shape of a results.jsonl row as `ehrcheck scan` writes it (scan/run.py `summarise`):
    what the overview, the gates, SARIF, JUnit and the history read. A row edited into another
    shape (a `name` missing, `findings: 5`) used to reach the templates and crash them."""

    v: StrictInt | None = None
    index: StrictInt | None = None
    url: str
    name: str | None = None
    source: str | None = None
    outcome: str
    reason: str | None = None
    failure_kind: str | None = None
    evidence_finished_at: str | None = None
    median_ms: StrictFloat | None = None
    duration_ms: StrictFloat | None = None
    listed_by: list[_ListedBy] | None = None
    verdict: _Verdict | None = None
    answers: dict[str, str] | None = None
    # Strict: a number too long for float() parses as its text (files/limits.json_loads), and
    # lax validation accepted that text as a float, which the totals then tried to add.
    score: StrictFloat | None = None
    low: StrictFloat | None = None
    high: StrictFloat | None = None
    packs: dict[str, StrictFloat | None] | None = None
    counts: dict[str, StrictInt] | None = None
    failed: list[str] = []
    statuses: dict[str, list[str]] | None = None
    findings: list[_Finding] = []
    fhir_version: str | None = None
    us_core: list[str] | None = None
    smart: list[str] | None = None
    evidence: str | None = None
    report: str | None = None

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        """ehrcheck drops user-info and token parameters from a list's URLs before a row is
        written; a row that has them was edited, and its URL would reach every report."""
        parts = urlsplit(url)
        if "@" in parts.netloc or any(secret_param(k) for k, _ in query_pairs(parts.query)):
            raise ValueError("a URL with user-info or a token parameter, which ehrcheck never writes")
        return url

    @model_validator(mode="after")
    def _own_files(self) -> ResultRow:
        """`evidence` and `report` become links in index.html and paths the scan reads: only the
        names ehrcheck gives (evidence/<hash>.json, reports/<hash>.html) are accepted, so an edited
        row cannot plant `javascript:` or `../../etc/passwd` there."""
        stem = evidence_name(self.url)[: -len(".json")]
        for field, want in (("evidence", f"evidence/{stem}.json"), ("report", f"reports/{stem}.html")):
            got = getattr(self, field)
            if got is not None and got != want:
                raise ValueError(f"field '{field}': {got!r} is not the file ehrcheck writes for this URL ({want})")
        return self


def row_problem(row: dict[str, Any]) -> str | None:
    """Why `row` is not a row ehrcheck writes (`field 'findings.0.rule': ...`), or None."""
    try:
        ResultRow.model_validate(row)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg")).removeprefix("Value error, ")
        return f"field '{where}': {msg}" if where else msg  # whole-row checks name their field
    return None


def load_line(raw: bytes | str, checked: bool = False) -> Any:
    """One results.jsonl line as JSON, read like any file from outside (files/limits): numbers of
    any size, no nesting past MAX_DEPTH (a RecursionError traceback before), lone surrogates
    replaced (they crashed the SARIF writer; json_loads does it). ValueError for a line that is
    not JSON. `checked`: this very line passed the depth check already (see `_Places`)."""
    from ehrcheck.files.limits import json_loads, text_too_deep, too_deep

    text: str | None = raw if isinstance(raw, str) else None
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # json.loads may still read it (UTF-16, encoded surrogates): the slow path
    if text is not None and text.startswith("\ufeff"):
        text = None  # json.loads skips a UTF-8 BOM in bytes, not in a str: the slow path
    try:
        value = json_loads(raw if text is None else text)
    except RecursionError:
        raise ValueError("nests too deep") from None
    # For text (every row a scan writes) the depth is measured on the line itself, a few regex
    # passes in C instead of walking every finding of the row.
    if not checked and (too_deep(value) if text is None else text_too_deep(text)):
        raise ValueError("nests too deep")
    return value


def parse_row(raw: bytes | str, checked: bool = False) -> dict[str, Any] | None:
    """A row as the readers expect it (every field present, `None` or empty where absent), or
    None for a line that is not a valid row (junk, a torn write, a row of the wrong shape).
    `checked`: this very line was a valid row when read before (see `_Places`): only parsed."""
    try:
        row = load_line(raw, checked)
        if not isinstance(row, dict):
            return None
        if not checked:
            ResultRow.model_validate(row)
    except (ValueError, ValidationError):
        return None
    # The values as written (not as the model would coerce them), with absent fields filled in.
    return {**_ABSENT, **row}


_ABSENT = {
    name: info.get_default(call_default_factory=True) for name, info in ResultRow.model_fields.items() if not info.is_required()
}


def _list_key(row: dict[str, Any]) -> int:
    index = row.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else 1 << 62


def _identity(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


@dataclass
class _Places:
    """What one full pass over a results file learned, for the passes after it in this process
    (`ehrcheck scan` counts the rows, then writes the overview, SARIF and JUnit in list order):
    each valid row's place in list order, and a hash of its line, so that a later pass reads
    each row once, and parses a line it has seen unchanged without checking it again."""

    identity: tuple[int, int, int, int]  # device, inode, size, mtime: another file is not this one
    order: list[tuple[int, int, int, int]]  # (index or big, line number, offset, hash of the line), sorted


_places: _Places | None = None  # the last file read whole; one file's worth (~100 bytes a row)


def _plain(raw: bytes) -> bool:
    """A line any reader splits and decodes alike (text or bytes mode): UTF-8, no carriage
    return, no byte-order mark. Every line `ehrcheck scan` writes is plain."""
    if b"\r" in raw or raw.startswith(b"\xef\xbb\xbf"):
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def iter_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every valid row in file order, skipping any line that is not a row, exactly as reading the
    file as text (UTF-8, invalid bytes replaced, universal newlines) would give them; a complete
    pass over a file of plain lines also remembers each row's place for `iter_in_list_order`."""
    global _places
    identity = _identity(path)
    order: list[tuple[int, int, int, int]] | None = []
    with path.open("rb") as fh:
        offset = 0
        for n, raw in enumerate(fh):
            if _plain(raw):
                row = parse_row(raw)  # the same as the text mode's line: the same row
                if row is not None:
                    if order is not None:
                        order.append((_list_key(row), n, offset, hash(raw)))
                    yield row
            else:  # as text mode reads it: one raw line may be several there (a lone \r ends one)
                order = None
                for line in io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="replace"):
                    row = parse_row(line)
                    if row is not None:
                        yield row
            offset += len(raw)
    if order is not None:
        order.sort()
        _places = _Places(identity, order)


def iter_in_list_order(path: Path) -> Iterator[dict[str, Any]]:
    """Every row, ordered by its position in the list (rows without one, from older scans, last).
    After `iter_rows` read the same file unchanged, its places are used, and a line whose hash is
    the one seen there is parsed without being checked again."""
    places = _places if _places is not None and _places.identity == _identity(path) else None
    if places is not None:
        order = places.order
    else:
        order = []
        with path.open("rb") as fh:
            offset = 0
            for n, raw in enumerate(fh):
                row = parse_row(raw)
                if row is not None:
                    order.append((_list_key(row), n, offset, 0))
                offset += len(raw)
        order.sort()
    with path.open("rb") as fh:
        for _, _, start, seen in order:
            fh.seek(start)
            raw = fh.readline()
            row = parse_row(raw, checked=places is not None and hash(raw) == seen)
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
                row = parse_row(raw)
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
