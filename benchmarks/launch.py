"""Start one command and report its own wall time, CPU time and peak RSS to a JSON file.

Run as `python -I -S launch.py REPORT ARGV...` by `measure.run`. Why a launcher at all: Linux
hands a process that is exec'd from a vfork (which is how `subprocess` and `posix_spawn` start
children) the high-water RSS of the process it was forked from, so `wait4(2)` on a child of the
benchmark reports the *benchmark's* peak whenever that is larger (seen: `/bin/true` "peaking" at
413 MB under a 400 MB parent, and the 20,000-endpoint scans' 419 MB). This process imports
nothing but the standard library's core, so the floor it passes on is the bare interpreter's
(~10 MB), below any command measured.

Standard library only, no package imports: it must stay this small.
"""

import json
import os
import sys
import time


def main() -> int:
    report, argv = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(report, "w", encoding="utf-8") as out:
        json.dump(
            {
                "pid": pid,
                "wall": wall,
                "cpu": usage.ru_utime + usage.ru_stime,
                "max_rss_kib": usage.ru_maxrss,
                "returncode": code,
            },
            out,
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
