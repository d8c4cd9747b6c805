"""One small interface over the two databases a scan can record into.

- A path: a SQLite file through the standard library; the embedded default.
- `postgresql://user@host:port/db` (or `postgres://`): PostgreSQL through psycopg 3, the optional
  `ehrcheck[postgres]` extra — for teams, and for sharded scans writing one run from many machines.

SQL is written once with `?` placeholders (none of the statements contains a literal `?`); for
PostgreSQL they become `%s`. A password in the URL is never shown: messages use `shown`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from ehrcheck.errors import UserInputError

POSTGRES_SCHEMES = ("postgresql", "postgres")


def redact_url(target: str) -> str:
    """The URL without its password (and without query options, which may carry one)."""
    try:
        parts = urlsplit(target)
        netloc = parts.netloc.rsplit("@", 1)
        if len(netloc) == 2:
            user = netloc[0].split(":", 1)[0]
            host = f"{user}@{netloc[1]}" if user else netloc[1]
        else:
            host = netloc[0]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(an unparsable database URL)"


class Cursor(Protocol):
    """The DB-API cursor calls Database makes; sqlite3's and psycopg's cursors both have them."""

    def execute(self, sql: str, params: tuple[Any, ...], /) -> Any: ...
    def executemany(self, sql: str, rows: list[Sequence[Any]], /) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int, /) -> list[Any]: ...


class Connection(Protocol):
    """A DB-API connection: a sqlite3.Connection or a psycopg.Connection."""

    def cursor(self) -> Cursor: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class BadValue(ValueError):
    """A value in the database that ehrcheck never writes (a count that is not a number): the
    database is someone else's file, so this is one exit-2 line naming it, never a traceback."""


def as_int(value: Any, what: str) -> int:
    """A count or id read back: SQLite stores any type in any column, so 'many' in a count column
    is refused here rather than by int() deep in a query."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadValue(f"{what} is {type(value).__name__}, not a number")
    try:
        return int(value)
    except (ValueError, OverflowError):
        raise BadValue(f"{what} is {str(value)[:40]!r}, not a number") from None


def _text(value: Any) -> Any:
    """SQLite hands back a BLOB as bytes whatever the column says: read as text (undecodable
    bytes, a surrogate's among them, become U+FFFD) so every writer, JSON included, can use it."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _row(row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_text(v) for v in row)


class Database:
    def __init__(self, conn: Connection, dialect: str, shown: str):
        self.conn = conn
        self.dialect = dialect  # "sqlite" or "postgres"
        self.shown = shown

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def _params(self, params: Sequence[Any]) -> tuple[Any, ...]:
        """PostgreSQL text cannot hold NUL, and a server's strings (its SMART capabilities, its
        error texts) may: one NUL failed the whole scan's recording. It is spelled out as the
        terminal and the reports show it (`\\x00`); SQLite stores text as given."""
        if self.dialect != "postgres":
            return tuple(params)
        return tuple(p.replace("\x00", "\\x00") if isinstance(p, str) and "\x00" in p else p for p in params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cur = self.conn.cursor()
        cur.execute(self._sql(sql), self._params(params))
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        cur = self.conn.cursor()
        cur.executemany(self._sql(sql), [self._params(row) for row in rows])

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        """The rows in batches of `size`, never all in memory: psycopg's ordinary cursor fetches
        the whole result at execute (a run of 20,000 endpoints at once), so PostgreSQL reads
        through a server-side cursor; sqlite3's cursor already steps through the rows."""
        cur: Any = self.conn.cursor(name="ehrcheck_stream") if self.dialect == "postgres" else self.conn.cursor()  # type: ignore[call-arg]
        try:
            cur.execute(self._sql(sql), tuple(params))
            while batch := cur.fetchmany(size):
                yield [_row(r) for r in batch]
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [_row(r) for r in self.execute(sql, params).fetchall()]

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def is_postgres(target: str) -> bool:
    return target.split("://", 1)[0].lower() in POSTGRES_SCHEMES if "://" in target else False


def _passwords(target: str) -> set[str]:
    """Every password `target` carries, found by hand rather than by urlsplit: the URLs whose
    driver errors quote them most (an unbalanced `[` in the host) are the ones urlsplit refuses,
    so the password was left in the message. The user-info's, and `password=` query options."""
    rest = target.split("://", 1)[-1]
    userinfo = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[0]
    found = {userinfo.split(":", 1)[1]} if ":" in userinfo else set()
    found.update(m.group(1) for m in re.finditer(r"(?:^|[?&\s])password=([^&#\s]+)", rest, re.IGNORECASE))
    return {v for p in found for v in (p, unquote(p)) if v}


def _scrub(message: str, target: str) -> str:
    """A driver message without the password, should it quote the connection string."""
    text = message.replace(target, redact_url(target)) if target else message
    for password in sorted(_passwords(target), key=len, reverse=True):
        text = text.replace(password, "***")
    return re.sub(r"\s+", " ", text).strip()


# libpq's other form, `host=db port=5432 password=…`: taken as a SQLite file name it was echoed,
# password and all, in "no such file" (and would have become a file of that name).
_CONNINFO = re.compile(r"^\s*[a-z_]+\s*=", re.IGNORECASE)


def refuse_conninfo(target: str) -> None:
    if _CONNINFO.match(target):
        raise UserInputError(
            "--db: a 'key=value' connection string is not taken (its text is not printed: it may hold a "
            "password); give a SQLite file path or a postgresql:// URL, with the password in PGPASSWORD or ~/.pgpass"
        )


def open_database(target: str) -> Database:
    """Open (creating a SQLite file if needed) the database `--db` names; exit-2 errors otherwise."""
    text = str(target).strip()
    refuse_conninfo(text)
    if is_postgres(text):
        shown = redact_url(text)
        try:
            import psycopg
        except ImportError:
            raise UserInputError(f"--db {shown}: PostgreSQL needs the psycopg driver: pip install 'ehrcheck[postgres]'") from None
        try:
            pg = psycopg.connect(text, connect_timeout=10)
        except psycopg.Error as exc:
            raise UserInputError(f"--db {shown}: cannot connect to PostgreSQL: {_scrub(str(exc), text)}") from None
        return Database(pg, "postgres", shown)
    if "://" in text:
        raise UserInputError(f"--db {redact_url(text)}: use a file path (SQLite) or a postgresql:// URL")
    path = Path(text)
    if path.is_dir():
        raise UserInputError(f"--db {path}: is a folder; give a file name such as {path / 'ehrcheck.sqlite'}")
    if not path.parent.is_dir():
        raise UserInputError(f"--db {path}: folder {path.parent} does not exist")
    try:
        lite = sqlite3.connect(path, timeout=30)
        lite.execute("PRAGMA journal_mode=WAL")  # readers (history) do not block a scan writing
        lite.execute("PRAGMA synchronous=NORMAL")
        lite.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise UserInputError(f"--db {path}: not a usable SQLite database: {exc}") from None
    return Database(lite, "sqlite", str(path))


def database_errors() -> tuple[type[BaseException], ...]:
    """The driver exceptions a query can raise, for turning them into one exit-2 line."""
    errors: list[type[BaseException]] = [sqlite3.Error, BadValue]
    try:
        import psycopg

        errors.append(psycopg.Error)
    except ImportError:
        pass
    return tuple(errors)
