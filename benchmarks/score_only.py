"""Score-only: read saved evidence files and score them, no network (what `ehrcheck score` and
a re-score of a scan's `--keep-evidence` folder do per file): load + validate the evidence,
evaluate every rule, score, render the JSON report. Run in one process, so start-up is paid
once and measured apart (the `ehrcheck score` CLI row).
"""

from __future__ import annotations

import time
from pathlib import Path

from .measure import Samples


def score_all(files: list[Path]) -> tuple[float, float]:
    """(wall, cpu) seconds to score every file once."""
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.files.store import load_evidence
    from ehrcheck.render import RENDERERS

    render = RENDERERS["json"].fn
    wall, cpu = time.perf_counter(), time.process_time()
    for path in files:
        render(score_evidence(load_evidence(path)))
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(files: list[Path], times: int) -> tuple[Samples, Samples]:
    score_all(files[:1])  # imports and rule packs loaded once, as in any long-running caller
    wall, cpu = Samples(), Samples()
    for _ in range(times):
        w, c = score_all(files)
        wall.add(w)
        cpu.add(c)
    return wall, cpu
