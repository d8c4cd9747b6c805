"""Print an HTML report to PDF with a locally installed Chromium (headless).

No browser is bundled: a practice that wants PDFs installs Chromium from its OS packages. The
flags keep Chromium from reaching out to the network (this is a closed, offline print job).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
QUIET_FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root in CI containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-pdf-header-footer",
)
INSTALL_HINT = (
    "PDF output needs Chromium. Install it (Debian/Ubuntu: `apt-get install chromium`; macOS: "
    "install Google Chrome) or point EHRCHECK_CHROMIUM at the browser binary."
)


class PdfUnavailable(Exception):
    """No usable browser; the message says what to install."""


def find_chromium() -> str:
    explicit = os.environ.get("EHRCHECK_CHROMIUM")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise PdfUnavailable(f"EHRCHECK_CHROMIUM={explicit} is not an executable file. {INSTALL_HINT}")
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise PdfUnavailable(INSTALL_HINT)


def html_to_pdf(html_path: Path, pdf_path: Path, timeout: float = 120.0) -> None:
    """Render `html_path` to `pdf_path` atomically; raises PdfUnavailable or RuntimeError."""
    browser = find_chromium()
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ehrcheck-chromium-") as profile:
        tmp_pdf = Path(profile) / "out.pdf"
        cmd = [
            browser,
            *QUIET_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={tmp_pdf}",
            html_path.resolve().as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Chromium did not finish printing {html_path} within {timeout:.0f} s") from None
        if proc.returncode != 0 or not tmp_pdf.is_file() or tmp_pdf.stat().st_size == 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise RuntimeError(f"Chromium could not print {html_path} to PDF: {' | '.join(tail) or 'no output'}")
        # Move beside the target first (maybe across file systems), then rename: never half a PDF.
        staged = pdf_path.with_name(f".{pdf_path.name}.tmp")
        shutil.move(str(tmp_pdf), staged)
        os.replace(staged, pdf_path)
