"""`--shard i/n`: which endpoints of a list this machine scans, so n machines (a CI matrix) split
one directory without talking to each other. An endpoint belongs to shard hash(url) mod n + 1:
stable across machines and runs, and independent of the list's order."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ehrcheck.errors import UserInputError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$", re.ASCII)


@dataclass(frozen=True)
class Shard:
    index: int  # from 1
    count: int

    def owns(self, url: str) -> bool:
        return int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str | None) -> Shard | None:
    if not text:
        return None
    m = _SHARD.match(text)
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2)) <= 1000):
        raise UserInputError(f"--shard: '{text}' is not i/n with 1 <= i <= n <= 1000 (e.g. 2/4 for the second of four)")
    return Shard(int(m.group(1)), int(m.group(2)))
