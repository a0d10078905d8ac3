"""Datatailr's tables over the kit's store (`_kit/sandbox/store.py`: one SQLite file, WAL, one
transaction per request, owner-only files, the size limit).

The tables here are the ones several features share (identities, ACLs, tags) and the kit's
session table, whose rows cascade away with their user. Feature modules (jobs, blobs, ...)
bring their own DDL.

Every read of one object is a primary-key or index search, so that it costs the same with ten
objects or ten thousand; indexes are created `IF NOT EXISTS`, so a database written by an older
sandbox gains them when it is opened.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..._kit.sandbox.sessions import sessions_ddl
from ..._kit.sandbox.store import Db, Store, store_of

__all__ = ["CORE_DDL", "SCHEMA_VERSION", "Db", "Store", "open_store", "store_of"]

SCHEMA_VERSION = 2

CORE_DDL = """
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
-- A user's groups, read on every request (the caller's principal) and for every user shown, and
-- the lookup behind the cascade when a user is removed: without it, each is a scan of every
-- membership. (The primary key serves a group's members.)
CREATE INDEX IF NOT EXISTS memberships_by_user ON memberships(user_id, group_id);
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


def open_store(path: str, feature_ddl: Iterable[str] = ()) -> Store:
    # Live sessions (see auth.py): a user's removal removes its sessions.
    return Store(path, ddl=[CORE_DDL, sessions_ddl("users(user_id)"), *feature_ddl], schema_version=SCHEMA_VERSION)
