"""Tailer's tables over the kit's store (one SQLite file, WAL, one transaction per request,
owner-only files, the size limit).

- `tl_configurations`: one row per deployed configuration, keyed as the platform keys a deploy
  (account, environment, configuration type, deployed id); `document` is the JSON as deployed
  (sealed secrets stay sealed: the sandbox never stores a plaintext).
- `tl_deploys`: every accepted D8/D10 payload, in order, sealed secrets replaced by their hashes
  (what `GET /_sandbox/deploys` shows tests).
- `tl_runs`: runs of a configuration (T1, `execute_dag`, `/_sandbox/runs`); a run never outlives
  its configuration's row (configurations are never deleted: archive is the only delete).

The signing key, the RSA key and the SHA-256 of the refresh token and API key live in `meta`.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from ..._kit.sandbox.store import Db, Store, store_of

__all__ = ["DDL", "Db", "Store", "iso", "next_seq", "open_store", "store_of", "text_of"]

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS tl_configurations (
    id                 INTEGER PRIMARY KEY,
    account            TEXT NOT NULL,
    environment        TEXT NOT NULL,
    configuration_type TEXT NOT NULL,
    configuration_id   TEXT NOT NULL,
    activated          INTEGER NOT NULL CHECK (activated IN (0, 1)),
    archived           INTEGER NOT NULL CHECK (archived IN (0, 1)),
    deploys            INTEGER NOT NULL CHECK (deploys >= 1),
    project_profile    TEXT,
    document           TEXT NOT NULL,
    created            REAL NOT NULL,
    updated            REAL NOT NULL,
    resets             INTEGER NOT NULL DEFAULT 0,
    seq                INTEGER NOT NULL UNIQUE,
    UNIQUE (account, environment, configuration_type, configuration_id)
);
CREATE INDEX IF NOT EXISTS tl_configurations_by_id ON tl_configurations(configuration_type, configuration_id);
CREATE TABLE IF NOT EXISTS tl_deploys (
    seq      INTEGER PRIMARY KEY,
    route    TEXT NOT NULL,
    config   INTEGER NOT NULL REFERENCES tl_configurations(id),
    payload  TEXT NOT NULL,
    received REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tl_deploys_by_config ON tl_deploys(config);
CREATE TABLE IF NOT EXISTS tl_runs (
    run_id         TEXT PRIMARY KEY,
    seq            INTEGER NOT NULL UNIQUE,
    config         INTEGER NOT NULL REFERENCES tl_configurations(id),
    job_id         TEXT NOT NULL,
    status         TEXT NOT NULL,
    execution_date TEXT NOT NULL,
    started        REAL NOT NULL,
    finish_at      REAL,
    updated        REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tl_runs_by_config ON tl_runs(config, seq);
CREATE INDEX IF NOT EXISTS tl_runs_by_status ON tl_runs(status, seq);
CREATE INDEX IF NOT EXISTS tl_runs_pending ON tl_runs(finish_at) WHERE finish_at IS NOT NULL;
"""


def open_store(path: str) -> Store:
    return Store(path, ddl=[DDL], schema_version=SCHEMA_VERSION)


def iso(epoch: float) -> str:
    """`2020-12-30T11:28:43.861340+00:00`, as the docs' Run shows `start_execution_date`."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def next_seq(db: Db) -> int:
    value = int(db.get_meta("tl_seq") or 1)
    db.set_meta("tl_seq", str(value + 1))
    return value


def text_of(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def now() -> float:
    return time.time()
