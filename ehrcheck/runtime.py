"""Process-wide settings every ehrcheck process makes once, at its start."""

from __future__ import annotations

import gc
import os

# Allocations between two collections of the youngest generation (Python's default is 700). Start-up
# builds hundreds of pydantic classes and their schemas: at 700 the cyclic GC ran ~150 times in an
# anonymous audit, with a full collection, for ~50 ms of its ~0.45 s of CPU (~16 ms of a `score`),
# and freed the same ~1,200 objects as at 10,000, where it runs ~10 times for ~17 ms. Collections
# still run, so a long scan's memory stays bounded (peak RSS unchanged: 62 – 63 MB for the audit).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect the youngest generation every GC_YOUNG_THRESHOLD allocations instead of 700; a
    threshold someone already raised, or 0 (collection turned off), is left alone."""
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def no_pydantic_plugins() -> None:
    """Load no third-party pydantic plugins in this process (and the processes it starts).

    The first pydantic model a process builds makes pydantic look for plugins: it reads the entry
    points of every installed distribution (~25 ms of a ~0.25 s `score` with 59 distributions,
    more in a larger environment) to find the `pydantic` group, which is empty for ehrcheck. A
    plugin found there would also see every value ehrcheck validates, evidence and credentials
    included, which must not leave the process (README, "Privacy"). `PYDANTIC_DISABLE_PLUGINS`
    is pydantic's own switch; it is read when a model or TypeAdapter is built, not at import.
    """
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
