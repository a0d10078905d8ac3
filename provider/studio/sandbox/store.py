"""Studio's tables over the kit's store (one SQLite file, WAL, one transaction per request,
owner-only files, the size limit).

Every object belongs to one team (`team_id`), and every listing is read through a
`(team_id, seq)` index, so a team's listing costs the same however much other teams hold. The
references between objects are foreign keys, so the database itself keeps them whole: deleting a
group deletes its members and the rules naming it; pipelines are never deleted (the API has no
delete), so schedules and jobs never point at nothing.

`seq` is a global insertion counter: listings come in creation order (or its reverse), stably.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from ..._kit.sandbox.store import Db, Store, store_of

__all__ = ["DDL", "Db", "Store", "doc_of", "iso", "iso_now", "new_uuid", "next_seq", "open_store", "store_of", "text_of"]

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS st_teams (
    team_id INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS st_users (
    user_id    INTEGER PRIMARY KEY,
    username   TEXT NOT NULL UNIQUE,
    email      TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL DEFAULT '',
    last_name  TEXT NOT NULL DEFAULT '',
    superuser  INTEGER NOT NULL DEFAULT 0
);
-- Who is in which team, and as what: `admin` manages the team's access groups and rules.
CREATE TABLE IF NOT EXISTS st_team_members (
    team_id INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES st_users(user_id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX IF NOT EXISTS st_team_members_by_user ON st_team_members(user_id);
-- Tokens are kept as SHA-256 hashes only. `kind` is `bootstrap` (the seeded one), `user` or `device`.
CREATE TABLE IF NOT EXISTS st_tokens (
    token_hash      TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES st_users(user_id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    default_team_id INTEGER REFERENCES st_teams(team_id) ON DELETE SET NULL,
    all_teams       INTEGER NOT NULL DEFAULT 1,
    created         REAL NOT NULL,
    expires         REAL
);
CREATE INDEX IF NOT EXISTS st_tokens_by_user ON st_tokens(user_id);
-- The teams a token is limited to (when `all_teams` is 0).
CREATE TABLE IF NOT EXISTS st_token_teams (
    token_hash TEXT NOT NULL REFERENCES st_tokens(token_hash) ON DELETE CASCADE,
    team_id    INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    PRIMARY KEY (token_hash, team_id)
);
CREATE TABLE IF NOT EXISTS st_device_logins (
    device_hash    TEXT PRIMARY KEY,
    user_code_hash TEXT NOT NULL UNIQUE,
    request        TEXT NOT NULL,
    created        REAL NOT NULL,
    expires        REAL NOT NULL,
    user_id        INTEGER REFERENCES st_users(user_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS st_clusters (
    id                INTEGER PRIMARY KEY,
    team_id           INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    is_default        INTEGER NOT NULL DEFAULT 0,
    doc               TEXT NOT NULL,
    UNIQUE (team_id, name)
);
CREATE TABLE IF NOT EXISTS st_files (
    id       INTEGER PRIMARY KEY,
    team_id  INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    size     INTEGER NOT NULL,
    sha256   TEXT NOT NULL,
    created  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS st_jobs (
    id          TEXT PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL UNIQUE,
    created_by  INTEGER NOT NULL REFERENCES st_users(user_id),
    cluster_id  INTEGER REFERENCES st_clusters(id),
    rerun_from  TEXT REFERENCES st_jobs(id),
    created     REAL NOT NULL,
    start_at    REAL NOT NULL,
    cron        TEXT,
    ended       REAL,
    end_status  TEXT,
    doc         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS st_jobs_by_team ON st_jobs(team_id, seq);
CREATE INDEX IF NOT EXISTS st_jobs_by_rerun ON st_jobs(rerun_from);
CREATE TABLE IF NOT EXISTS st_job_files (
    job_id  TEXT NOT NULL REFERENCES st_jobs(id) ON DELETE CASCADE,
    file_id INTEGER NOT NULL REFERENCES st_files(id),
    PRIMARY KEY (job_id, file_id)
);
CREATE INDEX IF NOT EXISTS st_job_files_by_file ON st_job_files(file_id);
CREATE TABLE IF NOT EXISTS st_pipelines (
    id            TEXT PRIMARY KEY,
    team_id       INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    seq           INTEGER NOT NULL UNIQUE,
    status        TEXT NOT NULL,
    is_definition INTEGER NOT NULL,
    definition_id TEXT REFERENCES st_pipelines(id),
    created_by    INTEGER NOT NULL REFERENCES st_users(user_id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    doc           TEXT NOT NULL,
    UNIQUE (team_id, name)
);
CREATE INDEX IF NOT EXISTS st_pipelines_by_team ON st_pipelines(team_id, seq);
CREATE INDEX IF NOT EXISTS st_pipelines_by_definition ON st_pipelines(definition_id);
CREATE TABLE IF NOT EXISTS st_schedules (
    id              INTEGER PRIMARY KEY,
    team_id         INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    pipeline_id     TEXT NOT NULL REFERENCES st_pipelines(id),
    schedule_name   TEXT NOT NULL,
    start_after     TEXT NOT NULL,
    cron_expression TEXT NOT NULL,
    created_by      INTEGER NOT NULL REFERENCES st_users(user_id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    seq             INTEGER NOT NULL UNIQUE,
    UNIQUE (team_id, schedule_name)
);
CREATE INDEX IF NOT EXISTS st_schedules_by_team ON st_schedules(team_id, seq);
CREATE INDEX IF NOT EXISTS st_schedules_by_pipeline ON st_schedules(pipeline_id, seq);
CREATE TABLE IF NOT EXISTS st_groups (
    id          TEXT PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    seq         INTEGER NOT NULL UNIQUE,
    UNIQUE (team_id, name)
);
CREATE INDEX IF NOT EXISTS st_groups_by_team ON st_groups(team_id, seq);
CREATE TABLE IF NOT EXISTS st_group_members (
    group_id TEXT NOT NULL REFERENCES st_groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES st_users(user_id) ON DELETE CASCADE,
    role     TEXT NOT NULL,
    seq      INTEGER NOT NULL UNIQUE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS st_group_members_by_group ON st_group_members(group_id, seq);
CREATE INDEX IF NOT EXISTS st_group_members_by_user ON st_group_members(user_id);
-- What access rules point at (namespaces, projects, datasets): the sandbox has none of its own,
-- so a resource is registered the first time a rule names it.
CREATE TABLE IF NOT EXISTS st_resources (
    id            INTEGER PRIMARY KEY,
    team_id       INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    uuid          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    UNIQUE (team_id, resource_type, name)
);
CREATE TABLE IF NOT EXISTS st_rules (
    id          TEXT PRIMARY KEY,
    team_id     INTEGER NOT NULL REFERENCES st_teams(team_id) ON DELETE CASCADE,
    resource_id INTEGER NOT NULL REFERENCES st_resources(id),
    permission  TEXT NOT NULL,
    user_id     INTEGER REFERENCES st_users(user_id) ON DELETE CASCADE,
    group_id    TEXT REFERENCES st_groups(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL UNIQUE,
    CHECK (user_id IS NOT NULL OR group_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS st_rules_by_team ON st_rules(team_id, seq);
CREATE INDEX IF NOT EXISTS st_rules_by_group ON st_rules(group_id);
CREATE INDEX IF NOT EXISTS st_rules_by_user ON st_rules(user_id);
CREATE UNIQUE INDEX IF NOT EXISTS st_rules_unique
    ON st_rules(resource_id, COALESCE(user_id, -1), COALESCE(group_id, ''));
"""


def open_store(path: str) -> Store:
    return Store(path, ddl=[DDL], schema_version=SCHEMA_VERSION)


def new_uuid() -> str:
    return str(uuid.uuid4())


def iso(epoch: float) -> str:
    """ISO-8601 in UTC with microseconds and `Z` (the seed writes `2019-08-24T14:15:22Z`; the CLI
    slices `[:19]`, which both forms survive)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_now() -> str:
    return iso(time.time())


def next_seq(db: Db) -> int:
    value = int(db.get_meta("st_seq") or 1)
    db.set_meta("st_seq", str(value + 1))
    return value


def doc_of(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def text_of(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
