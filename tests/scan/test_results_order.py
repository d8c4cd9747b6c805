"""Reading results.jsonl back after a scan: one pass (`iter_rows`, the totals) remembers each
row's place, so the overview's list order (`iter_in_list_order`) reads each row once more and
parses a line seen unchanged without checking it again. What it gives must be what reading the
file afresh gives, whatever the file holds, and a line changed in between is checked again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ehrcheck.scan import results
from ehrcheck.scan.results import iter_in_list_order, iter_rows, parse_row


def _row(index: int, **extra: object) -> dict:
    return {"v": 1, "index": index, "url": f"https://fhir{index}.example.org/r4", "outcome": "audited", **extra}


def _line(row: dict) -> bytes:
    return json.dumps(row, ensure_ascii=False, sort_keys=True).encode() + b"\n"


def _text_mode_rows(path: Path) -> list[dict]:
    """How the rows were read before: the file as text, invalid bytes replaced."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        return [row for line in fh if (row := parse_row(line)) is not None]


def _fresh_list_order(path: Path) -> list[dict]:
    results._places = None
    return list(iter_in_list_order(path))


@pytest.mark.parametrize(
    "junk",
    [
        b"",  # an ordinary file
        b"not json at all\n",
        b'{"url": "https://x.example.org", "outcome": "audited", "findings": 5}\n',  # a row of the wrong shape
        b"\xef\xbb\xbf" + _line(_row(90)),  # a byte-order mark: text and bytes readers differ on it
        _line(_row(91))[:-1] + b"\r" + _line(_row(92)),  # a lone CR: two lines to a text reader
        _line(_row(93, name="caf\xe9"))[:-1].replace(b"caf", b"\xff\xfe") + b"\n",  # not UTF-8
        b"[" * 300 + b"]" * 300 + b"\n",  # nested too deep
        b'{"url": "https://y.example.org", "outcome": "audited"',  # a torn last line
    ],
)
def test_one_pass_then_list_order_gives_what_reading_afresh_gives(tmp_path: Path, junk: bytes):
    path = tmp_path / "results.jsonl"
    lines = [_line(_row(i, score=float(i))) for i in (5, 3, 9, 1)]
    torn = junk and not junk.endswith(b"\n")
    path.write_bytes(b"".join(lines) + junk if torn else lines[0] + lines[1] + junk + lines[2] + lines[3])
    fresh = _fresh_list_order(path)
    assert [r["index"] for r in fresh if r["index"] is not None and r["index"] < 90] == [1, 3, 5, 9]
    assert list(iter_rows(path)) == _text_mode_rows(path)
    assert list(iter_in_list_order(path)) == fresh
    assert list(iter_in_list_order(path)) == fresh  # the places serve every pass after it


def test_a_line_changed_after_the_first_pass_is_checked_again(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    good = _line(_row(2, reason="x" * 40))
    path.write_bytes(_line(_row(1)) + good)
    assert len(list(iter_rows(path))) == 2
    # The same length, the same modification time: only the line's hash tells it changed.
    bad = b'{"outcome": "audited", "url": "https://a.example.org", "findings": 5' + b" " * 200
    bad = bad[: len(good) - 2] + b"}\n"
    assert len(bad) == len(good)
    stat = path.stat()
    path.write_bytes(_line(_row(1)) + bad)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert results._places is not None and results._places.identity == results._identity(path)
    assert [r["index"] for r in iter_in_list_order(path)] == [1]
