"""Where reports go: the output plan (formats and paths) is decided once, before any probing, and
every report is rendered before any file is written."""

from __future__ import annotations

import sys
from pathlib import Path

from ehrcheck.errors import UserInputError
from ehrcheck.render import DEFAULT_FORMATS, FORMAT_ALIASES, RENDERERS

FORMATS = tuple(RENDERERS)
# A file's suffix names its format: each format's own extension (.xml is JUnit), or an alias.
SUFFIX_FORMAT = {**{r.extension: name for name, r in RENDERERS.items()}, **FORMAT_ALIASES}


DEFAULT_OUTPUT = "ehrcheck-report"


def parse_formats(value: str | None) -> list[str]:
    if not value:
        return list(DEFAULT_FORMATS)
    out: list[str] = []
    for part in value.replace(" ", "").split(","):
        part = FORMAT_ALIASES.get(part.lower(), part.lower())
        if part not in FORMATS:
            raise UserInputError(f"--format: unknown format '{part}'; choose from {', '.join(FORMATS)}")
        if part not in out:
            out.append(part)
    return out


def check_writable(path: Path, flag: str, folder: bool = False) -> None:
    """Refuse, before any probing, a path that could never be written: under a file, in a folder
    we may not write, or (for a file) the name of a folder. Found after an audit, it would cost
    the run and the evidence with it."""
    import os

    where = f"{flag} {path}"
    if path.exists() and path.is_dir() != folder:
        raise UserInputError(f"{where}: is a {'file' if folder else 'folder'}; give a {'folder' if folder else 'file'} path")
    ancestor = path if folder and path.exists() else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserInputError(f"{where}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserInputError(f"{where}: cannot write in {ancestor} (permission denied); choose another path")


def plan_outputs(output: str | None, fmt_option: str | None) -> tuple[list[tuple[str, Path | None]], Path | None]:
    """Decide where each format goes. Returns ([(format, path or None for stdout)], directory)."""
    formats = parse_formats(fmt_option)
    if output == "-":
        if len(formats) != 1:
            raise UserInputError("-o -: writing to stdout needs exactly one --format (html, md or json)")
        return [(formats[0], None)], None
    target = Path(output or DEFAULT_OUTPUT)
    suffix = SUFFIX_FORMAT.get(target.suffix.lower().lstrip("."))
    if suffix is not None and not target.is_dir():
        if fmt_option is None:
            formats = [suffix]
        if len(formats) != 1:
            raise UserInputError(f"-o {target}: a single file takes one format; give a folder for several")
        check_writable(target, "-o")
        return [(formats[0], target)], None
    if target.exists() and not target.is_dir():
        raise UserInputError(f"-o {target}: exists and is not a folder")
    check_writable(target, "-o", folder=True)
    return [(f, target / f"report.{RENDERERS[f].extension}") for f in formats], target


def write_reports(result, plan: list[tuple[str, Path | None]]) -> list[Path]:
    from ehrcheck.files.store import write_atomic

    written = []
    texts = [(RENDERERS[fmt].fn(result), path) for fmt, path in plan]  # all rendered before any is written
    for text, path in texts:
        if path is None:
            sys.stdout.write(text)
        else:
            write_atomic(path, text)
            written.append(path)
    return written


def require_pdf_support(pdf: bool) -> None:
    """Fail before probing or writing anything when --pdf cannot be honoured."""
    if pdf:
        from ehrcheck.render.pdf import PdfUnavailable, find_chromium

        try:
            find_chromium()
        except PdfUnavailable as exc:
            raise UserInputError(f"--pdf: {exc}") from None


def write_pdf(result, plan: list[tuple[str, Path | None]], folder: Path | None) -> Path:
    """Print the HTML report to PDF beside the other outputs (Chromium must be installed)."""
    from ehrcheck.files.store import write_atomic
    from ehrcheck.render.pdf import PdfUnavailable, html_to_pdf

    html = next((p for f, p in plan if f == "html" and p is not None), None)
    if folder is not None:
        target = folder / "report.pdf"
    elif plan[0][1] is not None:
        target = plan[0][1].with_suffix(".pdf")
    else:
        target = Path("report.pdf")
    try:
        if html is None:  # PDF asked for without HTML: render a private copy to print
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                html = Path(tmp) / "report.html"
                write_atomic(html, RENDERERS["html"].fn(result))
                html_to_pdf(html, target)
        else:
            html_to_pdf(html, target)
    except PdfUnavailable as exc:
        raise UserInputError(f"--pdf: {exc}") from None
    except RuntimeError as exc:
        raise UserInputError(f"--pdf: {exc}") from None
    return target
