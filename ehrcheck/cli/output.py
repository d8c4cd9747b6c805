"""Where reports go: the output plan (formats and paths) is decided once, before any probing, and
every report is rendered before any file is written.

A path does what it says: `-o x.pdf` writes a PDF, `-o x.html` an HTML file, an extension no
format owns is refused (exit 2) rather than silently becoming a folder, and the default folder is
named after the target, so a second vendor's audit never overwrites the first. A folder that
already holds another target's report is only overwritten with --force.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ehrcheck.cli.spec import SUFFIXES_TEXT
from ehrcheck.errors import UserInputError
from ehrcheck.render import DEFAULT_FORMATS, FORMAT_ALIASES, RENDERERS

# Text formats (ehrcheck.render.RENDERERS, the one list) plus pdf: the HTML report printed.
FORMATS = (*RENDERERS, "pdf")


# A file's suffix names its format: each report format's own extension (.xml is JUnit), an
# alias, or .pdf. (The summary is HTML too: it is asked for with --format summary.)
SUFFIX_FORMAT = {
    **{r.extension: name for name, r in RENDERERS.items() if r.stem == "report"},
    **FORMAT_ALIASES,
    "pdf": "pdf",
}


@dataclass(frozen=True)
class Output:
    """One file (or stdout) to write: `fmt` is a RENDERERS key; `pdf` prints that HTML to `path`."""

    fmt: str
    path: Path | None  # None: stdout
    pdf: bool = False


@dataclass(frozen=True)
class OutputPlan:
    outputs: tuple[Output, ...]
    folder: Path | None  # the output folder, when there is one (evidence.json goes there)

    @property
    def first_file(self) -> Path | None:
        return next((o.path for o in self.outputs if o.path is not None), None)

    @property
    def wants_pdf(self) -> bool:
        return any(o.pdf for o in self.outputs)


def parse_formats(value: str | None, allowed: tuple[str, ...] = FORMATS) -> list[str]:
    if not value:
        return list(DEFAULT_FORMATS)
    out: list[str] = []
    for part in value.replace(" ", "").split(","):
        part = FORMAT_ALIASES.get(part.lower(), part.lower())
        if part not in allowed:
            raise UserInputError(f"--format: unknown format '{part}'; choose from {', '.join(allowed)}")
        if part not in out:
            out.append(part)
    return out


def default_folder(base_url: str) -> Path:
    """`ehrcheck-<host>[-<port>]-<path>`: one folder per target, so audits of two vendors never
    land in the same place. Only letters, digits, dots and dashes: safe on every file system."""
    parts = urlsplit(base_url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    where = (parts.hostname or "target") + (f"-{port}" if port else "") + "-" + parts.path
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", where).strip("-.")[:80].strip("-.") or "target"
    return Path(f"ehrcheck-{slug}")


def _same_target(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return url.strip().removesuffix("/metadata").rstrip("/").lower()

    return norm(a) == norm(b)


def _folder_target(folder: Path) -> tuple[str, str] | None:
    """The target an existing report folder holds (base URL, the file that says so), if any."""
    for name in ("report.json", "evidence.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8") as fh:
                data = json.loads(fh.read(5_000_000))
        except (OSError, ValueError):
            continue
        target = data.get("target") if isinstance(data, dict) else None
        url = target.get("base_url") if isinstance(target, dict) else None
        if isinstance(url, str) and url:
            return url, name
    return None


def check_folder_owner(folder: Path, base_url: str | None, force: bool) -> None:
    """Refuse to overwrite a folder that holds another target's report, unless --force."""
    if force or base_url is None or not folder.is_dir():
        return
    found = _folder_target(folder)
    if found is not None and not _same_target(found[0], base_url):
        raise UserInputError(
            f"-o {folder}: holds the report of another target ({found[0]}, per its {found[1]}); "
            "choose another folder, or pass --force to overwrite it"
        )


