"""What a scan's worker process needs before its first audit, loaded once in the fork server
(ehrcheck.scan.pool), so that every worker forked from it starts with it already in memory: the
audit path's modules (most are imported lazily, on the first audit) and the built-in rule packs.
Then `gc.freeze()`: what was loaded here is never collected, so the workers' collections do not
walk it (nor write to its pages, which forked processes share until written).

Importing this module only imports and loads data: no socket, thread or event loop, so forking
after it is safe.
"""

from __future__ import annotations

import gc

from ehrcheck.runtime import tune_gc

tune_gc()  # before the imports below, as every ehrcheck process does at its start

import ehrcheck.engine.scorecard  # noqa: E402
import ehrcheck.http.lean  # noqa: E402
import ehrcheck.probes.runner  # noqa: E402
import ehrcheck.scan.pool  # noqa: E402
from ehrcheck.rules.schema import builtin_packs  # noqa: E402

builtin_packs()
gc.freeze()

__all__ = ["ehrcheck"]
