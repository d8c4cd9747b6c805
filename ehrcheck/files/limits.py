"""Limits on untrusted structured input: how deep it may nest, and no YAML aliases.

Claims files come back from vendors, evidence files travel by email, and servers answer whatever
they like. Python's JSON decoder and PyYAML's composer are recursive, so `[[[[...` a hundred
thousand deep ends in a RecursionError traceback; YAML aliases let a few lines expand into
billions of nodes ("billion laughs"). No ehrcheck input needs either, so both are refused with a
clear reason before the real parsing starts.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

from ehrcheck.errors import UserInputError

MAX_DEPTH = 64  # deepest legitimate ehrcheck input (evidence, a FHIR document) is far shallower
# Claims, waivers, packs and credentials are a few KB; parsing YAML costs far more than its size
# (40 MB of claims took minutes and gigabytes), so larger files are refused before they are read.
MAX_USER_FILE_BYTES = 1024 * 1024
INT_DIGITS = 4000  # below Python's own limit for int() (4,300 digits)
# Evidence, CHPL documents and endpoint Bundles are JSON ehrcheck or a registry wrote: megabytes,
# not gigabytes. The cap bounds what a read of a device or an endless pipe can take.
MAX_JSON_FILE_BYTES = 256 * 1024 * 1024
# Memory follows the number of values, not bytes: 36 MB of `{"id":1},` (4 million objects) took
# 1.36 GB to parse (round 11). A real CHPL page holds ~7,000 objects or arrays per MB; these
# bound a parse near 350 MB whatever the file is made of.
MAX_JSON_CONTAINERS = 1_000_000
MAX_JSON_VALUES = 4_000_000


def json_counts(data: str | bytes) -> tuple[int, int]:
    """(objects and arrays, values) of a JSON text, counted as characters before any parsing:
    cheap, and an over-count (brackets and commas inside strings count too)."""
    if isinstance(data, bytes):
        return data.count(b"{") + data.count(b"["), data.count(b",")
    return data.count("{") + data.count("["), data.count(",")


def _number(text: str) -> float | str:
    """A JSON number too long for int() or float(): kept as a float when finite, else as its
    text (no JSON writer can write infinity), so the document stays valid JSON."""
    try:
        value = float(text)
    except (ValueError, OverflowError):
        return text
    return value if math.isfinite(value) else text


def _parse_int(text: str) -> int | float | str:
    return int(text) if len(text.lstrip("-")) <= INT_DIGITS else _number(text)


def json_loads(data: str | bytes) -> Any:
    """json.loads for documents from outside: numbers of any size parse (a 5,000-digit number is
    valid JSON, even if Python's int() refuses it), and no lone UTF-16 surrogate survives (see
    `may_hold_surrogates`). Raises what json.loads raises."""
    value = json.loads(data, parse_int=_parse_int, parse_float=_number)
    return without_lone_surrogates(value) if may_hold_surrogates(data) else value


def check_size(path: Path, flag: str, limit: int = MAX_USER_FILE_BYTES) -> None:
    """UserInputError when `path` is larger than `limit` bytes (a missing file is left to the reader)."""
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size > limit:
        raise UserInputError(
            f"{flag} {path}: {size:,} bytes; ehrcheck reads at most {limit // 1024:,} KB from such a file "
            "(a real one is a few KB): is it the right file?"
        )


def _open_for_reading(path: Path) -> BinaryIO:
    """`path` opened for reading without waiting for a writer: opening a named pipe (FIFO) that
    nobody writes to blocks forever in open(2), so `score fifo` hung. O_NONBLOCK makes the open
    return at once; it is cleared again, so a pipe that does have a writer is read to its end
    (one with none reads as empty, and the caller reports an empty file)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text_capped(path: Path, where: str, limit: int = MAX_USER_FILE_BYTES) -> str:
    """The UTF-8 text of `path`, read at most `limit` bytes far: `stat()` says 0 bytes for a
    device or a pipe, so `check_size` alone let `--claims /dev/zero` read until memory ran out.
    Raises UserInputError past the cap; OSError and UnicodeDecodeError as `read_text` would."""
    with _open_for_reading(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UserInputError(
            f"{where}: more than {limit // 1024:,} KB; ehrcheck reads at most that much from such a file: is it the right file?"
        )
    return data.decode("utf-8")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when JSON-like `value` nests more than `limit` containers deep (iterative: a value
    too deep for recursion is exactly what it must survive). One level at a time, holding only
    the containers: a statement's thousands of strings are looked at once and never stacked."""
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        if depth >= limit:
            return True
        below: list[Any] = []
        for current in level:
            for child in current.values() if isinstance(current, dict) else current:
                if isinstance(child, dict | list):
                    below.append(child)
        level = below
        depth += 1
    return False


# For JSON text already parsed: its strings (with their escapes), and everything but brackets.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIR = re.compile(r"\[\]|\{\}")


def text_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """too_deep() for the *text* of a value json.loads accepted, without walking the value: with
    strings removed, each round deletes the innermost bracket pairs (one regex pass in C), so
    the brackets are gone within `limit` rounds exactly when nothing nests deeper than `limit`."""
    # Without an escaped quote, the text between every other '"' is outside the strings.
    outside = "".join(text.split('"')[::2]) if '\\"' not in text else _JSON_STRING.sub("", text)
    skeleton = _NOT_BRACKET.sub("", outside)
    for _ in range(limit):
        if not skeleton:
            return False
        skeleton = _INNERMOST_PAIR.sub("", skeleton)
    return bool(skeleton)


def _line(event: Any) -> int:  # a yaml.Event
    """The 1-based line an event starts on (the parser always sets the mark; the stubs allow None)."""
    return event.start_mark.line + 1 if event.start_mark else 1


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(value: Any) -> Any:
    """`value` (JSON-like) with every lone UTF-16 surrogate replaced by U+FFFD. JSON's `\\ud800`
    escape and YAML's decode to such strings, which no UTF-8 writer can encode: replacing them
    where bytes become text keeps every later writer (evidence, reports, stdout) safe."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[Any] = [value]
    while stack:  # iterative: depth is bounded elsewhere, but recursion is not needed here
        current = stack.pop()
        items = list(current.items()) if isinstance(current, dict) else list(enumerate(current))
        for key, child in items:
            if isinstance(child, str):
                if _SURROGATE.search(child):
                    current[key] = _SURROGATE.sub("\ufffd", child)
            elif isinstance(child, dict | list):
                stack.append(child)
            if isinstance(current, dict) and isinstance(key, str) and _SURROGATE.search(key):
                current[_SURROGATE.sub("\ufffd", key)] = current.pop(key)
    return root[0]


# How JSON text can decode to a lone surrogate: a \uD800-\uDFFF escape; in a str, the character
# itself; in bytes, its UTF-8 encoding (json.loads decodes bytes with 'surrogatepass').
_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")
_SURROGATE_IN_BYTES = re.compile(rb"\\[uU][dD][89a-fA-F]|\xed[\xa0-\xbf]")


def may_hold_surrogates(raw: bytes | str) -> bool:
    """Cheap pre-check for without_lone_surrogates(): False only when the JSON text cannot
    decode to a lone surrogate. Bytes in UTF-16 or UTF-32 (which json.loads detects by a BOM or
    NUL bytes at the start) can hold them anywhere, so they are always walked."""
    if isinstance(raw, bytes):
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4]:
            return True
        return _SURROGATE_IN_BYTES.search(raw) is not None
    if _SURROGATE_ESCAPE.search(raw):
        return True
    try:  # a surrogate character itself: the one thing UTF-8 cannot encode (faster than a search)
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def yaml_refusal(text: str, limit: int = MAX_DEPTH) -> tuple[int, str] | None:
    """(line, why) when `text` is refused (an alias, or nesting deeper than `limit`); None if it
    is acceptable or not valid YAML at all (the caller's parser reports syntax errors)."""
    import yaml  # here, not at the top: scoring an evidence file (JSON) never needs it

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                return _line(event), (
                    f"uses the YAML alias *{event.anchor}; write the value out in full (ehrcheck does not accept aliases)"
                )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit:
                    return _line(event), f"nests more than {limit} levels deep"
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


def refuse_hazardous_yaml(text: str, where: str) -> None:
    """Raise UserInputError `where:line: why` for YAML that `yaml_refusal` refuses."""

    refusal = yaml_refusal(text)
    if refusal:
        raise UserInputError(f"{where}:{refusal[0]}: {refusal[1]}")


def duplicate_key(text: str) -> tuple[int, str, int] | None:
    """(line, key, first line) of the first mapping key given twice in `text`, or None. PyYAML
    keeps the last value without a word, so `rule:` written twice in a waiver waived the second
    rule while the file read as the first. Call after `yaml_refusal` (no aliases, bounded depth)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None  # the parser reports it
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    first = seen.setdefault((key.tag, key.value), line)
                    if first != line:
                        return line, key.value, first
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def read_user_yaml(path: Path, flag: str, quote_problem: bool = True) -> tuple[str, Any]:
    """Read a YAML file the user handed us: (text, parsed value), or one UserInputError naming
    the file (and line:column for syntax errors). `quote_problem=False` for files that may hold
    secrets, where PyYAML's problem text could echo the offending line."""

    check_size(path, flag)
    try:
        text = read_text_capped(path, f"{flag} {path}")
    except FileNotFoundError:
        raise UserInputError(f"{flag} {path}: cannot read: no such file") from None
    except OSError as exc:
        raise UserInputError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{flag} {path}: is not UTF-8 text") from None
    refuse_hazardous_yaml(text, str(path))  # aliases and deep nesting, before the recursive parser
    twice = duplicate_key(text)
    if twice:
        line, key, first = twice
        from ehrcheck.files.yaml_values import key_shown

        shown = f"'{key[:60]}'" if quote_problem else key_shown(key).replace("an unknown key", "a key")
        raise UserInputError(f"{path}:{line}: {shown} given twice in one mapping (first on line {first}); keep one")
    import yaml

    from ehrcheck.files.yaml_values import BadValue, UserLoader

    try:
        return text, without_lone_surrogates(yaml.load(text, Loader=UserLoader))  # noqa: S506 - a SafeLoader subclass
    except BadValue as exc:  # 2026-02-30, `!!bool text`, `!!timestamp x`: located at the value
        raise UserInputError(bad_value_message(exc, path, quote=quote_problem)) from None
    except ValueError:  # not expected past UserLoader; kept so a parser surprise stays a message
        raise UserInputError(impossible_date_message(text, path, quote=quote_problem)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if not quote_problem:
            raise UserInputError(f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML") from None
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise UserInputError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d-])", re.ASCII)


def bad_value_message(exc: Any, where: object, quote: bool = True) -> str:
    """`where:line: why` for a yaml_values.BadValue: an impossible date or an overlong number in
    the words the other readers use, else what yaml_values says (the value quoted only if `quote`)."""
    import datetime as dt

    from ehrcheck.files.yaml_values import bad_value_problem

    line = exc.mark.line + 1
    text = exc.text
    if exc.tag == "!!timestamp" and text is not None and (date := _DATE.match(text)):
        try:
            dt.date(*(int(g) for g in date.groups()))
        except ValueError:
            shown = f"'{date.group()}'" if quote else "a value (not shown: this file may hold secrets)"
            return f"{where}:{line}: {shown} is not a real date; check the month and day (YYYY-MM-DD)"
    if exc.tag == "!!int" and text is not None and len(re.sub(r"\D", "", text, flags=re.ASCII)) > INT_DIGITS:
        return f"{where}:{line}: a number with more than {INT_DIGITS} digits; no ehrcheck setting needs one"
    column = f":{exc.mark.column + 1}" if quote else ""
    return f"{where}:{line}{column}: not valid YAML: {bad_value_problem(exc, quote)}"


def impossible_date_message(text: str, where: object, quote: bool = True) -> str:
    """`where:line: 'value' is not a real date ...` for the first date-shaped value in `text`
    that the calendar refuses (what makes PyYAML's date constructor raise ValueError); with
    `quote=False` (a file that may hold secrets: a token can look like a date) the value is not shown."""
    import datetime as dt

    for n, line in enumerate(text.splitlines(), 1):
        for match in _DATE.finditer(line):
            try:
                dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                shown = f"'{match.group()}'" if quote else "a value (not shown: this file may hold secrets)"
                return f"{where}:{n}: {shown} is not a real date; check the month and day (YYYY-MM-DD)"
    for n, line in enumerate(text.splitlines(), 1):
        if re.search(rf"\d{{{INT_DIGITS}}}", line):
            return f"{where}:{n}: a number with more than {INT_DIGITS} digits; no ehrcheck setting needs one"
    return f"{where}: a value YAML reads as a date or number is not one (check dates are real, as YYYY-MM-DD)"


def read_user_json(path: Path, where: str, kind: str) -> Any:
    """Read a JSON file the user handed us, or raise one UserInputError that starts with `where`
    (the path, or `--flag path`) and says why the file is not `kind` ("an evidence file ...").
    Nesting is bounded both ways: past Python's parser (RecursionError) and past MAX_DEPTH,
    beyond which the code reading the value would recurse too deep."""
    try:
        text = read_text_capped(path, where, MAX_JSON_FILE_BYTES)
    except OSError as exc:
        raise UserInputError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{where}: not UTF-8 text, so not {kind}") from None
    too_deep_message = f"{where}: nests more than {MAX_DEPTH} levels deep, so not {kind}"
    containers, values = json_counts(text)
    if containers > MAX_JSON_CONTAINERS or values > MAX_JSON_VALUES:
        raise UserInputError(
            f"{where}: holds over {MAX_JSON_CONTAINERS:,} objects and arrays or {MAX_JSON_VALUES:,} values "
            f"({containers:,} and {values:,}), more than {kind} ever does"
        )
    try:
        data = json_loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise UserInputError(too_deep_message) from None
    if too_deep(data):
        raise UserInputError(too_deep_message)
    return data  # json_loads replaced any lone surrogate
