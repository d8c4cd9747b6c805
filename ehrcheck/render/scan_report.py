"""The scan's outputs besides results.jsonl: index.html (the overview), results.sarif and
results.xml (JUnit). Each is rendered by streaming the rows in list order (scan.results), so memory
does not grow with the number of endpoints. Pure apart from the files it writes, each atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ehrcheck.render.scan_ci import write_scan_junit, write_scan_sarif
from ehrcheck.render.templates import environment
from ehrcheck.rules.schema import Rule
from ehrcheck.scan.results import iter_in_list_order
from ehrcheck.scan.run import ScanStats

FILES = {"html": "index.html", "sarif": "results.sarif", "junit": "results.xml"}


def _atomic(target: Path, write: Callable[[TextIO], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_scan_overview(results: Path, target: Path, stats: ScanStats, titles: dict[str, str], meta: dict[str, Any]) -> None:
    template = environment().get_template("scan.html.j2")
    top = sorted(stats.failing_rules.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    audited = stats.outcomes.get("audited", 0)
    context = {
        "stats": stats,
        "top": [(rid, titles.get(rid, ""), n, round(100 * n / audited) if audited else 0) for rid, n in top],
        "rows": iter_in_list_order(results),
        "meta": meta,
    }

    def write(fh: TextIO) -> None:
        fh.writelines(template.generate(**context))

    _atomic(target, write)


def write_scan_outputs(
    results: Path, out_dir: Path, kinds: Sequence[str], stats: ScanStats, rules: Sequence[Rule], meta: dict[str, Any]
) -> list[Path]:
    """Every format asked for; the paths written."""
    written = []
    for kind in kinds:
        target = out_dir / FILES[kind]
        if kind == "html":
            write_scan_overview(results, target, stats, {r.id: r.title for r in rules}, meta)
        elif kind == "sarif":
            _atomic(target, lambda fh: write_scan_sarif(iter_in_list_order(results), fh, rules, meta, stats.outcomes))
        else:
            _atomic(target, lambda fh: write_scan_junit(iter_in_list_order(results), fh, rules, meta))
        written.append(target)
    return written
