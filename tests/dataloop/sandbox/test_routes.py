"""The routes as Dataloop's contract describes them: shapes, paging, the DQL subset, scoping of
orgs and projects to their members, roles, group-inherited members, references kept whole, and
errors in Dataloop's shape (never a 500 for bad input)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.dataloop.sandbox.conftest import Dataloop, DataloopFactory, error, ok


def package(admin: httpx.Client, project_id: str, name: str = "pkg") -> dict[str, Any]:
    return ok(admin.post("/packages", json={"name": name, "projectId": project_id,
                                           "codebase": {"type": "git", "gitUrl": "https://x/y.git", "gitTag": "v1"}}))


def service(admin: httpx.Client, project_id: str, name: str = "svc", **extra: Any) -> dict[str, Any]:
    pkg = package(admin, project_id, name + "-pkg")
    return ok(admin.post("/services", json={"name": name, "projectId": project_id, "packageId": pkg["id"], **extra}))


def query(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    page = ok(client.post(path, json=body))
    assert set(page) == {"items", "totalItemsCount", "totalPagesCount", "hasNextPage"}
    return page


# ── shapes ───────────────────────────────────────────────────────────────────────────────────


def test_project_shape_and_form_or_json_create(admin: httpx.Client, dataloop: Dataloop):
    from_form = ok(admin.post("/projects", data={"name": "via-form"}))
    from_json = ok(admin.post("/projects", json={"name": "via-json", "orgId": dataloop.org_id}))
    for project in (from_form, from_json):
        assert project["org"] == {"id": dataloop.org_id, "name": "sandbox-org"}
        assert isinstance(project["createdAt"], int) and project["role"] == "owner"
        assert project["url"].endswith(f"/api/v1/projects/{project['id']}")
    assert [p["name"] for p in ok(admin.get("/projects"))] == ["via-form", "via-json"]
    assert [p["contributors"] for p in ok(admin.get("/projects", params={"excludeContributors": "true"}))] == [[], []]
    assert [p["id"] for p in ok(admin.get("/projects/via-json/name"))] == [from_json["id"]]
    error(admin.get("/projects/nope/name"), 404)
    renamed = ok(admin.patch(f"/projects/{from_json['id']}", json={**from_json, "name": "renamed", "role": "annotator",
                                                                   "creator": "mallory@example.com"}))
    assert renamed["name"] == "renamed" and renamed["creator"] == dataloop.admin_email and renamed["role"] == "owner"
    assert admin.delete(f"/projects/{from_json['id']}").status_code == 204
    error(admin.get(f"/projects/{from_json['id']}"), 404)


def test_piper_objects_use_iso_times_and_urls(admin: httpx.Client, project: dict[str, Any]):
    ds = ok(admin.post("/datasets", json={"name": "ds", "projects": [project["id"]], "createDefaultRecipe": True}))
    assert ds["createdAt"].endswith("Z") and "T" in ds["createdAt"] and len(ds["metadata"]["system"]["recipes"]) == 1
    svc = service(admin, project["id"])
    assert svc["executionTimeout"] == 3600 and svc["onReset"] == "failed" and svc["moduleName"] == "default_module"
    assert svc["runtime"]["podType"] == "regular-s" and svc["mode"] == {"type": "regular"}
    bots = ok(admin.get(f"/projects/{project['id']}/bots"))
    assert [b["email"] for b in bots] == [svc["botUserName"]]
    assert ok(admin.get(f"/projects/{project['id']}/bots/{bots[0]['botId']}"))["email"] == svc["botUserName"]


# ── paging and DQL ───────────────────────────────────────────────────────────────────────────


def test_pages_are_zero_based_with_counts(admin: httpx.Client, project: dict[str, Any]):
    for n in range(5):
        ok(admin.post("/pipelines", json={"name": f"pl-{n}", "projectId": project["id"]}))
    seen = []
    for page_number, has_next in ((0, True), (1, True), (2, False)):
        page = query(admin, "/pipelines/query", {"filter": {"$and": [{"projectId": project["id"]}]}, "page": page_number,
                                                 "pageSize": 2, "resource": "pipeline"})
        assert page["totalItemsCount"] == 5 and page["totalPagesCount"] == 3 and page["hasNextPage"] is has_next
        seen += [p["name"] for p in page["items"]]
    assert seen == [f"pl-{n}" for n in range(5)]
    assert query(admin, "/pipelines/query", {"page": 9, "pageSize": 2})["items"] == []
    desc = query(admin, "/pipelines/query", {"sort": {"name": "descending"}, "pageSize": 3})
    assert [p["name"] for p in desc["items"]] == ["pl-4", "pl-3", "pl-2"]
    assert query(admin, "/pipelines/query", {"sort": {"ascending": "ascending"}})["totalItemsCount"] == 5  # dtlpy's bug
    for bad in ({"pageSize": 0}, {"pageSize": 1001}, {"page": -1}, {"page": "x"}, {"sort": ["name"]},
                {"sort": {"name": "sideways"}}, {"resource": "items"}, {"filter": []}):
        error(admin.post("/pipelines/query", json=bad), 400)


def test_dql_operators(admin: httpx.Client, project: dict[str, Any]):
    pid = project["id"]
    for name, concurrency, active in (("alpha", 1, True), ("beta", 5, False), ("gamma", 9, True)):
        created = service(admin, pid, name, runtime={"concurrency": concurrency}, active=active)
        assert created["runtime"]["concurrency"] == concurrency

    def names(condition: dict[str, Any]) -> list[str]:
        body = {"filter": {"$and": [{"projectId": pid}, condition]}, "resource": "services"}
        return [s["name"] for s in query(admin, "/query/faas", body)["items"]]

    assert names({"name": "beta"}) == ["beta"]
    assert names({"active": True}) == ["alpha", "gamma"]
    assert names({"active": 1}) == []  # typed equality: true is not 1
    assert names({"runtime.concurrency": {"$gt": 1}}) == ["beta", "gamma"]
    assert names({"runtime.concurrency": {"$lte": 5, "$gte": 5}}) == ["beta"]
    assert names({"name": {"$in": ["alpha", "gamma", "zeta"]}}) == ["alpha", "gamma"]
    assert names({"name": {"$nin": ["alpha"]}}) == ["beta", "gamma"]
    assert names({"name": {"$ne": "alpha"}}) == ["beta", "gamma"]
    assert names({"description": {"$exists": True}}) == ["alpha", "beta", "gamma"]  # null counts as present
    assert names({"nothing.here": {"$exists": False}}) == ["alpha", "beta", "gamma"]
    assert names({"name": {"$match": "*a*a"}}) == ["alpha", "gamma"]
    assert names({"$or": [{"name": "alpha"}, {"runtime.concurrency": 9}]}) == ["alpha", "gamma"]
    assert names({"global": {"$ne": True}}) == ["alpha", "beta", "gamma"]
    for bad in ({"name": {"$regex": ".*"}}, {"name": {"$in": "alpha"}}, {"name": {"$exists": "yes"}},
                {"$and": {"name": "x"}}, {"$where": "1"}, {"name": {"$match": "*" * 300}}):
        error(admin.post("/query/faas", json={"filter": {"$and": [bad]}, "resource": "services"}), 400)
    error(admin.post("/query/faas", json={"filter": {}}), 400)  # a resource is required
    assert query(admin, "/query/faas", {"resource": "executions"})["items"] == []


def test_dataset_context_and_array_matching(admin: httpx.Client, dataloop: Dataloop):
    one = ok(admin.post("/projects", data={"name": "one"}))
    two = ok(admin.post("/projects", data={"name": "two"}))
    ok(admin.post("/datasets", json={"name": "a", "projects": [one["id"]]}))
    ok(admin.post("/datasets", json={"name": "b", "projects": [two["id"]]}))
    in_one = query(admin, "/datasets/query", {"filter": {"$and": []}, "context": {"projects": [one["id"]]},
                                              "resource": "datasets"})
    assert [d["name"] for d in in_one["items"]] == ["a"]
    by_element = query(admin, "/datasets/query", {"filter": {"projects": two["id"]}, "resource": "datasets"})
    assert [d["name"] for d in by_element["items"]] == ["b"]
    assert [d["name"] for d in ok(admin.get("/datasets", params={"projects": one["id"]}))] == ["a"]


# ── scoping and roles ────────────────────────────────────────────────────────────────────────


def test_users_see_only_their_orgs_and_projects(dataloop: Dataloop, admin: httpx.Client):
    secret = ok(admin.post("/projects", data={"name": "secret"}))
    ds = ok(admin.post("/datasets", json={"name": "ds", "projects": [secret["id"]]}))
    svc = service(admin, secret["id"])
    outsider = dataloop.user("out@example.com")
    assert ok(outsider.get("/orgs")) == [] and ok(outsider.get("/projects")) == []
    for path in (f"/orgs/{dataloop.org_id}", f"/orgs/{dataloop.org_id}/members", f"/orgs/{dataloop.org_id}/integrations",
                 f"/projects/{secret['id']}", f"/projects/{secret['id']}/members", f"/datasets/{ds['id']}",
                 f"/services/{svc['id']}", "/projects/secret/name"):
        error(outsider.get(path), 404)  # invisible is not found: ids cannot be probed
    for path in ("/datasets/query", "/pipelines/query"):
        assert query(outsider, path, {})["totalItemsCount"] == 0
    assert query(outsider, "/query/faas", {"resource": "services", "filter": {"projectId": secret["id"]}})["items"] == []
    error(outsider.post("/projects", data={"name": "mine"}), 403)  # no org
    error(outsider.post("/datasets", json={"name": "x", "projects": [secret["id"]]}), 404)
    other_org = ok(admin.post("/sandbox/orgs", json={"name": "other", "owner": "out@example.com"}))
    assert [o["name"] for o in ok(outsider.get("/orgs"))] == ["other"]
    assert [o["name"] for o in ok(admin.get("/orgs"))] == ["sandbox-org"]
    error(admin.get(f"/orgs/{other_org['id']}"), 404)


def test_project_roles_are_enforced(dataloop: Dataloop, admin: httpx.Client, project: dict[str, Any]):
    pid = project["id"]
    annotator = dataloop.user("ann@example.com")
    engineer = dataloop.user("eng@example.com")
    ok(admin.post(f"/projects/{pid}/members/ann@example.com", json={"role": "annotator"}))
    ok(admin.post(f"/projects/{pid}/members/eng@example.com", json={"role": "engineer"}))
    assert ok(annotator.get(f"/projects/{pid}"))["role"] == "annotator"
    error(annotator.post(f"/projects/{pid}/members/x@example.com", json={"role": "owner"}), 403)
    error(annotator.post("/datasets", json={"name": "d", "projects": [pid]}), 403)
    error(annotator.post("/pipelines", json={"name": "p", "projectId": pid}), 403)
    error(annotator.patch(f"/projects/{pid}", json={"name": "mine"}), 403)
    ds = ok(engineer.post("/datasets", json={"name": "d", "projects": [pid]}))
    assert ok(annotator.get(f"/datasets/{ds['id']}"))["name"] == "d"
    error(annotator.delete(f"/datasets/{ds['id']}"), 403)
    error(engineer.post(f"/projects/{pid}/members/x@example.com", json={"role": "engineer"}), 403)
    error(engineer.delete(f"/projects/{pid}"), 403)
    error(admin.delete(f"/projects/{pid}/members/{dataloop.admin_email}"), 409)  # the last owner stays


def test_org_roles_are_enforced(dataloop: Dataloop, admin: httpx.Client):
    org = dataloop.org_id
    member = dataloop.user("mem@example.com")
    org_admin = dataloop.user("adm@example.com")
    worker = dataloop.user("wrk@example.com")
    ok(admin.post(f"/orgs/{org}/members", json={"emails": ["mem@example.com"], "role": "member"}))
    ok(admin.post(f"/orgs/{org}/members", json={"emails": ["adm@example.com"], "role": "admin"}))
    ok(admin.post(f"/orgs/{org}/members", json={"emails": ["wrk@example.com"], "role": "worker"}))
    error(member.post(f"/orgs/{org}/members", json={"emails": ["x@example.com"], "role": "member"}), 403)
    error(member.post(f"/orgs/{org}/integrations", json={"type": "key_value", "name": "k", "options": {}}), 403)
    error(org_admin.patch(f"/orgs/{org}/members", json={"email": dataloop.admin_email, "role": "member"}), 403)
    error(org_admin.post(f"/orgs/{org}/members", json={"emails": ["mem@example.com"], "role": "owner"}), 403)
    ok(org_admin.patch(f"/orgs/{org}/members", json={"email": "mem@example.com", "role": "worker"}))
    error(worker.post("/projects", data={"name": "nope"}), 403)
    ok(member.get(f"/orgs/{org}/members"))
    error(admin.delete(f"/orgs/{org}/members/{dataloop.admin_email}"), 409)  # the last owner stays


def test_group_members_are_distinguishable_and_leaving_the_org_ends_access(dataloop: Dataloop, admin: httpx.Client,
                                                                          project: dict[str, Any]):
    org, pid = dataloop.org_id, project["id"]
    bob = dataloop.user("bob@example.com")
    ok(admin.post(f"/orgs/{org}/members", json={"emails": ["bob@example.com"], "role": "member"}))
    group = ok(admin.post("/groups", json={"name": "ml-team", "orgId": org}))
    error(admin.post(f"/groups/{group['id']}/members", json={"user_id": "stranger@example.com"}), 400)
    ok(admin.post(f"/groups/{group['id']}/members", json={"user_id": "bob@example.com"}))
    ok(admin.post(f"/projects/{pid}/subgroups/{group['id']}", json={"role": "engineer"}))
    rows = ok(admin.get(f"/projects/{pid}/members"))
    inherited = [r for r in rows if r["membershipType"] == "group"]
    assert [(r["email"], r["role"], r["membershipEntityId"]) for r in inherited] == [("bob@example.com", "engineer",
                                                                                       group["id"])]
    assert [r["email"] for r in rows if r["membershipType"] == "member"] == [dataloop.admin_email]
    assert ok(bob.get(f"/projects/{pid}"))["role"] == "engineer"
    assert [g["role"] for g in ok(admin.get(f"/projects/{pid}/subgroups"))] == ["engineer"]
    assert [g["name"] for g in ok(admin.get(f"/orgs/{org}/groups"))] == ["ml-team"]
    assert admin.delete(f"/orgs/{org}/members/bob@example.com").status_code == 204
    error(bob.get(f"/projects/{pid}"), 404)
    assert ok(admin.get(f"/groups/{group['id']}"))["members"] == []


def test_member_mutations_answer_the_whole_list(admin: httpx.Client, project: dict[str, Any], dataloop: Dataloop):
    pid = project["id"]
    after_add = ok(admin.post(f"/projects/{pid}/members/Bob@Example.com", json={"role": "engineer"}))
    assert {r["email"]: r["role"] for r in after_add} == {dataloop.admin_email: "owner", "bob@example.com": "engineer"}
    after_patch = ok(admin.patch(f"/projects/{pid}/members/bob@example.com", json={"role": "annotationManager"}))
    assert {r["email"]: r["role"] for r in after_patch}["bob@example.com"] == "annotationManager"
    after_delete = ok(admin.delete(f"/projects/{pid}/members/bob@example.com"))
    assert [r["email"] for r in after_delete] == [dataloop.admin_email]
    error(admin.patch(f"/projects/{pid}/members/bob@example.com", json={"role": "engineer"}), 404)
    error(admin.post(f"/projects/{pid}/members/bob@example.com", json={"role": "superhero"}), 400)
    error(admin.post(f"/projects/{pid}/members/not-an-email", json={"role": "engineer"}), 400)


# ── references ───────────────────────────────────────────────────────────────────────────────


def test_references_are_checked_and_kept_whole(admin: httpx.Client, project: dict[str, Any], dataloop: Dataloop):
    pid = project["id"]
    other = ok(admin.post("/projects", data={"name": "other"}))
    pkg = package(admin, pid)
    error(admin.post("/services", json={"name": "s", "projectId": other["id"], "packageId": pkg["id"]}), 404)
    error(admin.post("/services", json={"name": "s", "projectId": pid, "packageId": pkg["id"],
                                        "packageRevision": "9.9.9"}), 400)
    error(admin.post("/services", json={"name": "s", "projectId": pid, "packageId": pkg["id"],
                                        "secrets": ["0" * 24]}), 400)
    error(admin.post("/services", json={"name": "Bad_Name", "projectId": pid, "packageId": pkg["id"]}), 400)
    # An autoscaler without its type is refused: stored, dtlpy could not read the service back.
    untyped = error(admin.post("/services", json={"name": "s", "projectId": pid, "packageId": pkg["id"],
                                                  "runtime": {"autoscaler": {"minReplicas": 0}}}), 400)
    assert "autoscaler.type" in untyped["message"]
    svc = ok(admin.post("/services", json={"name": "s", "projectId": pid, "packageId": pkg["id"]}))
    ok(admin.patch(f"/packages/{pkg['id']}", json={"version": "1.1.0"}))
    assert ok(admin.patch(f"/services/{svc['id']}", json={"packageRevision": "1.1.0"}))["packageRevision"] == "1.1.0"
    error(admin.delete(f"/packages/{pkg['id']}"), 409)
    cron = {"type": "Cron", "projectId": pid, "spec": {"cron": "0 2 * * *", "operation": {"type": "function",
                                                                                         "serviceId": svc["id"]}}}
    trigger = ok(admin.post("/triggers", json=cron))
    assert trigger["name"] == "s" and trigger["id"]
    error(admin.post("/triggers", json={**cron, "projectId": other["id"]}), 400)
    error(admin.post("/triggers", json={**cron, "spec": {**cron["spec"], "cron": "every day"}}), 400)
    error(admin.patch(f"/triggers/{trigger['id']}", json={"type": "Event"}), 400)
    pipeline = ok(admin.post("/pipelines", json={"name": "pl", "projectId": pid}))
    pipe_trigger = ok(admin.post("/triggers", json={"type": "Event", "projectId": pid, "name": "t",
                                                    "spec": {"operation": {"type": "pipeline", "id": pipeline["id"]}}}))
    ok(admin.delete(f"/services/{svc['id']}"))
    error(admin.get(f"/triggers/{trigger['id']}"), 404)  # went with its service
    ok(admin.delete(f"/pipelines/{pipeline['id']}"))
    error(admin.get(f"/triggers/{pipe_trigger['id']}"), 404)
    assert ok(admin.delete(f"/packages/{pkg['id']}")) is True


def test_pipeline_graph_rules(admin: httpx.Client, project: dict[str, Any]):
    pid = project["id"]
    nodes = [{"id": "n1", "name": "a", "type": "code", "outputs": [{"portId": "o1"}]},
             {"id": "n2", "name": "b", "type": "function", "inputs": [{}], "metadata": {"position": {"x": 3, "y": 4}}}]
    pipeline = ok(admin.post("/pipelines", json={"name": "pl", "projectId": pid, "nodes": nodes,
                                                 "connections": [{"src": {"nodeId": "n1", "portId": "o1"},
                                                                  "tgt": {"nodeId": "n2"}, "condition": {"a": 1}}],
                                                 "startNodes": [{"nodeId": "n1", "type": "root"}]}))
    assert [n["metadata"]["position"] for n in pipeline["nodes"]] == [{"x": 0.0, "y": 0.0, "z": 0}, {"x": 3, "y": 4}]
    assert pipeline["nodes"][1]["inputs"][0]["portId"] and pipeline["connections"][0]["condition"] == '{"a": 1}'
    error(admin.patch(f"/pipelines/{pipeline['id']}", json={"startNodes": [{"nodeId": "ghost"}]}), 400)
    error(admin.patch(f"/pipelines/{pipeline['id']}", json={"nodes": [{"id": "x", "type": "nonsense"}]}), 400)
    bug = {"defaultResumeOption": "resumeExistingCycles", "keepTriggersActive": "resumeExistingCycles",
           "activeTriggerAskAgain": "resumeExistingCycles", "lastUpdate": "resumeExistingCycles"}
    patched = ok(admin.patch(f"/pipelines/{pipeline['id']}", json={"settings": bug}))
    assert patched["settings"]["keepTriggersActive"] is False and patched["settings"]["activeTriggerAskAgain"] is True
    assert patched["settings"]["defaultResumeOption"] == "resumeExistingCycles"
    variables = ok(admin.patch(f"/pipelines/{pipeline['id']}/variables",
                               json={"variables": [{"name": "t", "type": "Float", "value": 0.5}]}))["variables"]
    assert variables[0]["reference"] == pipeline["id"] and variables[0]["id"]
    assert ok(admin.post(f"/pipelines/{pipeline['id']}/install", json={}))["status"] == "Installed"
    assert ok(admin.patch(f"/pipelines/{pipeline['id']}", json={"name": "renamed"}))["status"] == "Installed"


def test_unique_names_switch(dataloop_factory: DataloopFactory):
    dataloop = dataloop_factory(unique_names="projects,datasets")
    admin = dataloop.client()
    project = ok(admin.post("/projects", data={"name": "p"}))
    error(admin.post("/projects", data={"name": "p"}), 409)
    ok(admin.post("/datasets", json={"name": "d", "projects": [project["id"]]}))
    error(admin.post("/datasets", json={"name": "d", "projects": [project["id"]]}), 409)
    ok(admin.post("/pipelines", json={"name": "x", "projectId": project["id"]}))
    ok(admin.post("/pipelines", json={"name": "x", "projectId": project["id"]}))  # not switched on for pipelines


# ── errors ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/projects", b"{not json"),
    ("POST", "/projects", b"[1, 2]"),
    ("POST", "/projects", b'{"name": 42}'),
    ("POST", "/projects", b'{"name": "  padded "}'),
    ("POST", "/projects", b'{"name": "\\u0000"}'),
    ("POST", "/projects", b'{"name": "\\ud800"}'),
    ("POST", "/datasets", b'{"name": "d", "projects": "abc"}'),
    ("POST", "/datasets", b'{"name": "d", "projects": [1]}'),
    ("POST", "/services", b'{"name": "s", "projectId": 5}'),
    ("POST", "/triggers", b'{"projectId": "x", "type": "Sometimes"}'),
    ("POST", "/pipelines", b'{"name": "p", "projectId": "x", "nodes": {}}'),
    ("POST", "/pipelines/query", b'{"filter": {"a": {"$gt": 1}}, "page": 1e400}'),
    ("POST", "/datasets/query", b"NaN"),
    ("POST", "/services", b'{"name": "s", "projectId": "x", "initParams": {"a": 1e999}}'),
    ("POST", "/projects", b'{"name": "' + b"9" * 5000 + b'", "n": ' + b"9" * 5000 + b"}"),
    ("POST", "/datasets/query", b"[" * 5000),
])
def test_bad_input_is_a_4xx_in_dataloops_shape(admin: httpx.Client, method: str, path: str, body: bytes):
    response = admin.request(method, path, content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    error(response, response.status_code)


def test_unknown_ids_and_routes_are_404(admin: httpx.Client):
    for path in ("/projects/000000000000000000000000", "/projects/not-an-id", "/datasets/abc", "/services/x" * 3,
                 "/pipelines/0123456789abcdef01234567", "/triggers/zzz", "/packages/0", "/orgs/x", "/groups/x",
                 "/integrations/x", "/no/such/route"):
        body = error(admin.get(path), 404)
        assert body["name"] == "NotFound"
    error(admin.put("/projects"), 405)
