"""SQLite storage for the Datatailr sandbox.

One connection guarded by one lock: every request runs its whole read-modify-write inside a
single `BEGIN IMMEDIATE` transaction, so concurrent requests serialise instead of interleaving,
and a request that fails or whose client vanishes leaves either all of its writes or none.
WAL mode keeps the file consistent across crashes and restarts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1

# Tables shared by every feature. Feature modules (jobs, blobs, ...) bring their own DDL.
CORE_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    user_id       INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    is_system     INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    mimic         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS groups (
    group_id INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS memberships (
    group_id INTEGER NOT NULL REFERENCES groups(group_id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
-- One row per (resource, permission, principal). A principal is a user id (> 0) or a negated
-- group id (< 0), exactly as the wire's ACL dicts encode them. `resource` is an opaque string
-- such as 'kv/dev/0/db_url' owned by the feature that created it.
CREATE TABLE IF NOT EXISTS acl_entries (
    resource   TEXT NOT NULL,
    permission TEXT NOT NULL,
    principal  INTEGER NOT NULL,
    PRIMARY KEY (resource, permission, principal)
);
CREATE INDEX IF NOT EXISTS acl_by_principal ON acl_entries(principal);
-- The CLI form's "others" (everybody) letters per resource; see DECISIONS.md.
CREATE TABLE IF NOT EXISTS acl_others (
    resource TEXT PRIMARY KEY,
    letters  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Store:
    """The sandbox's database: one file, one connection, one writer at a time."""

    def __init__(self, path: str | Path, ddl: Iterable[str] = ()) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        with self.tx() as db:
            db.executescript_in_tx(CORE_DDL)
            for script in ddl:
                db.executescript_in_tx(script)
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def tx(self) -> Iterator[Db]:
        """A write transaction. Commits on success, rolls back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Db(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Db]:
        """A consistent read: a deferred transaction under the same lock as writers."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield Db(self._conn)
            finally:
                self._conn.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Db:
    """The connection as seen inside a transaction, with a few conveniences."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Iterable | dict = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def one(self, sql: str, params: Iterable | dict = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Iterable | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Iterable | dict = ()):
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def executescript_in_tx(self, script: str) -> None:
        # sqlite3.executescript() would COMMIT first; run statement by statement instead. A `;`
        # inside a comment or string does not end a statement, so pieces are joined until
        # SQLite itself calls the statement complete.
        pending = ""
        for piece in script.split(";"):
            pending += piece + ";"
            if sqlite3.complete_statement(pending):
                if pending.strip(" \t\r\n;"):
                    self.conn.execute(pending)
                pending = ""

    def get_meta(self, key: str) -> str | None:
        return self.scalar("SELECT value FROM meta WHERE key = ?", (key,))

    def set_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
