"""Every ehrcheck process collects cyclic garbage less often than Python's default, but still does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ehrcheck.runtime import GC_YOUNG_THRESHOLD, tune_gc
from tests.paths import ROOT

PROBE = """
import gc, sys
from ehrcheck.cli import main
sys.argv = ["ehrcheck", "rules", "list"]
try:
    main()
except SystemExit:
    pass
print("THRESHOLD", gc.get_threshold(), gc.isenabled(), file=sys.stderr)
"""


def test_the_command_line_raises_the_young_threshold_and_keeps_collecting():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("THRESHOLD"))
    assert line == f"THRESHOLD ({GC_YOUNG_THRESHOLD}, 10, 10) True", proc.stderr[-2000:]


@pytest.mark.parametrize(
    ("before", "after"),
    [((700, 10, 10), (GC_YOUNG_THRESHOLD, 10, 10)), ((0, 10, 10), (0, 10, 10)), ((50_000, 5, 5), (50_000, 5, 5))],
)
def test_a_threshold_already_raised_or_turned_off_is_left_alone(before, after):
    import gc

    saved = gc.get_threshold()
    try:
        gc.set_threshold(*before)
        tune_gc()
        assert gc.get_threshold() == after
    finally:
        gc.set_threshold(*saved)
