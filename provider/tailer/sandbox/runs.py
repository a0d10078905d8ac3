"""Runs (contract §2.2 `Run`): what T1 (and a deploy with `execute_dag`) starts, T2-T4 read and
T5 sets. The sandbox runs nothing: a launched run is `RUNNING` until `run_seconds` have passed
since it started, and from then on reads as `SUCCESS` (written back by the first read that sees
it, so the answer never changes under a client). A status set by T5 is final: it is never
advanced again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from .rules import TTT, job_id
from .store import Db, iso, next_seq, now

__all__ = ["STATUSES", "advance", "launch", "run_of"]

STATUSES = ("SUCCESS", "FAILED", "RUNNING", "NO_MATCH", "CHECKED")


def new_run_id(kind: str, moment: float) -> str:
    """`YYYYMMDD-HHMMSS-<uuid4>` (TTT) or `YYYYMMDD-<uuid4>` (the other types), as documented."""
    stamp = datetime.fromtimestamp(moment, UTC)
    if kind == TTT:
        return f"{stamp:%Y%m%d-%H%M%S}-{uuid.uuid4()}"
    return f"{stamp:%Y%m%d}-{uuid.uuid4()}"


def launch(db: Db, config: Any, *, execution_date: str | None, run_seconds: float, status: str = "RUNNING") -> str:
    moment = now()
    run_id = new_run_id(config["configuration_type"], moment)
    finish_at = moment + run_seconds if status == "RUNNING" else None
    db.execute("INSERT INTO tl_runs(run_id, seq, config, job_id, status, execution_date, started, finish_at, updated) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (run_id, next_seq(db), config["id"],
                job_id(config["configuration_type"], config["account"], config["environment"], config["configuration_id"]),
                status, execution_date or datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d"), moment, finish_at,
                moment))
    return run_id


def advance(db: Db) -> None:
    """Runs whose time is up become SUCCESS (called by every read, inside its transaction)."""
    moment = now()
    db.execute("UPDATE tl_runs SET status = 'SUCCESS', updated = finish_at, finish_at = NULL "
               "WHERE finish_at IS NOT NULL AND finish_at <= ?", (moment,))


def run_of(row: Any) -> dict[str, Any]:
    """A run as the docs show one (`duration` as Python prints a timedelta)."""
    end = row["updated"] if row["status"] != "RUNNING" else now()
    return {"account": row["account"], "configuration_id": row["configuration_id"],
            "configuration_type": row["configuration_type"], "duration": str(timedelta(seconds=max(0.0, end - row["started"]))),
            "environment": row["environment"], "execution_date": row["execution_date"], "job_id": row["job_id"],
            "last_update_date": iso(row["updated"]), "run_id": row["run_id"], "start_execution_date": iso(row["started"]),
            "status": row["status"]}


RUN_SELECT = ("SELECT r.*, c.account, c.environment, c.configuration_type, c.configuration_id FROM tl_runs r "
              "JOIN tl_configurations c ON c.id = r.config")
