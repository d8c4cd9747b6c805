"""Reading and writing ehrcheck's files: evidence, claims, reports.

Writes are atomic (temp file + rename) so an interrupted run never leaves half a report, and every
read error becomes a `UserInputError` that names the file and, where known, the line or field.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ehrcheck.errors import UserInputError
from ehrcheck.evidence.registry import EvidenceDataError, typed_data
from ehrcheck.files.limits import (
    check_size,
    read_text_capped,
    read_user_json,
    refuse_hazardous_yaml,
    without_lone_surrogates,
)
from ehrcheck.inert import json_text
from ehrcheck.models import EVIDENCE_SCHEMA, EVIDENCE_SCHEMA_VERSION, Evidence


def special_file_kind(path: Path) -> str | None:
    """'character device', 'FIFO'... when `path` (not following a final symlink) is something a
    rename would replace rather than a regular file; None for a regular file, a symlink or nothing."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    for test, kind in (
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return kind
    return None


def write_atomic(path: Path, text: str) -> None:
    kind = special_file_kind(path)
    if kind:  # the CLI refuses these before probing; this keeps every other writer honest
        raise UserInputError(f"{path}: is a {kind}, not a regular file; give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # errors="replace": inputs are cleaned where they are read; this is the last line for text
        # that reached a writer some other way (a lone surrogate would otherwise abort the write)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_output(path: Path, text: str) -> None:
    """`write_atomic` for a file the user asked for (a report, an evidence file, a page), recorded
    so that a re-run knows it as ehrcheck's own while it is unchanged (files/written.py)."""
    from ehrcheck.files.written import remember

    write_atomic(path, text)
    remember([path])


def evidence_text(evidence: Evidence) -> str:
    return json_text(json.dumps(evidence.to_json_dict(), indent=2, ensure_ascii=False)) + "\n"


def load_evidence(path: Path) -> Evidence:
    data = read_user_json(path, str(path), "an evidence file `ehrcheck probe` wrote")
    if not isinstance(data, dict) or data.get("schema") != EVIDENCE_SCHEMA:
        raise UserInputError(f'{path}: not an ehrcheck evidence file (expected "schema": "{EVIDENCE_SCHEMA}")')
    version = data.get("schema_version")
    if version != EVIDENCE_SCHEMA_VERSION:
        raise UserInputError(
            f"{path}: evidence schema_version {version!r} is not supported by this ehrcheck "
            f"(it reads version {EVIDENCE_SCHEMA_VERSION}); re-run `ehrcheck probe` to gather new evidence"
        )
    try:
        evidence = Evidence.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
        raise UserInputError(f"{path}: field '{where}': {first.get('msg')}{more}") from None
    try:
        typed_data(evidence)  # each probe's data against its model, once; the checks reuse it
    except EvidenceDataError as exc:
        more = f" (and {exc.more} more problems)" if exc.more else ""
        raise UserInputError(f"{path}: field '{exc.where}': {exc.message}{more}") from None
    return evidence


def load_claims(path: Path, today: dt.date | None = None) -> dict[str, Any]:
    """Read and validate a vendor claims file (ehrcheck/claims/schema.py) and return the answered
    fields as JSON, as the evidence keeps them. Every problem is reported with its file:line."""
    from ehrcheck.claims.load import ClaimsError, load_claims_file

    check_size(path, "--claims")
    try:
        # Read once, bounded (a device or a pipe has no size to check), and parse that text.
        text = read_text_capped(path, f"--claims {path}")
    except UnicodeDecodeError:
        text = None  # load_claims_file words this problem for the claims file
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read claims file: {exc.strerror or exc}") from None
    try:
        # Claims come back from vendors: refuse YAML aliases and deep nesting (input_limits) first.
        if text is not None:
            refuse_hazardous_yaml(text, str(path))
        return without_lone_surrogates(load_claims_file(path, today or dt.date.today(), text).to_evidence())
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read claims file: {exc.strerror or exc}") from None
    except ClaimsError as exc:
        raise UserInputError(str(exc)) from None