# The head of every file ehrcheck writes, exactly as its renderers start it. Only "ehrcheck"
# somewhere in the first 4 KB used to be asked for, so a user's `# My notes on ehrcheck` or a JSON
# file naming it was taken as ours and replaced without --force.
_OUR_HEADS = re.compile(
    rb"# ehrcheck (?:readiness report|vendor comparison|diff|history|demo)\b"  # Markdown
    rb"|<!doctype html>\s*<html[^>]*>\s*<head>(?:\s*<meta[^>]*>)*\s*"
    rb"<title>ehrcheck (?:report|summary|comparison|history|scan)\b"  # HTML
    rb'|\{\s*"(?:generator": "ehrcheck"|schema": "ehrcheck\.evidence"|tool_version": ")'  # JSON
    rb'|\{\s*"\$schema": "https://docs\.oasis-open\.org/sarif/[^"]*",\s*"version": "[^"]*",\s*"runs": '
    rb'\[\s*\{\s*"tool": \{\s*"driver": \{\s*"name": "ehrcheck"'  # SARIF
    rb'|<\?xml version="1\.0" encoding="UTF-8"\?>\s*<testsuites name="ehrcheck\b',  # JUnit
    re.IGNORECASE,
)


def _written_by_ehrcheck(path: Path) -> bool:
    """Whether an existing file is one ehrcheck wrote and nobody changed since: its bytes are what
    ehrcheck last recorded writing there (files/written.py). Only when there is no record at all
    (no cache folder) does the head decide: it starts the way one of its formats starts
    (`_OUR_HEADS`), whatever its name; a PDF cannot say, so it is taken as ours."""
    from ehrcheck.files.written import recorded_as_ours

    known = recorded_as_ours(path)
    if known is not None:
        return known
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return True  # unreadable: the write itself will say what is wrong
    if path.suffix.lower() == ".pdf":
        return head.startswith(b"%PDF")
    return _OUR_HEADS.match(head) is not None


def check_foreign_files(paths: list[Path], force: bool) -> None:
    """Refuse, unless --force, to replace a file in the output folder that ehrcheck did not write
    (the user's own report.md or evidence.json): the other-target check only knows our reports."""
    if force:
        return
    for path in paths:
        if _foreign(path):
            raise UserInputError(
                f"-o {path.parent}: {path.name} there {_not_ours(path)} and would be replaced; "
                "choose another folder, or pass --force to overwrite it"
            )


def check_replaceable(path: Path, flag: str, force: bool) -> None:
    """The same for a single output file the user named: a file of theirs (their notes saved as
    report.md, a link to one) is not replaced without --force; ehrcheck's own earlier output is."""
    if not force and _foreign(path):
        raise UserInputError(
            f"{flag} {path}: exists, {_not_ours(path)}, and would be replaced; "
            "choose another name, or pass --force to overwrite it"
        )


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (a hard link, a symbolic
    link, `./x` and `x`), else the same absolute path once links are resolved."""
    import os

    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def check_distinct(outputs: Sequence[tuple[str, Path]], inputs: Sequence[tuple[str, Path]] = ()) -> None:
    """Refuse, before anything is read from the network or written, two outputs of one run on the
    same file (`-o same.md --evidence same.md`: the report replaced the evidence just written) and
    an output on a file the command itself reads or writes for another purpose (`score e.json -o
    e.json`, `compare A/ B/ -o A/report.json`, `scan -o s/ --db s/index.html`): either would be
    replaced by the other, and ehrcheck's own earlier output is otherwise replaced without --force.
    `outputs` are (flag, path); `inputs` are (what it is, path)."""
    for i, (flag, path) in enumerate(outputs):
        for other_flag, other in outputs[:i]:
            if same_file(path, other):
                raise UserInputError(
                    f"{flag} {path}: is also {other_flag} {other}, so one output would replace the other; give each its own path"
                )
        for what, source in inputs:
            if same_file(path, source):
                raise UserInputError(
                    f"{flag} {path}: is {what} ({source}), which writing there would replace; choose another path"
                )


def named_inputs(
    claims: Path | None = None,
    waivers: Path | None = None,
    packs: Sequence[Path] | None = None,
    credentials: Path | None = None,
    chpl_file: Path | None = None,
    endpoints_bundle: str | None = None,
    ca_bundle: Path | None = None,
) -> list[tuple[str, Path]]:
    """The files a probing or scoring command reads, named for check_distinct's message."""
    found = [
        (f"the {flag} file", Path(value))
        for flag, value in (
            ("--claims", claims),
            ("--waivers", waivers),
            ("--credentials", credentials),
            ("--chpl-file", chpl_file),
            ("--ca-bundle", ca_bundle),
        )
        if value
    ]
    found += [("a --pack file", Path(value)) for value in packs or []]
    if credentials or any(os.environ.get(n) for n in ("EHRCHECK_PRIVATE_KEY_FILE", "EHRCHECK_APP_PRIVATE_KEY_FILE")):
        from ehrcheck.probes.authenticated.credentials import key_files

        found += [("a private key file the credentials name", key) for key in key_files(credentials)]
    if endpoints_bundle and "://" not in endpoints_bundle:
        found.append(("the --endpoints-bundle file", Path(endpoints_bundle)))
    return found


