"""Per-object reads and pages go through indexes: their cost (SQLite virtual-machine steps, which
are exact and repeatable where timings only hint) does not grow with the objects of other
projects, and every statement they run searches an index instead of scanning a table."""

from __future__ import annotations

from typing import Any

import httpx

from tests.dataloop.sandbox.conftest import Dataloop, ok


def _fill(admin: httpx.Client, project_id: str, start: int, count: int) -> None:
    for n in range(start, start + count):
        ok(admin.post("/datasets", json={"name": f"filler-{n}", "projects": [project_id]}))
        ok(admin.post("/pipelines", json={"name": f"filler-{n}", "projectId": project_id}))


def test_reads_and_pages_do_not_grow_with_other_projects(dataloop: Dataloop, admin: httpx.Client):
    store = dataloop.app.state.store
    mine = ok(admin.post("/projects", data={"name": "mine"}))
    other = ok(admin.post("/projects", data={"name": "other"}))
    dataset = ok(admin.post("/datasets", json={"name": "ds", "projects": [mine["id"]]}))
    pipeline = ok(admin.post("/pipelines", json={"name": "pl", "projectId": mine["id"]}))
    requests: list[tuple[str, str, Any]] = [
        ("GET", f"/datasets/{dataset['id']}", None),
        ("GET", f"/pipelines/{pipeline['id']}", None),
        ("GET", f"/projects/{mine['id']}", None),
        ("POST", "/datasets/query", {"filter": {"$and": [{"name": "ds"}]}, "context": {"projects": [mine["id"]]}}),
        ("POST", "/pipelines/query", {"filter": {"$and": [{"projectId": mine["id"]}]}, "pageSize": 10}),
    ]

    def cost(method: str, path: str, body: Any) -> int:
        admin.request(method, path, json=body)  # warm
        with store.watch(step=10) as watch:
            ok(admin.request(method, path, json=body))
        return watch.steps

    _fill(admin, other["id"], 0, 5)
    small = [cost(*r) for r in requests]
    _fill(admin, other["id"], 5, 200)
    large = [cost(*r) for r in requests]
    for request, before, after in zip(requests, small, large, strict=True):
        assert after <= before * 1.2 + 50, (request[:2], before, after)

    with store.watch() as watch:
        for method, path, body in requests:
            ok(admin.request(method, path, json=body))
    with store.read() as db:
        for sql in watch.statements:
            if sql.split()[0].upper() in ("BEGIN", "ROLLBACK", "COMMIT"):
                continue
            plan = " ".join(str(row[3]) for row in db.all("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (sql, plan)
