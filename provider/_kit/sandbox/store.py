"""SQLite storage for every sandbox: one file, one connection, one writer at a time.

One connection guarded by one lock: a request runs its whole read-modify-write inside a single
`BEGIN IMMEDIATE` transaction (`tx`), so concurrent requests serialise instead of interleaving,
and a request that fails or whose client vanishes leaves either all of its writes or none. WAL
mode keeps the file consistent across crashes and restarts.

The file holds password hashes and every secret, so it and its `-wal`/`-shm` files are
owner-only (0600): created so before SQLite opens them, tightened if an older run left them
wider. An optional size limit (`set_max_bytes`) stops the file from growing past a number of
bytes: a write that would need a new page fails with 507 and changes nothing, while reads, and
writes that fit in freed pages (such as deletes), keep working.

The kit owns only the `meta` table (settings, counters, the schema version); each platform
brings its tables as DDL, and the session table comes from `sessions.sessions_ddl`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InsufficientStorage
from .private import prepare_database, tighten_database

__all__ = ["Db", "Store", "Watch", "store_of"]

Params = Sequence[Any] | Mapping[str, Any]

# Room above the size limit for session bookkeeping (log in, log out), so that an administrator
# can still sign in to a full sandbox and remove data. About ten thousand sessions.
SESSION_HEADROOM_BYTES = 1024 * 1024
# The WAL file is truncated back to this size after a checkpoint.
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024

META_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)


class Store:
    """The sandbox's database. `ddl` scripts run at every start (use `IF NOT EXISTS`), in order,
    in one transaction with the schema version."""

    def __init__(self, path: str | Path, ddl: Iterable[str] = (), *, schema_version: int = 1) -> None:
        self.path = str(path)
        self.in_memory = self.path == ":memory:"
        self._lock = threading.RLock()
        self._max_bytes = 0
        self._max_pages = 0
        if not self.in_memory:
            prepare_database(self.path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        if not self.in_memory:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            tighten_database(self.path)  # side files SQLite just created take the file's mode
        self.page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        with self.tx() as db:
            db.executescript_in_tx(META_DDL)
            for script in ddl:
                db.executescript_in_tx(script)
            db.set_meta("schema_version", str(schema_version))

    def seed(self, setup: Callable[[Db], None], max_bytes: int = 0) -> None:
        """First-start work (migrations, seed data) in one transaction, then the size limit: it
        is armed after the seed, so a sandbox already over its limit still starts (read-only in
        effect) instead of failing to seed."""
        with self.tx() as db:
            setup(db)
        self.set_max_bytes(max_bytes)

    # ── size limit ───────────────────────────────────────────────────────────────────────────

    def set_max_bytes(self, max_bytes: int) -> None:
        """Refuse writes that would grow the file beyond `max_bytes` (0: no limit). A file
        already larger keeps its size: reads and writes into freed pages still work."""
        with self._lock:
            self._max_bytes = max(0, int(max_bytes))
            self._max_pages = max(1, self._max_bytes // self.page_size) if self._max_bytes else 0
            if self._max_pages:
                self._set_page_limit(self._max_pages)

    def _set_page_limit(self, pages: int) -> None:
        # SQLite never lowers the limit below the current page count.
        self._conn.execute(f"PRAGMA max_page_count = {int(pages)}")

    # ── transactions ─────────────────────────────────────────────────────────────────────────

    @contextmanager
    def tx(self, *, essential: bool = False) -> Iterator[Db]:
        """A write transaction. Commits on success, rolls back on any exception.

        `essential` writes (session bookkeeping) may use a little room above the size limit."""
        with self._lock:
            raised = essential and self._max_pages
            if raised:
                self._set_page_limit(self._max_pages + SESSION_HEADROOM_BYTES // self.page_size)
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Db(self._conn)
                except BaseException as exc:
                    self._rollback()
                    if isinstance(exc, sqlite3.OperationalError) and _is_full(exc):
                        raise self._full() from exc
                    raise
                else:
                    try:
                        self._conn.execute("COMMIT")
                    except sqlite3.OperationalError as exc:
                        self._rollback()
                        if _is_full(exc):
                            raise self._full() from exc
                        raise
            finally:
                if raised:
                    self._set_page_limit(self._max_pages)

    def _rollback(self) -> None:
        # SQLite may already have rolled back (for instance on SQLITE_FULL).
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _full(self) -> InsufficientStorage:
        if self._max_bytes:
            return InsufficientStorage(
                f"The sandbox database is full (limit {self._max_bytes} bytes, --max-db-bytes): "
                "nothing was changed. Remove data or restart the sandbox with a larger limit."
            )
        return InsufficientStorage("The disk holding the sandbox database is full: nothing was changed.")

    @contextmanager
    def read(self) -> Iterator[Db]:
        """A consistent read: a deferred transaction under the same lock as writers."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield Db(self._conn)
            finally:
                self._rollback()

    @contextmanager
    def watch(self, step: int = 1) -> Iterator[Watch]:
        """Record what the connection does while the block runs: each statement (parameters
        inlined) and the work SQLite spends on it, in virtual-machine instructions (counted in
        units of `step`). For tests and benches that check *how* a request reads (through an index
        or by scanning a table; whether its work grows with the data): timing can only hint at
        that, and these counts are exact and repeatable. Not for production: it slows every
        statement, and whatever runs meanwhile on another thread is counted too."""
        watch = Watch()

        def started(sql: str) -> None:
            watch.statements.append(sql)
            watch.steps_by_statement.append(0)

        def progress() -> int:
            if watch.steps_by_statement:
                watch.steps_by_statement[-1] += step
            return 0  # never interrupt

        with self._lock:
            self._conn.set_trace_callback(started)
            self._conn.set_progress_handler(progress, step)
        try:
            yield watch
        finally:
            with self._lock:
                self._conn.set_trace_callback(None)
                self._conn.set_progress_handler(None, step)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it."""
        if not self.in_memory:
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@dataclass
class Watch:
    """What `Store.watch` saw: the statements run, in order, and the SQLite virtual-machine
    instructions each one spent (until the next one started)."""

    statements: list[str] = field(default_factory=list)
    steps_by_statement: list[int] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return sum(self.steps_by_statement)


class Db:
    """The connection as seen inside a transaction, with a few conveniences."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Any]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Params = ()) -> Any:
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

    def allocate(self, counter: str, table: str, column: str, first: int) -> int:
        """A new id for `table.column` that was never used before, even by a row since deleted
        (the `meta` key `counter` holds the next one), so that an id kept by some client, or in
        a session token, can never name a newcomer. `table` and `column` are the platform's
        constants, never input."""
        next_id = int(self.get_meta(counter) or first)
        top = self.scalar(f"SELECT MAX({column}) FROM {table}") or 0
        new_id = max(next_id, top + 1, first)
        self.set_meta(counter, str(new_id + 1))
        return new_id


def store_of(request: Any) -> Store:
    """The store of the app serving `request` (set by `app.assemble`)."""
    store: Store = request.app.state.store
    return store
