"""Compute clusters (contract §1.7; route C1): read-only in the API.

Each team gets a `default` cluster when it is created. A cluster answers with every key the
seed documents and every key `datachain job clusters` indexes (§3.4 #3); `id` is a string of
digits (§5 #11), which both readings accept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, current, team_of
from .store import doc_of, store_of
from .wire import reply

__all__ = ["cluster_json", "router"]

router = APIRouter(tags=["clusters"])


def cluster_json(row: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), **doc_of(row["doc"]), "name": row["name"], "default": bool(row["is_default"])}


@router.get("/datachain/clusters/")
def list_clusters(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    with store_of(request).read() as db:
        rows = db.all("SELECT * FROM st_clusters WHERE team_id = ? ORDER BY id", (team.team_id,))
    return reply([cluster_json(row) for row in rows])
