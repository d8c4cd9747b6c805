"""The scan overview (index.html): rendered by streaming results.jsonl through the template, so
its memory does not grow with the number of endpoints. Pure apart from the file it writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ehrcheck.render.templates import environment
from ehrcheck.scan.run import ScanStats, iter_results


def write_scan_overview(results: Path, target: Path, stats: ScanStats, titles: dict[str, str], meta: dict[str, Any]) -> None:
    template = environment().get_template("scan.html.j2")
    top = sorted(stats.failing_rules.items(), key=lambda kv: (-kv[1], kv[0]))[:15]
    audited = stats.outcomes.get("audited", 0)
    context = {
        "stats": stats,
        "top": [(rid, titles.get(rid, ""), n, round(100 * n / audited) if audited else 0) for rid, n in top],
        "rows": iter_results(results),
        "meta": meta,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for chunk in template.generate(**context):
                fh.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
