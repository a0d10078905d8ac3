"""DSS's tables over the kit's store (`_kit/sandbox/store.py`: one SQLite file, WAL, one
transaction per request, owner-only files, the size limit).

Every object is one row holding its whole settings document as JSON text (`doc`), exactly as the
last client wrote it: the read-modify-write model (contract §2.6) needs every field a client sent,
known or not, to come back on the next read. Columns beside `doc` are only what the sandbox
searches or joins on (a user's groups, a project's owner, an API key's hash). Every read of one
object is a primary-key search, so it costs the same with ten objects or ten thousand.
"""

from __future__ import annotations

import time
from typing import Any

from ..._kit.sandbox.store import Db, Store, store_of
from .wire import dumps, loads

__all__ = ["DDL", "SCHEMA_VERSION", "Db", "Store", "doc_of", "now_ms", "open_store", "store_of", "text_of"]

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS dss_groups (
    name     TEXT PRIMARY KEY,
    is_admin INTEGER NOT NULL DEFAULT 0,
    doc      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dss_users (
    login         TEXT PRIMARY KEY,
    enabled       INTEGER NOT NULL DEFAULT 1,
    password_hash TEXT,
    doc           TEXT NOT NULL
);
-- A user's groups (the primary key) and a group's members (the index): the caller's groups are
-- read on every request made with a personal key, a group's removal ends its memberships.
CREATE TABLE IF NOT EXISTS dss_memberships (
    login      TEXT NOT NULL REFERENCES dss_users(login) ON DELETE CASCADE,
    group_name TEXT NOT NULL REFERENCES dss_groups(name) ON DELETE CASCADE,
    PRIMARY KEY (login, group_name)
);
CREATE INDEX IF NOT EXISTS dss_memberships_by_group ON dss_memberships(group_name, login);
CREATE TABLE IF NOT EXISTS dss_connections (
    name TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    doc  TEXT NOT NULL
);
-- Singleton documents (the instance variables).
CREATE TABLE IF NOT EXISTS dss_documents (
    name TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dss_projects (
    project_key TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created     INTEGER NOT NULL,
    metadata    TEXT NOT NULL,
    settings    TEXT NOT NULL,
    permissions TEXT NOT NULL,
    variables   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dss_scenarios (
    project_key TEXT NOT NULL REFERENCES dss_projects(project_key) ON DELETE CASCADE,
    scenario_id TEXT NOT NULL,
    doc         TEXT NOT NULL,
    payload     TEXT,
    PRIMARY KEY (project_key, scenario_id)
);
CREATE TABLE IF NOT EXISTS dss_code_envs (
    env_lang TEXT NOT NULL,
    env_name TEXT NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (env_lang, env_name)
);
CREATE TABLE IF NOT EXISTS dss_code_env_logs (
    env_lang TEXT NOT NULL,
    env_name TEXT NOT NULL,
    log_name TEXT NOT NULL,
    created  INTEGER NOT NULL,
    text     TEXT NOT NULL,
    PRIMARY KEY (env_lang, env_name, log_name),
    FOREIGN KEY (env_lang, env_name) REFERENCES dss_code_envs(env_lang, env_name) ON DELETE CASCADE
);
-- Long work (code-env builds and updates, project deletions) as DSS futures: `ready_at` is when
-- the job has its result (`result`, JSON).
CREATE TABLE IF NOT EXISTS dss_futures (
    job_id   TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,
    label    TEXT NOT NULL,
    created  REAL NOT NULL,
    ready_at REAL NOT NULL,
    result   TEXT NOT NULL,
    aborted  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS dss_futures_by_owner ON dss_futures(owner);
-- API keys: `key_hash` is a SHA-256 of the secret (the secret itself is shown once, at
-- creation, and never stored). `kind` is bootstrap (the sandbox administrator's key, from the
-- command line), global or personal; a personal key belongs to `login` and goes with its user.
CREATE TABLE IF NOT EXISTS dss_api_keys (
    key_id   TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    login    TEXT REFERENCES dss_users(login) ON DELETE CASCADE,
    created  INTEGER NOT NULL,
    doc      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dss_api_keys_by_kind ON dss_api_keys(kind, login);
"""


def open_store(path: str) -> Store:
    return Store(path, ddl=[DDL], schema_version=SCHEMA_VERSION)


def now_ms() -> int:
    return int(time.time() * 1000)


def doc_of(text: str | None) -> Any:
    """A stored document (None stays None)."""
    return None if text is None else loads(text)


def text_of(doc: Any) -> str:
    return dumps(doc)
