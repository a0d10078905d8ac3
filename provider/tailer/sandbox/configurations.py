"""Deployed configurations and what is recorded about each deploy, shared by the proxy (D8,
D10), the ops API (T1-T7) and the test-only routes."""

from __future__ import annotations

import json
from typing import Any

from .crypto import Keys, redact
from .store import Db, next_seq, now, text_of

__all__ = ["find", "record_deploy", "upsert"]


def find(db: Db, account: str, environment: str, kind: str, configuration_id: str) -> Any:
    return db.one("SELECT * FROM tl_configurations WHERE account = ? AND environment = ? AND configuration_type = ? "
                  "AND configuration_id = ?", (account, environment, kind, configuration_id))


def upsert(db: Db, *, account: str, environment: str, kind: str, configuration_id: str, document: dict[str, Any],
           project_profile: str | None) -> int:
    """Deploy is an upsert (contract §1.2): the document replaces the stored one, and its own
    `activated`/`archived` (defaults true/false) replace the flags, so a redeploy brings an
    archived configuration back (DECISIONS.md)."""
    activated = int(document.get("activated", True) is not False)
    archived = int(document.get("archived", False) is True)
    text = text_of(document)
    moment = now()
    row = find(db, account, environment, kind, configuration_id)
    if row is None:
        db.execute("INSERT INTO tl_configurations(account, environment, configuration_type, configuration_id, activated, "
                   "archived, deploys, project_profile, document, created, updated, seq) "
                   "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
                   (account, environment, kind, configuration_id, activated, archived, project_profile, text, moment,
                    moment, next_seq(db)))
        return int(db.scalar("SELECT last_insert_rowid()"))
    db.execute("UPDATE tl_configurations SET activated = ?, archived = ?, deploys = deploys + 1, project_profile = ?, "
               "document = ?, updated = ? WHERE id = ?", (activated, archived, project_profile, text, moment, row["id"]))
    return int(row["id"])


def record_deploy(db: Db, route: str, config: int, payload: dict[str, Any], keys: Keys) -> None:
    db.execute("INSERT INTO tl_deploys(seq, route, config, payload, received) VALUES (?, ?, ?, ?, ?)",
               (next_seq(db), route, config, text_of(redact(payload, keys)), now()))


def public(row: Any, keys: Keys) -> dict[str, Any]:
    """A configuration as `GET /_sandbox/configurations` shows it."""
    return {"account": row["account"], "environment": row["environment"], "configuration_type": row["configuration_type"],
            "configuration_id": row["configuration_id"], "activated": bool(row["activated"]),
            "archived": bool(row["archived"]), "deploys": row["deploys"], "project_profile": row["project_profile"],
            "resets": row["resets"], "document": redact(json.loads(row["document"]), keys)}
