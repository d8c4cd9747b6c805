"""Endpoint lists for `ehrcheck scan`: a FHIR Endpoint Bundle, a CSV, or a text file of URLs.

- Bundle: the service-base-URL format of 45 CFR 170.404(b)(2) (HTI-1: Endpoint resources, with
  Organization resources that point at them), and the vendor style that puts the Organization
  inside each Endpoint as a contained resource (Epic's published R4 list). Endpoints whose
  connectionType is not hl7-fhir-rest, or whose status is off / entered-in-error, are skipped
  and counted.
- CSV: a header row naming the URL column (url, address, base_url, endpoint, fhir_url, ...) and,
  optionally, a name column (name, organization, ...); without a header, the first cell that is
  a URL.
- Text: one URL per line; blank lines and `#` comments are ignored.

URLs are normalised (scheme and host lower-cased, default port, fragment, trailing slash and a
trailing /metadata dropped) and de-duplicated: the first listing is audited, and `check_list`
keeps every organisation that lists a duplicated address so the results can name them all.
Each endpoint carries its position in the de-duplicated list (`index`), which orders reports. Lines that are not http(s) URLs
become warnings naming file and line; a list with no usable URL at all is an error. Text and CSV
are read line by line; a Bundle is one JSON document and is parsed whole, but only
(url, name, place) triples are kept from it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ehrcheck.errors import UserInputError
from ehrcheck.files.limits import MAX_DEPTH, json_loads, too_deep
from ehrcheck.http.redact import redact_url_text, secret_param

URL_COLUMNS = (
    "url",
    "address",
    "base_url",
    "baseurl",
    "service_base_url",
    "fhir_base_url",
    "fhir_url",
    "endpoint",
    "endpoint_url",
    "fhir_endpoint",
)
NAME_COLUMNS = ("name", "organization", "organization_name", "org", "org_name", "label", "vendor", "product")
SKIP_STATUS = ("off", "entered-in-error")
FHIR_REST = "hl7-fhir-rest"
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_NAME = re.compile(r"[\w.-]+")  # letters (any script), digits, dots, hyphens: no quotes or markup
_CREDENTIAL_PATH_PARAM = re.compile(r";([^/;=]*)=[^/;]*")
NOT_IN_URLS = re.compile(r'[\s"<>\\^`{|}\x00-\x1f\x7f]')  # RFC 3986: never unencoded in a URL


@dataclass(frozen=True)
class Endpoint:
    url: str
    name: str | None
    where: str  # file:line, or file: entry N, for messages
    index: int = 0  # position in the de-duplicated list, from 0: the order reports use
    listed_by: tuple[tuple[str | None, str], ...] = ()  # (name, where) of every listing, when listed more than once


Warn = Callable[[str], None]


def normalise_url(raw: str) -> tuple[str | None, str]:
    """(normalised URL, "") or (None, why it is not a usable FHIR base URL)."""
    text = raw.strip().strip('"').strip()
    if not text:
        return None, "empty"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return None, f"not a URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return None, "not an http(s) URL"
    host = (parts.hostname or "").lower()
    if NOT_IN_URLS.search(text) or not (HOST_NAME.fullmatch(host) or ":" in host):  # ":": IPv6
        return None, "not an http(s) URL"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    # A path parameter naming a credential (`/r4;jsessionid=…`, `;access_token=…`) goes too; others
    # stay, as the address the list gave (docs/security.md, Limits).
    path = _CREDENTIAL_PATH_PARAM.sub(lambda m: "" if secret_param(m.group(1)) else m.group(0), parts.path).rstrip("/")
    if path.lower().endswith("/metadata"):
        path = path[: -len("/metadata")]
    # Without query or fragment, as without user-info: FHIR's [base] has none ([base]/metadata
    # would land inside it), and a list's URL is written to results.jsonl, every report and the
    # history database, where a key or session a query carries would go. Neither sent nor kept.
    return urlunsplit((scheme, netloc, path.rstrip("/"), "", "")), ""


def quoted_line(raw: str) -> str:
    """A skipped line as a warning quotes it: without its query and fragment (what a key or a
    session would ride in), user-info or token-like parameters (redact_url_text, for text that
    does not parse), and with control characters spelled out, at most 80 characters."""
    head, cut, _ = raw.partition("?")
    head, hashed, _ = head.partition("#")
    text = redact_url_text(head) + ("?..." if cut else "#..." if hashed else "")
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:80])
    return shown if len(text) <= 80 and len(shown) <= 80 else shown[:77] + "..."


def detect_kind(path: Path, head: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "bundle"
    if suffix in (".csv", ".tsv"):
        return "csv"
    first = head.lstrip()[:1]
    if first in ("{", "[") and suffix != ".txt":  # in a .txt, a first line like "[draft]" is junk
        return "bundle"
    line = head.splitlines()[0] if head.strip() else ""
    if "," in line and not line.lstrip().startswith("#"):
        return "csv"
    return "text"


def _read_head(path: Path) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return fh.read(4096)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read endpoint list: {exc.strerror or exc}") from None


def _text_rows(path: Path) -> Iterator[tuple[str, str | None, str]]:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            yield text, None, f"{path}:{n}"


def _csv_rows(path: Path, warn: Warn) -> Iterator[tuple[str, str | None, str]]:
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" or ("\t" in sample and "," not in sample) else csv.excel
        reader = csv.reader(fh, dialect)
        url_col = name_col = None
        first = True
        while True:
            starts = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. an unclosed quote that swallows the rest of the file
                raise UserInputError(f"{path}:{starts}: not readable as CSV from this line: {exc}") from None
            line = reader.line_num
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if first:  # only the first real row may be a header
                first = False
                lowered = [c.lower().replace(" ", "_").replace("-", "_") for c in cells]
                found = next((i for i, c in enumerate(lowered) if c in URL_COLUMNS), None)
                if found is not None:
                    url_col = found
                    name_col = next((i for i, c in enumerate(lowered) if c in NAME_COLUMNS), None)
                    continue
            if url_col is not None:
                raw = cells[url_col] if url_col < len(cells) else ""
                name = cells[name_col] if name_col is not None and name_col < len(cells) and cells[name_col] else None
            else:
                idx = next((i for i, c in enumerate(cells) if c.lower().startswith(("http://", "https://"))), None)
                raw = cells[idx] if idx is not None else cells[0]
                others = [c for i, c in enumerate(cells) if i != idx and c]
                name = others[0] if others else None
            yield raw, name, f"{path}:{line}"


_TOO_DEEP = object()


def _items(value: object) -> list[Any]:
    """A JSON array as a list; anything else (a hand-edited or hostile file) as no items."""
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _bundle_rows(path: Path, warn: Warn) -> Iterator[tuple[str, str | None, str]]:
    try:
        data = json_loads(path.read_text(encoding="utf-8"))  # lone surrogates replaced there
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read endpoint list: {exc}") from None
    except RecursionError:
        data = _TOO_DEEP
    if data is _TOO_DEEP or too_deep(data):
        raise UserInputError(f"{path}: nests more than {MAX_DEPTH} levels deep, so not an endpoint list")
    if isinstance(data, list):  # a bare JSON array of URLs or {"url": ...} objects
        for i, item in enumerate(data):
            if isinstance(item, str):
                yield item, None, f"{path}: item {i + 1}"
            elif isinstance(item, dict):
                url = next((str(item[k]) for k in URL_COLUMNS if item.get(k)), "")
                yield url, next((str(item[k]) for k in NAME_COLUMNS if item.get(k)), None), f"{path}: item {i + 1}"
            else:  # a number, null, a nested list: junk, warned about like any other
                yield json.dumps(item), None, f"{path}: item {i + 1}"
        return
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise UserInputError(
            f"{path}: not a FHIR Bundle of Endpoint resources (resourceType is {data.get('resourceType') if isinstance(data, dict) else type(data).__name__!r})"
        )
    entries = [e for e in _items(data.get("entry")) if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    # HTI-1 style: Organizations point at Endpoints; collect the names each Endpoint is known by.
    org_names: dict[str, str] = {}
    for e in entries:
        res = e["resource"]
        if res.get("resourceType") == "Organization" and _text(res.get("name")):
            for ref in _items(res.get("endpoint")):
                key = _text(ref.get("reference")) if isinstance(ref, dict) else None
                if key:
                    org_names.setdefault(key, res["name"])
    skipped: dict[str, int] = {}
    for i, e in enumerate(entries):
        res = e["resource"]
        if res.get("resourceType") != "Endpoint":
            continue
        where = f"{path}: entry {i + 1}"
        ctype = (res.get("connectionType") or {}).get("code") if isinstance(res.get("connectionType"), dict) else None
        if ctype and ctype != FHIR_REST:
            skipped[f"connectionType {ctype}"] = skipped.get(f"connectionType {ctype}", 0) + 1
            continue
        if res.get("status") in SKIP_STATUS:
            skipped[f"status {res['status']}"] = skipped.get(f"status {res['status']}", 0) + 1
            continue
        name = None
        managing = res.get("managingOrganization")
        managing = (_text(managing.get("reference")) or "") if isinstance(managing, dict) else ""
        for c in _items(res.get("contained")):
            if isinstance(c, dict) and c.get("resourceType") == "Organization" and _text(c.get("name")):
                if not managing or managing.lstrip("#") == c.get("id") or name is None:
                    name = c["name"]
        for key in (f"Endpoint/{res.get('id')}", str(e.get("fullUrl") or "")):
            if name is None and key in org_names:
                name = org_names[key]
        yield str(res.get("address") or ""), name or _text(res.get("name")), where
    for why, count in sorted(skipped.items()):
        warn(f"{path}: skipped {count} Endpoint(s) with {why} (only active hl7-fhir-rest endpoints are audited)")


def _rows(path: Path, warn: Warn) -> Iterator[tuple[str, str | None, str]]:
    kind = detect_kind(path, _read_head(path))
    if kind == "bundle":
        return _bundle_rows(path, warn)
    if kind == "csv":
        return _csv_rows(path, warn)
    return _text_rows(path)


def iter_endpoints(
    path: Path, warn: Warn, on_duplicate: Callable[[str, str | None, str], None] | None = None
) -> Iterator[Endpoint]:
    """Each usable, normalised endpoint once, in list order. Junk becomes a located warning; a
    repeated address goes to `on_duplicate(url, name, where)`."""
    seen: set[str] = set()
    for raw, name, where in _rows(Path(path), warn):
        url, why = normalise_url(raw)
        if url is None:
            # Quoted on the terminal and in index.html (quoted_line keeps no credential of it).
            warn(f"{where}: skipped '{quoted_line(raw)}': {why}")
            continue
        if url in seen:
            if on_duplicate is not None:
                on_duplicate(url, name or None, where)
            continue
        seen.add(url)
        yield Endpoint(url=url, name=(name or None), where=where, index=len(seen) - 1)


@dataclass(frozen=True)
class ListSummary:
    endpoints: int
    warnings: int
    entries: int = 0  # usable entries before de-duplication
    # every (name, where) listing each duplicated address, the audited (first) one first
    duplicates: dict[str, list[tuple[str | None, str]]] = field(default_factory=dict)

    def duplicates_note(self, path: Path) -> str | None:
        """One line for the scan's output: repeated addresses are not junk lines, so not warnings."""
        if not self.duplicates:
            return None
        return (
            f"{path}: {self.entries - self.endpoints} entries repeat an address listed earlier ({len(self.duplicates)} "
            "address(es)); each is audited once and its row names every organisation that lists it"
        )

    def with_listings(self, endpoints: Iterator[Endpoint]) -> Iterator[Endpoint]:
        """The endpoints again, each duplicated one carrying every organisation that lists it."""
        for e in endpoints:
            yield replace(e, listed_by=tuple(self.duplicates[e.url])) if e.url in self.duplicates else e


def check_list(path: Path, warn: Warn) -> ListSummary:
    """One pass over the list before any network work: count endpoints, report junk, and refuse a
    list with nothing to audit (exit 2) — so a typo'd file fails in a second, not after a scan."""
    count = 0
    warnings = 0
    first: dict[str, tuple[str | None, str]] = {}  # bounded like iter_endpoints' own seen set
    duplicates: dict[str, list[tuple[str | None, str]]] = {}

    def counting(message: str) -> None:
        nonlocal warnings
        warnings += 1
        warn(message)

    def duplicate(url: str, name: str | None, where: str) -> None:
        duplicates.setdefault(url, [first[url]]).append((name, where))

    for e in iter_endpoints(path, counting, duplicate):
        count += 1
        first[e.url] = (e.name, e.where)
    if count == 0:
        raise UserInputError(
            f"{path}: no http(s) FHIR base URLs found (a Bundle of Endpoints, a CSV with a url column, or one URL per line)"
        )
    entries = count + sum(len(v) - 1 for v in duplicates.values())
    return ListSummary(endpoints=count, warnings=warnings, entries=entries, duplicates=duplicates)
