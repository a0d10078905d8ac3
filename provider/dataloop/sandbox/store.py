"""Dataloop's tables over the kit's store (one SQLite file, WAL, one transaction per request,
owner-only files, the size limit).

Identity and access (users, orgs, groups, memberships) are plain rows: the sandbox joins on them
for every request. The piper objects (datasets, packages, services, triggers, pipelines) are one
row each holding the wire document as JSON (`doc`), with the columns the sandbox searches or
joins on beside it: the project (every listing is read through the `(project_id, seq)` index,
so a project's page costs the same however many objects other projects hold) and the objects a
document references, as foreign keys, so that the database itself keeps references whole
(deleting a service deletes its triggers; deleting a project deletes everything in it).

`seq` is a global insertion counter: listings come in creation order, stably.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from ..._kit.sandbox.sessions import sessions_ddl
from ..._kit.sandbox.store import Db, Store, store_of

__all__ = ["DDL", "Db", "Store", "doc_of", "iso_now", "new_id", "next_seq", "now_ms", "open_store", "store_of",
           "text_of"]

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS dl_users (
    user_id       INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    first_name    TEXT NOT NULL DEFAULT '',
    last_name     TEXT NOT NULL DEFAULT '',
    superuser     INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dl_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES dl_users(user_id) ON DELETE CASCADE,
    expires    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_refresh_by_user ON dl_refresh_tokens(user_id);
CREATE TABLE IF NOT EXISTS dl_orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    creator    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dl_org_members (
    org_id     TEXT NOT NULL REFERENCES dl_orgs(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES dl_users(user_id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX IF NOT EXISTS dl_org_members_by_user ON dl_org_members(user_id, org_id);
CREATE TABLE IF NOT EXISTS dl_groups (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES dl_orgs(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    owner_id             INTEGER REFERENCES dl_users(user_id) ON DELETE SET NULL,
    creator              TEXT NOT NULL,
    default_project_role TEXT,
    created_ms           INTEGER NOT NULL,
    updated_ms           INTEGER NOT NULL,
    seq                  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_groups_by_org ON dl_groups(org_id, seq);
CREATE TABLE IF NOT EXISTS dl_group_members (
    group_id TEXT NOT NULL REFERENCES dl_groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES dl_users(user_id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS dl_group_members_by_user ON dl_group_members(user_id, group_id);
CREATE TABLE IF NOT EXISTS dl_projects (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES dl_orgs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    creator    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_projects_by_org ON dl_projects(org_id, seq);
CREATE INDEX IF NOT EXISTS dl_projects_by_name ON dl_projects(name, seq);
CREATE TABLE IF NOT EXISTS dl_project_members (
    project_id TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES dl_users(user_id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX IF NOT EXISTS dl_project_members_by_user ON dl_project_members(user_id, project_id);
CREATE TABLE IF NOT EXISTS dl_project_groups (
    project_id TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    group_id   TEXT NOT NULL REFERENCES dl_groups(id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (project_id, group_id)
);
CREATE INDEX IF NOT EXISTS dl_project_groups_by_group ON dl_project_groups(group_id, project_id);
-- Integrations keep a fingerprint of their secret options, never the options: nothing in the
-- sandbox needs the secret, so nothing can leak it.
CREATE TABLE IF NOT EXISTS dl_integrations (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES dl_orgs(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL,
    creator        TEXT NOT NULL,
    options_sha256 TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    seq            INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_integrations_by_org ON dl_integrations(org_id, seq);
CREATE TABLE IF NOT EXISTS dl_datasets (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_datasets_by_project ON dl_datasets(project_id, seq);
CREATE TABLE IF NOT EXISTS dl_packages (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_packages_by_project ON dl_packages(project_id, seq);
-- A package's revisions (each version pushed), for `packageRevision` on services.
CREATE TABLE IF NOT EXISTS dl_package_revisions (
    package_id TEXT NOT NULL REFERENCES dl_packages(id) ON DELETE CASCADE,
    version    TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (package_id, version)
);
CREATE TABLE IF NOT EXISTS dl_bots (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_bots_by_project ON dl_bots(project_id, seq);
-- A package in use cannot go (RESTRICT): a service would run code that is not there.
CREATE TABLE IF NOT EXISTS dl_services (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    package_id TEXT NOT NULL REFERENCES dl_packages(id) ON DELETE RESTRICT,
    name       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_services_by_project ON dl_services(project_id, seq);
CREATE INDEX IF NOT EXISTS dl_services_by_package ON dl_services(package_id);
-- The integrations a service uses (its `secrets` and `integrations[].value`); an integration in
-- use cannot be deleted.
CREATE TABLE IF NOT EXISTS dl_service_secrets (
    service_id     TEXT NOT NULL REFERENCES dl_services(id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL REFERENCES dl_integrations(id) ON DELETE RESTRICT,
    PRIMARY KEY (service_id, integration_id)
);
CREATE INDEX IF NOT EXISTS dl_service_secrets_by_integration ON dl_service_secrets(integration_id);
CREATE TABLE IF NOT EXISTS dl_pipelines (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_pipelines_by_project ON dl_pipelines(project_id, seq);
-- A trigger runs a service's function or a pipeline: it goes with its target.
CREATE TABLE IF NOT EXISTS dl_triggers (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES dl_projects(id) ON DELETE CASCADE,
    service_id  TEXT REFERENCES dl_services(id) ON DELETE CASCADE,
    pipeline_id TEXT REFERENCES dl_pipelines(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dl_triggers_by_project ON dl_triggers(project_id, seq);
CREATE INDEX IF NOT EXISTS dl_triggers_by_service ON dl_triggers(service_id);
CREATE INDEX IF NOT EXISTS dl_triggers_by_pipeline ON dl_triggers(pipeline_id);
"""


def open_store(path: str) -> Store:
    return Store(path, ddl=[DDL, sessions_ddl("dl_users(user_id)")], schema_version=SCHEMA_VERSION)


def new_id() -> str:
    """A fresh 24-hex id, shaped like Dataloop's Mongo ObjectIds."""
    return secrets.token_hex(12)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_now() -> str:
    """ISO-8601 with milliseconds and `Z`, as the piper objects carry it."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def next_seq(db: Db) -> int:
    """The next value of the global insertion counter."""
    value = int(db.get_meta("dl_seq") or 1)
    db.set_meta("dl_seq", str(value + 1))
    return value


def doc_of(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def text_of(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