def _foreign(path: Path) -> bool:
    """A path an output must not silently replace: a symbolic link, or a file ehrcheck did not write."""
    return path.is_symlink() or (path.is_file() and not _written_by_ehrcheck(path))


def _not_ours(path: Path) -> str:
    return "is a symbolic link" if path.is_symlink() else "was not written by ehrcheck (or was changed since)"


def _single_format(target: Path, formats: list[str], fmt_given: bool, suffix_fmt: str) -> Output:
    if not fmt_given:
        formats = [suffix_fmt]
    if len(formats) != 1:
        raise UserInputError(f"-o {target}: a single file takes one format; give a folder for several")
    fmt = formats[0]
    if suffix_fmt == "pdf":
        if fmt not in ("pdf", "html", "summary"):
            raise UserInputError(f"-o {target}: a .pdf file is the report (html) or the summary printed; not '{fmt}'")
        return Output("summary" if fmt == "summary" else "html", target, pdf=True)
    if fmt == "pdf":
        raise UserInputError(f"-o {target}: --format pdf writes a .pdf file; name it {target.with_suffix('.pdf')}")
    return Output(fmt, target)


def plan_outputs(
    output: str | None,
    fmt_option: str | None,
    base_url: str | None = None,
    force: bool = False,
    pdf: bool = False,
) -> OutputPlan:
    """Decide where each format goes, before anything is probed or written."""
    formats = parse_formats(fmt_option)
    if pdf and "pdf" not in formats:
        formats.append("pdf")
    if output == "-":
        text = [f for f in formats if f != "pdf"]
        if len(text) != 1 or "pdf" in formats:
            raise UserInputError(
                "-o -: writing to stdout needs exactly one --format (html, md, json, junit, sarif or summary; a PDF goes to a file)"
            )
        return OutputPlan((Output(text[0], None),), None)
    if output is None and base_url is not None:
        target = default_folder(base_url)
    else:
        target = Path(output or "ehrcheck-report")
    # Our own default is a folder even with dots in its name; a user's name ending in / is too.
    wants_folder = output is None or output.endswith(("/", "\\"))
    suffix = target.suffix.lower().lstrip(".")
    if suffix and not wants_folder and not target.is_dir():
        if suffix not in SUFFIX_FORMAT:
            raise UserInputError(
                f"-o {target}: '.{suffix}' is not a report format; a file ends in {SUFFIXES_TEXT} "
                f"(formats: {', '.join(FORMATS)}), and a folder has no extension (or ends with /)"
            )
        one = _single_format(
            target, [f for f in formats if not (pdf and f == "pdf")], fmt_option is not None, SUFFIX_FORMAT[suffix]
        )
        outputs = [one]
        if pdf and not one.pdf:  # --pdf beside a single file: the same name, .pdf
            outputs.append(Output("html", target.with_suffix(".pdf"), pdf=True))
        check_writable(target, "-o")
        for out in outputs:
            if out.path is not None:
                check_replaceable(out.path, "-o", force)
        return OutputPlan(tuple(outputs), None)
    if target.exists() and not target.is_dir():
        raise UserInputError(f"-o {target}: exists and is not a folder")
    check_writable(target, "-o", folder=True)
    check_folder_owner(target, base_url, force)
    outputs = [Output(f, target / RENDERERS[f].filename) for f in formats if f != "pdf"]
    if "pdf" in formats:
        outputs.append(Output("html", target / "report.pdf", pdf=True))
    check_foreign_files([o.path for o in outputs if o.path is not None] + [target / "evidence.json"], force)
    return OutputPlan(tuple(outputs), target)


