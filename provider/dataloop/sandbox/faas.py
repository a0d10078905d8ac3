"""`POST /query/faas`: one query route for services, triggers and packages (contract §2.5,
§2.9), plus the FaaS routers (packages, services, triggers, naming) as one.

dtlpy scopes these queries with `projectId` conditions (services and packages also get
`{global: {$ne: true}}`); the sandbox reads only the projects the caller sees and the filter
names. `executions` is a valid resource that is always empty: the sandbox runs no code.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from . import naming, packages, services, triggers
from .auth import Principal, current
from .dql import page_of, parse_query
from .errors import BadRequest
from .objects import query_page
from .store import store_of
from .wire import json_body, reply

__all__ = ["router"]

router = APIRouter()
query_router = APIRouter(tags=["faas"])


@query_router.post("/query/faas")
async def query_faas(request: Request, principal: Principal = Depends(current)) -> Any:
    query = parse_query(await json_body(request), ("services", "triggers", "packages", "executions"))
    if query.resource == "executions":
        return reply(page_of([], query))
    if query.resource is None:
        raise BadRequest("Missing query resource: services, triggers, packages or executions")
    kind = query.resource
    with store_of(request).read() as db:
        return reply(query_page(db, kind, principal, query))


for _module in (naming, packages, services, triggers):
    router.include_router(_module.router)
router.include_router(query_router)
