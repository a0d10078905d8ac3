"""What the project-scoped piper kinds (datasets, packages, services, triggers, pipelines) share:
one row per object with its wire document, found by id through the primary key and listed
through the `(project_id, seq)` index, with the caller's access checked on the object's project.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request

from .access import WRITERS, check_id, project_of, visible_project_ids
from .auth import Principal
from .dql import Query, page_of, project_ids
from .errors import Conflict, NotFound
from .store import Db, doc_of, next_seq, text_of

__all__ = ["TABLES", "check_unique", "insert", "load", "query_page", "save"]

#: kind -> (table, what the errors call it)
TABLES = {"datasets": ("dl_datasets", "Dataset"), "packages": ("dl_packages", "Package"),
          "services": ("dl_services", "Service"), "triggers": ("dl_triggers", "Trigger"),
          "pipelines": ("dl_pipelines", "Pipeline")}


def load(db: Db, kind: str, object_id: str, principal: Principal, *, write: bool = False) -> tuple[Any, dict[str, Any]]:
    """The row and document of an object the caller may see (404 otherwise), and may change when
    `write` (403 otherwise)."""
    table, what = TABLES[kind]
    row = db.one(f"SELECT * FROM {table} WHERE id = ?", (check_id(object_id, what),))
    if row is None:
        raise NotFound(f"{what} not found")
    try:
        project_of(db, row["project_id"], principal, need=WRITERS if write else ())
    except NotFound as exc:
        raise NotFound(f"{what} not found") from exc
    return row, doc_of(row["doc"])


def check_unique(request: Request, db: Db, kind: str, project_id: str, name: str, skip: str = "") -> None:
    """The 409 on a duplicate name in a project, when `--unique-names` names the kind (§5.8)."""
    if kind in request.app.state.config.unique_kinds:
        table, what = TABLES[kind]
        if db.scalar(f"SELECT 1 FROM {table} WHERE project_id = ? AND name = ? AND id != ?", (project_id, name, skip)):
            raise Conflict(f"A {what.lower()} named {name!r} already exists in this project")


def insert(db: Db, kind: str, doc: dict[str, Any], **columns: Any) -> None:
    table, _ = TABLES[kind]
    values = {"id": doc["id"], "project_id": doc["projectId"], "name": doc["name"], "seq": next_seq(db),
              "doc": text_of(doc), **columns}
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    db.execute(f"INSERT INTO {table}({names}) VALUES ({marks})", tuple(values.values()))


def save(db: Db, kind: str, doc: dict[str, Any], **columns: Any) -> None:
    table, _ = TABLES[kind]
    values = {"name": doc["name"], "doc": text_of(doc), **columns}
    assignments = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", (*values.values(), doc["id"]))


def query_page(db: Db, kind: str, principal: Principal, query: Query, *, fields: Iterable[str] = ("projectId",),
               extra_projects: Iterable[str] | None = None) -> dict[str, Any]:
    """A page of the objects the caller may see that match the query. Only the projects both
    visible and named by the filter (or `extra_projects`, the query's context) are read."""
    table, _ = TABLES[kind]
    projects = visible_project_ids(db, principal.user_id)
    named = project_ids(query.filter, tuple(fields))
    if extra_projects is not None:
        extra = set(extra_projects)
        named = extra if named is None else named & extra
    if named is not None:
        projects = [p for p in projects if p in named]
    docs = (doc_of(r["doc"]) for pid in projects
            for r in db.all(f"SELECT doc FROM {table} WHERE project_id = ? ORDER BY seq", (pid,)))
    return page_of(docs, query)
