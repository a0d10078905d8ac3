"""Datasets (contract §1.2 Dataset, §2.4).

A dataset belongs to exactly one project (`projects: [id]`; the sandbox has no cross-project
clones). Creating one needs a project `owner` or `engineer`; with `createDefaultRecipe` (the
default) the dataset names a recipe id in `metadata.system.recipes`. Updates take `name` and the
user part of `metadata` (`metadata.system` is the server's); `driver`, `indexDriver`,
`expirationOptions` are create-only (§4 kind 5) and everything else a client echoes back is
ignored. `DELETE` answers 200 `null` (§2.4). Lists go through `POST /datasets/query`, scoped by
`context.projects` (dtlpy also sends the header `user_query: true`, which changes nothing here).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import WRITERS, check_id, project_of
from .auth import Principal, current
from .dql import parse_query
from .errors import BadRequest
from .objects import check_unique, insert, load, query_page, save
from .store import iso_now, new_id, store_of
from .urls import api_url
from .wire import bool_field, dict_field, int_field, json_body, list_field, name_field, obj, reply, str_field

__all__ = ["router"]

router = APIRouter(tags=["datasets"])
INDEX_DRIVERS = ("v1", "v2")


def _project_id(body: dict[str, Any]) -> str:
    projects = list_field(body, "projects", "dataset", of=str, max_len=1)
    if not projects:
        raise BadRequest("Missing dataset.projects: a list holding the dataset's project id")
    return str(projects[0])


@router.post("/datasets")
async def create_dataset(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "dataset")
    name = name_field(body, "name", "dataset")
    project_id = _project_id(body)
    driver = str_field(body, "driver", "dataset", max_len=100)
    index_driver = str_field(body, "indexDriver", "dataset", choices=INDEX_DRIVERS) or "v2"
    recipe = bool_field(body, "createDefaultRecipe", "dataset")
    expiration = dict_field(body, "expirationOptions", "dataset")
    if expiration is not None:
        int_field(expiration, "itemMaxDays", "dataset.expirationOptions", low=1, high=100_000)
    metadata = dict_field(body, "metadata", "dataset") or {}
    with store_of(request).tx() as db:
        project, _ = project_of(db, check_id(project_id, "Project"), principal, need=WRITERS)
        check_unique(request, db, "datasets", project["id"], name)
        dataset_id = new_id()
        url = api_url(request, f"/datasets/{dataset_id}")
        stamp = iso_now()
        system = {"recipes": [new_id()] if recipe is not False else []}
        doc = {"id": dataset_id, "name": name, "projects": [project["id"]], "projectId": project["id"],
               "creator": principal.email, "url": url, "items": url + "/items", "directoryTree": url + "/directoryTree",
               "itemsCount": 0, "annotated": 0, "annotationsCount": 0, "readableType": "dataloop",
               "accessLevel": "private", "driver": driver or "dataloop-default-driver", "readonly": False,
               "indexDriver": index_driver, "expirationOptions": expiration,
               "metadata": {**{k: v for k, v in metadata.items() if k != "system"}, "system": system},
               "enableSyncWithCloned": False, "isSyncing": False, "createdAt": stamp, "updatedAt": stamp,
               "updatedBy": principal.email}
        insert(db, "datasets", doc)
        return reply(doc)


@router.post("/datasets/query")
async def query_datasets(request: Request, principal: Principal = Depends(current)) -> Any:
    query = parse_query(await json_body(request), ("datasets",))
    context = query.context.get("projects")
    if context is not None and (not isinstance(context, list) or not all(isinstance(p, str) for p in context)):
        raise BadRequest("Invalid query context.projects: expected a list of project ids")
    with store_of(request).read() as db:
        return reply(query_page(db, "datasets", principal, query, fields=("projects", "projectId"), extra_projects=context))


@router.get("/datasets")
def list_datasets(request: Request, principal: Principal = Depends(current)) -> Any:
    """The legacy, unpaged list (`?name&projects`)."""
    filters: dict[str, Any] = {}
    for key in ("name", "creator"):
        if request.query_params.get(key) is not None:
            filters[key] = request.query_params[key]
    projects = request.query_params.get("projects")
    query = parse_query({"filter": filters})
    with store_of(request).read() as db:
        page = query_page(db, "datasets", principal, query, extra_projects=projects.split(",") if projects else None)
    return reply(page["items"])


@router.get("/datasets/{dataset_id}")
def get_dataset(dataset_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        _, doc = load(db, "datasets", dataset_id, principal)
        return reply(doc)


@router.patch("/datasets/{dataset_id}")
async def update_dataset(dataset_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "dataset")
    name = name_field(body, "name", "dataset", required=False)
    metadata = dict_field(body, "metadata", "dataset")
    with store_of(request).tx() as db:
        row, doc = load(db, "datasets", dataset_id, principal, write=True)
        if name is not None and name != doc["name"]:
            check_unique(request, db, "datasets", row["project_id"], name, row["id"])
            doc["name"] = name
        if metadata is not None:
            system = doc["metadata"].get("system", {})
            doc["metadata"] = {**{k: copy.deepcopy(v) for k, v in metadata.items() if k != "system"}, "system": system}
        doc["updatedAt"] = iso_now()
        doc["updatedBy"] = principal.email
        save(db, "datasets", doc)
        return reply(doc)


@router.delete("/datasets/{dataset_id}")
def delete_dataset(dataset_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row, _ = load(db, "datasets", dataset_id, principal, write=True)
        db.execute("DELETE FROM dl_datasets WHERE id = ?", (row["id"],))
    return reply(None)
