"""Renderers: pure functions from a RunResult to the text of a report, one module per format.

`RENDERERS` maps a format name to the module that renders it and the file extension; adding a format
means adding a line here, never an if/elif elsewhere. It is the one list of format names: the CLI's
--format, the file suffixes it recognises and the demo all read it. Modules are imported when a
format is asked for, so `--format json` never loads the template engine, and this module imports
no models, so the CLI can read the format names without loading pydantic.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ehrcheck.models import RunResult


@dataclass(frozen=True)
class Renderer:
    module: str  # ehrcheck.render.<module>, which defines the function below
    function: str
    extension: str
    stem: str = "report"  # the file name in an output folder: <stem>.<extension>

    @property
    def filename(self) -> str:
        return f"{self.stem}.{self.extension}"

    @property
    def fn(self) -> Callable[[RunResult], str]:
        fn: Callable[[RunResult], str] = getattr(importlib.import_module(f"ehrcheck.render.{self.module}"), self.function)
        return fn


RENDERERS: dict[str, Renderer] = {
    "html": Renderer("report", "render_html", "html"),
    "md": Renderer("report", "render_markdown", "md"),
    "json": Renderer("json_report", "render_json", "json"),
    "junit": Renderer("junit", "render_junit", "xml"),
    "sarif": Renderer("sarif", "render_sarif", "sarif"),
    "summary": Renderer("report", "render_summary_html", "html", stem="summary"),  # the one-page executive summary
}
# What a report folder gets when no --format is given (audit, score and demo alike).
DEFAULT_FORMATS = ("html", "md", "json")
# Other names people give a format, on --format and as a file suffix.
FORMAT_ALIASES = {"markdown": "md", "htm": "html"}