def check_writable(path: Path, flag: str, folder: bool = False) -> None:
    """Refuse, before any probing, a path that could never be written: under a file, in a folder
    we may not write, or (for a file) the name of a folder."""
    import os

    from ehrcheck.files.store import special_file_kind

    where = f"{flag} {path}"
    if path.exists() and path.is_dir() != folder:
        raise UserInputError(f"{where}: is a {'file' if folder else 'folder'}; give a {'folder' if folder else 'file'} path")
    kind = None if folder else special_file_kind(path)
    if kind:
        # Reports are written to a temporary file renamed into place: that would replace the
        # device node or pipe itself (as root, even /dev/full), not write into it.
        raise UserInputError(f"{where}: is a {kind}, not a regular file; give a file path")
    ancestor = path if folder and path.exists() else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserInputError(f"{where}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserInputError(f"{where}: cannot write in {ancestor} (permission denied); choose another path")
    # Permission bits say yes to root everywhere, and pseudo-filesystems (/proc, /sys) or read-only
    # mounts only refuse at write time: create and remove an empty temporary file to be sure.
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".ehrcheck-write-check.", dir=ancestor)
    except OSError as exc:
        raise UserInputError(f"{where}: cannot write in {ancestor} ({exc.strerror or exc}); choose another path") from None
    os.close(fd)
    os.unlink(probe)


def write_reports(result, plan: OutputPlan) -> list[Path]:
    """Render every output, then write them; PDFs last (printed from the rendered HTML)."""
    from ehrcheck.files.store import write_output

    texts = {o.fmt: RENDERERS[o.fmt].fn(result) for o in plan.outputs}  # all rendered before any is written
    written = []
    for o in plan.outputs:
        if o.pdf:
            continue
        if o.path is None:
            sys.stdout.write(texts[o.fmt])
        else:
            write_output(o.path, texts[o.fmt])
            written.append(o.path)
    for o in plan.outputs:
        if o.pdf and o.path is not None:
            print_pdf(texts[o.fmt], o.path)
            written.append(o.path)
    return written


def require_pdf_support(pdf: bool) -> None:
    """Fail before probing or writing anything when a PDF cannot be printed."""
    if pdf:
        from ehrcheck.render.pdf import PdfUnavailable, find_chromium

        try:
            find_chromium()
        except PdfUnavailable as exc:
            raise UserInputError(f"PDF output: {exc}") from None


def print_pdf(html: str, target: Path) -> None:
    """Print an HTML document to `target` through a local Chromium (from a private temp copy, so
    the PDF never depends on which other files were asked for)."""
    import tempfile

    from ehrcheck.files.store import write_atomic
    from ehrcheck.files.written import remember
    from ehrcheck.render.pdf import PdfUnavailable, html_to_pdf

    try:
        with tempfile.TemporaryDirectory(prefix="ehrcheck-print-") as tmp:
            page = Path(tmp) / "print.html"
            write_atomic(page, html)
            html_to_pdf(page, target)
        remember([target])
    except (PdfUnavailable, RuntimeError) as exc:
        raise UserInputError(f"PDF output: {exc}") from None
