"""Every route of the Dataiku sandbox over raw HTTP, as the contract describes it: shapes,
read-modify-write, errors, and the SDK's quirks (no Content-Type, `True`/`False` flags, two base
paths, `//`, trailing slashes)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.dataiku.sandbox.conftest import DSS, error, ok, send

UNKNOWN = "com.dataiku.dip.exceptions.UnknownObjectException"


def seed_basics(admin: httpx.Client) -> None:
    ok(send(admin, "POST", "/admin/groups/", {"name": "data_team", "description": "Data team", "sourceType": "LOCAL"}))
    ok(send(admin, "POST", "/admin/users/", {"login": "jdoe", "password": "pw", "displayName": "John", "sourceType": "LOCAL",
                                             "groups": ["data_team"], "userProfile": "DESIGNER", "email": "j@x.io"}))


# ── base paths and quirks ────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("prefix", ["/dip/publicapi", "/public/api"])
def test_both_prefixes_serve_the_same_api(dss: DSS, prefix: str):
    client = dss.client(prefix=prefix)
    ok(send(client, "POST", "/admin/groups/", {"name": f"g{len(prefix)}"}))
    other = dss.client(prefix="/public/api" if prefix == "/dip/publicapi" else "/dip/publicapi")
    assert ok(other.get(f"/admin/groups/g{len(prefix)}"))["name"] == f"g{len(prefix)}"


def test_double_slash_and_trailing_slash_variants(dss: DSS, admin: httpx.Client):
    raw = httpx.Client(auth=(dss.admin_key, ""), trust_env=False)
    # A client configured with a trailing slash in its host (contract §3.2).
    assert [u["login"] for u in ok(raw.get(dss.url + "//dip/publicapi/admin/users/"))] == ["admin"]
    assert [u["login"] for u in ok(admin.get("/admin/users"))] == ["admin"]  # no redirect
    assert ok(admin.get("/admin/variables")) == {}
    raw.close()


def test_body_without_content_type_and_python_booleans(admin: httpx.Client):
    response = admin.post("/admin/groups/", content=b'{"name": "nohdr"}')
    assert "content-type" not in response.request.headers
    ok(response)
    response = admin.post("/admin/groups/", json={"name": "withhdr"})
    ok(response)
    for value in ("True", "true", "False", "false"):
        users = ok(admin.get("/admin/users/", params={"includeSettings": value}))
        assert ("userProperties" in users[0]) == (value.lower() == "true")
    error(admin.get("/admin/users/", params={"includeSettings": "maybe"}), 400)


def test_dss_headers_on_every_answer(admin: httpx.Client):
    response = admin.get("/auth/info")
    assert response.headers["dss-api-version"] and response.headers["dss-version"]
    assert admin.get("/nowhere").headers["dss-version"]


def test_invalid_json_bodies_are_400(admin: httpx.Client):
    for body in (b"{", b"NaN", b"[1, 2", b"\"\\ud800\"", b"[" * 100 + b"]" * 100):
        error(admin.post("/admin/groups/", content=body), 400)
    error(send(admin, "POST", "/admin/groups/", ["not", "an", "object"]), 400)
    error(admin.post("/admin/groups/"), 400)  # no body at all


def test_unknown_routes_and_methods(admin: httpx.Client):
    error(admin.get("/no/such/route"), 404)
    error(admin.patch("/admin/users/"), 405)


# ── groups and users ─────────────────────────────────────────────────────────────────────────


def test_group_lifecycle_and_unknown_flags_preserved(admin: httpx.Client):
    assert ok(send(admin, "POST", "/admin/groups/", {"name": "data_team", "description": "d"})) == {"msg": "Created group data_team"}
    error(send(admin, "POST", "/admin/groups/", {"name": "data_team"}), 409)
    doc = ok(admin.get("/admin/groups/data_team"))
    assert doc["admin"] is False and doc["sourceType"] == "LOCAL" and doc["ldapGroupNames"] == []
    doc.update(mayCreateProjects=True, mayNewAbility=True, futureThing={"x": [1, 2.50, None]})
    assert ok(send(admin, "PUT", "/admin/groups/data_team", doc))["mayNewAbility"] is True
    assert ok(admin.get("/admin/groups/data_team")) == doc
    error(send(admin, "PUT", "/admin/groups/data_team", {**doc, "name": "other"}), 400)
    error(send(admin, "PUT", "/admin/groups/data_team", {**doc, "admin": "yes"}), 400)
    error(send(admin, "PUT", "/admin/groups/data_team", {**doc, "sourceType": "LDAP"}), 400)
    assert [g["name"] for g in ok(admin.get("/admin/groups/"))] == ["administrators", "data_team"]
    assert ok(admin.delete("/admin/groups/data_team"), 204) is None
    error(admin.get("/admin/groups/data_team"), 404, UNKNOWN)
    error(admin.delete("/admin/groups/data_team"), 404, UNKNOWN)
    error(send(admin, "PUT", "/admin/groups/data_team", doc), 404, UNKNOWN)


def test_user_lifecycle(admin: httpx.Client):
    seed_basics(admin)
    error(send(admin, "POST", "/admin/users/", {"login": "jdoe", "password": "x"}), 409)
    error(send(admin, "POST", "/admin/users/", {"login": "x", "groups": ["ghosts"]}), 400)
    error(send(admin, "POST", "/admin/users/", {"login": "a/b"}), 400)
    error(send(admin, "POST", "/admin/users/", {"login": "y", "userProfile": "WIZARD"}), 400)
    listed = ok(admin.get("/admin/users/", params={"includeSettings": "False"}))
    assert [u["login"] for u in listed] == ["admin", "jdoe"]
    assert set(listed[1]) >= {"login", "displayName", "groups", "sourceType", "codeAllowed", "activeWebSocketSesssions",
                              "objectImgHash", "email", "userProfile", "enabled"}
    doc = ok(admin.get("/admin/users/jdoe"))
    assert {"login", "enabled", "groups", "secrets", "userProperties", "adminProperties", "credentials",
            "preferences", "creationDate", "displayName", "email", "userProfile", "sourceType"} <= set(doc)
    assert "password" not in doc and doc["groups"] == ["data_team"]
    doc.update(displayName="John Doe", enabled=False, password="new-pw",
               secrets=[{"name": "tok", "value": "v", "secret": True}],
               credentials={"pg": {"type": "BASIC", "user": "u", "password": "p"}})
    assert ok(send(admin, "PUT", "/admin/users/jdoe", doc)) == {"msg": "Edited user jdoe"}
    again = ok(admin.get("/admin/users/jdoe"))
    assert again["displayName"] == "John Doe" and again["enabled"] is False and "password" not in again
    assert again["secrets"][0]["value"].startswith("{sandbox-encrypted}")
    assert again["credentials"]["pg"]["password"].startswith("{sandbox-encrypted}")
    assert again["credentials"]["pg"]["user"] == "u"
    error(send(admin, "PUT", "/admin/users/jdoe", {**again, "login": "other"}), 400)
    error(send(admin, "PUT", "/admin/users/jdoe", {**again, "enabled": "no"}), 400)
    # Removing a group removes it from its members.
    ok(admin.delete("/admin/groups/data_team"), 204)
    assert ok(admin.get("/admin/users/jdoe"))["groups"] == []
    error(admin.delete("/admin/users/admin", params={"allowSelfDeletion": "False"}), 400)
    ok(admin.delete("/admin/users/jdoe", params={"allowSelfDeletion": "False"}), 204)
    error(admin.get("/admin/users/jdoe"), 404, UNKNOWN)


def test_settings_round_trip_keeps_unknown_fields_byte_for_byte(admin: httpx.Client):
    seed_basics(admin)
    unknown = '"zzFuture":{"ratio":1.50,"big":123456789012345678901234567890,"exp":1e5,"neg":-0,"s":"é\\n☃","n":null,"e":[],"o":{}}'
    doc = ok(admin.get("/admin/users/jdoe"))
    body = json.dumps(doc)[:-1] + "," + unknown + "}"
    ok(admin.put("/admin/users/jdoe", content=body.encode()))
    text = admin.get("/admin/users/jdoe").text
    assert unknown.replace("\\n", "\\n") in text.replace(" ", "") or unknown in text, text
    assert '"ratio":1.50' in text and '"exp":1e5' in text and '"neg":-0' in text
    assert '"big":123456789012345678901234567890' in text


# ── instance variables ───────────────────────────────────────────────────────────────────────


def test_instance_variables(admin: httpx.Client):
    assert ok(admin.get("/admin/variables/")) == {}
    ok(send(admin, "PUT", "/admin/variables/", {"env": "prod", "new": {"a": 1}}), 204)
    assert ok(admin.get("/admin/variables/")) == {"env": "prod", "new": {"a": 1}}
    error(send(admin, "PUT", "/admin/variables/", [1]), 400)


# ── connections ──────────────────────────────────────────────────────────────────────────────


def test_connection_lifecycle_with_write_only_secrets(admin: httpx.Client):
    seed_basics(admin)
    body = {"name": "pg_main", "description": "main PG", "type": "PostgreSQL",
            "params": {"host": "db", "port": 5432, "user": "u", "password": "secret", "nested": {"secretKey": "k2"}},
            "usableBy": "ALLOWED", "allowedGroups": ["data_team"]}
    ok(send(admin, "POST", "/admin/connections/", body))
    error(send(admin, "POST", "/admin/connections/", body), 409)
    error(send(admin, "POST", "/admin/connections/", {**body, "name": "x", "usableBy": "SOME"}), 400)
    error(send(admin, "POST", "/admin/connections/", {**body, "name": "x", "type": None}), 400)
    doc = ok(admin.get("/admin/connections/pg_main"))
    assert '"secret"' not in json.dumps(doc) and '"k2"' not in json.dumps(doc)
    for key in ("type", "allowManagedDatasets", "allowManagedFolders", "allowKnowledgeBanks", "allowWrite",
                "detailsReadability", "usableBy", "allowedGroups", "creationTag"):
        assert key in doc
    sealed = doc["params"]["password"]
    doc["detailsReadability"] = {"readableBy": "ALLOWED", "allowedGroups": ["data_team"]}
    doc["allowedGroups"] = ["data_team", "administrators"]
    saved = ok(send(admin, "PUT", "/admin/connections/pg_main", doc))
    assert saved["params"]["password"] == sealed and saved["versionTag"]["versionNumber"] == 1
    error(send(admin, "PUT", "/admin/connections/pg_main", {**doc, "type": "MySQL"}), 400)
    error(send(admin, "PUT", "/admin/connections/pg_main", {**doc, "detailsReadability": {"readableBy": "X"}}), 400)
    assert list(ok(admin.get("/admin/connections/"))) == ["pg_main"]
    assert ok(admin.get("/connections/get-names", params={"type": "all"})) == ["pg_main"]
    assert ok(admin.get("/connections/get-names", params={"type": "MySQL"})) == []
    ok(admin.delete("/admin/connections/pg_main"), 204)
    error(admin.get("/admin/connections/pg_main"), 404, UNKNOWN)


# ── projects ─────────────────────────────────────────────────────────────────────────────────


def test_project_documents(admin: httpx.Client):
    seed_basics(admin)
    body = {"projectKey": "MYPROJ", "name": "My project", "owner": "admin", "settings": None, "description": "d",
            "permissions": [{"group": "data_team", "readProjectContent": True}], "tags": ["t1"]}
    assert ok(send(admin, "POST", "/projects/", body)) == {"msg": "Created project MYPROJ"}
    error(send(admin, "POST", "/projects/", body), 409)
    error(send(admin, "POST", "/projects/", {**body, "projectKey": "bad key"}), 400)
    error(send(admin, "POST", "/projects/", {**body, "projectKey": "P2", "owner": "ghost"}), 400)
    error(send(admin, "POST", "/projects/", {**body, "projectKey": "P3", "permissions": [{"readProjectContent": True}]}), 400)
    error(send(admin, "POST", "/projects/", {**body, "projectKey": "P4"}, params={"projectFolderId": "F1"}), 404)
    summary = ok(admin.get("/projects/MYPROJ"))
    assert summary["projectKey"] == "MYPROJ" and summary["ownerLogin"] == "admin" and summary["tags"] == ["t1"]
    assert [p["projectKey"] for p in ok(admin.get("/projects/", params={"includeLocation": "False"}))] == ["MYPROJ"]
    assert ok(admin.get("/projects/", params={"tags": "nope"})) == []
    assert len(ok(admin.get("/projects/", params={"tags": "t1,zz"}))) == 1

    metadata = ok(admin.get("/projects/MYPROJ/metadata"))
    assert metadata == {"label": "My project", "description": "d", "shortDesc": "", "tags": ["t1"], "custom": {"kv": {}},
                        "checklists": {"checklists": []}}
    metadata.update(tags=["b", "a", "b"], label="Renamed", extra={"k": 1})
    ok(send(admin, "PUT", "/projects/MYPROJ/metadata", metadata))
    assert ok(admin.get("/projects/MYPROJ/metadata"))["tags"] == ["a", "b"]
    assert ok(admin.get("/projects/MYPROJ/metadata"))["extra"] == {"k": 1}
    error(send(admin, "PUT", "/projects/MYPROJ/metadata", {**metadata, "label": ""}), 400)

    permissions = ok(admin.get("/projects/MYPROJ/permissions"))
    assert permissions["owner"] == "admin" and permissions["permissions"] == [{"group": "data_team", "readProjectContent": True}]
    assert {"additionalDashboardUsers", "dashboardAuthorizations"} <= set(permissions)
    permissions["owner"] = "jdoe"
    permissions["permissions"].append({"group": "administrators", "admin": True, "newFlag": True})
    ok(send(admin, "PUT", "/projects/MYPROJ/permissions", permissions))
    assert ok(admin.get("/projects/MYPROJ/permissions")) == permissions
    assert ok(admin.get("/projects/MYPROJ"))["ownerLogin"] == "jdoe"
    error(send(admin, "PUT", "/projects/MYPROJ/permissions", {**permissions, "owner": "ghost"}), 400)
    dup = {**permissions, "permissions": [{"group": "g"}, {"group": "g"}]}
    error(send(admin, "PUT", "/projects/MYPROJ/permissions", dup), 400)
    error(send(admin, "PUT", "/projects/MYPROJ/permissions", {**permissions, "permissions": [{"group": "g", "admin": 1}]}), 400)

    assert ok(admin.get("/projects/MYPROJ/variables/")) == {"standard": {}, "local": {}}
    ok(send(admin, "PUT", "/projects/MYPROJ/variables/", {"standard": {"k": "v"}, "local": {"lk": 1}}))
    assert ok(admin.get("/projects/MYPROJ/variables/")) == {"standard": {"k": "v"}, "local": {"lk": 1}}
    error(send(admin, "PUT", "/projects/MYPROJ/variables/", {"standard": {}}), 400)

    settings = ok(admin.get("/projects/MYPROJ/settings"))
    settings["settings"]["codeEnvs"]["python"] = {"useBuiltinEnv": False, "mode": "EXPLICIT_ENV", "envName": "py311"}
    ok(send(admin, "PUT", "/projects/MYPROJ/settings", settings))
    assert ok(admin.get("/projects/MYPROJ/settings")) == settings

    deleted = ok(admin.delete("/projects/MYPROJ", params={"clearManagedDatasets": "False", "wait": "True"}))
    assert deleted["hasResult"] is True
    error(admin.get("/projects/MYPROJ/metadata"), 404, UNKNOWN)
    ok(send(admin, "POST", "/projects/", {**body, "projectKey": "LATER"}))
    future = ok(admin.delete("/projects/LATER", params={"wait": "False"}))
    assert ok(admin.get(f"/futures/{future['jobId']}", params={"peek": "False"}))["result"]["deleted"] is True


# ── scenarios ────────────────────────────────────────────────────────────────────────────────


def test_scenarios(admin: httpx.Client):
    ok(send(admin, "POST", "/projects/", {"projectKey": "PRJ", "name": "P", "owner": "admin"}))
    created = ok(send(admin, "POST", "/projects/PRJ/scenarios/", {"params": {}, "type": "step_based", "name": "Nightly build"}))
    assert created["id"] == "NIGHTLY_BUILD" and created["projectKey"] == "PRJ"
    explicit = ok(send(admin, "POST", "/projects/PRJ/scenarios/", {"id": "MINE", "type": "custom_python", "name": "x"}))
    assert explicit["id"] == "MINE"
    error(send(admin, "POST", "/projects/PRJ/scenarios/", {"id": "MINE", "type": "custom_python", "name": "x"}), 409)
    error(send(admin, "POST", "/projects/PRJ/scenarios/", {"type": "other", "name": "x"}), 400)
    error(send(admin, "POST", "/projects/NOPE/scenarios/", {"type": "step_based", "name": "x"}), 404)
    doc = ok(admin.get("/projects/PRJ/scenarios/NIGHTLY_BUILD"))
    for key in ("type", "active", "triggers", "reporters", "params", "versionTag", "creationTag", "tags"):
        assert key in doc
    doc["active"] = True
    doc["triggers"] = [
        {"active": True, "type": "temporal", "params": {"frequency": "Daily", "hour": 3, "minute": 15,
                                                        "startingFrom": "2026-11-23T00:00:00.000+0000",
                                                        "repeatFrequency": 1, "timezone": "UTC"}},
        {"active": True, "type": "temporal", "params": {"frequency": "Minutely", "repeatFrequency": 30}},
        {"active": True, "type": "temporal", "id": "wk", "params": {"frequency": "Weekly", "daysOfWeek": ["Monday"],
                                                                     "timezone": "Europe/Paris"}},
        {"active": False, "type": "dataset_modified", "params": {"whatever": 1}},
    ]
    saved = ok(send(admin, "PUT", "/projects/PRJ/scenarios/NIGHTLY_BUILD", doc))
    ids = [t["id"] for t in saved["triggers"]]
    assert len(set(ids)) == 4 and ids[2] == "wk"
    # The ids stick: saving what was read keeps them.
    assert [t["id"] for t in ok(send(admin, "PUT", "/projects/PRJ/scenarios/NIGHTLY_BUILD", saved))["triggers"]] == ids
    for bad in ({"frequency": "Yearly"}, {"frequency": "Daily", "hour": 24}, {"frequency": "Weekly", "daysOfWeek": ["Funday"]},
                {"frequency": "Daily", "timezone": "Mars/Olympus"}, {"frequency": "Minutely", "repeatFrequency": 0}):
        error(send(admin, "PUT", "/projects/PRJ/scenarios/NIGHTLY_BUILD",
                   {**saved, "triggers": [{"type": "temporal", "params": bad}]}), 400)
    error(send(admin, "PUT", "/projects/PRJ/scenarios/NIGHTLY_BUILD", {**saved, "type": "custom_python"}), 400)
    light = ok(admin.get("/projects/PRJ/scenarios/NIGHTLY_BUILD/light"))
    assert light["active"] is True and light["running"] is False
    assert time.time() * 1000 < light["nextRun"] <= time.time() * 1000 + 31 * 60 * 1000  # the 30-minute trigger
    light = ok(send(admin, "PUT", "/projects/PRJ/scenarios/NIGHTLY_BUILD/light", {"active": False, "name": "ignored"}))
    assert light["active"] is False and light["nextRun"] == 0 and light["name"] == "Nightly build"
    assert [s["id"] for s in ok(admin.get("/projects/PRJ/scenarios/"))] == ["MINE", "NIGHTLY_BUILD"]
    assert ok(admin.get("/projects/PRJ/scenarios/MINE/payload")) == {"script": ""}
    ok(send(admin, "PUT", "/projects/PRJ/scenarios/MINE/payload", {"script": "print(1)"}))
    assert ok(admin.get("/projects/PRJ/scenarios/MINE/payload")) == {"script": "print(1)"}
    error(admin.get("/projects/PRJ/scenarios/NIGHTLY_BUILD/payload"), 400)
    assert "msg" in ok(admin.delete("/projects/PRJ/scenarios/NIGHTLY_BUILD"))
    error(admin.get("/projects/PRJ/scenarios/NIGHTLY_BUILD"), 404, UNKNOWN)


# ── code envs and futures ────────────────────────────────────────────────────────────────────


def test_code_envs_and_their_futures(dss_factory):
    admin = dss_factory(build_seconds=0.5).client()
    body = {"pythonInterpreter": "PYTHON311", "deploymentMode": "DESIGN_MANAGED"}
    result = ok(send(admin, "POST", "/admin/code-envs/PYTHON/py311", body, params={"wait": "True"}))
    assert result["envName"] == "py311" and result["messages"]["error"] is False
    error(send(admin, "POST", "/admin/code-envs/PYTHON/py311", body), 409)
    error(send(admin, "POST", "/admin/code-envs/JAVA/x", body), 400)
    error(send(admin, "POST", "/admin/code-envs/PYTHON/y", {"deploymentMode": "SOMETIMES"}), 400)
    doc = ok(admin.get("/admin/code-envs/python/py311"))  # the language is case-insensitive
    assert doc["envLang"] == "PYTHON" and doc["desc"]["pythonInterpreter"] == "PYTHON311"
    doc["specPackageList"] = "pandas==2.2.0\nrequests"
    doc["usableByAll"] = True
    doc["futureField"] = [1.0]
    saved = ok(send(admin, "PUT", "/admin/code-envs/PYTHON/py311", doc))
    assert saved["desc"]["usableByAll"] is True and saved["futureField"] == [1.0]
    assert '"futureField":[1.0]' in admin.get("/admin/code-envs/PYTHON/py311").text
    error(send(admin, "PUT", "/admin/code-envs/PYTHON/py311", {**doc, "deploymentMode": "PLUGIN_MANAGED"}), 400)
    future = ok(admin.post("/admin/code-envs/PYTHON/py311/packages",
                           params={"forceRebuildEnv": "False", "versionToUpdate": "", "wait": "False"}))
    assert future["hasResult"] is False and future["alive"] is True
    assert [f["jobId"] for f in ok(admin.get("/futures/"))] == [future["jobId"]]
    assert "result" not in ok(admin.get(f"/futures/{future['jobId']}", params={"peek": "True"}))
    deadline = time.monotonic() + 5
    while not (state := ok(admin.get(f"/futures/{future['jobId']}", params={"peek": "False"})))["hasResult"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert state["result"]["installedPackages"] == ["pandas==2.2.0", "requests"] and state["alive"] is False
    error(admin.get("/futures/nope"), 404)
    logs = ok(admin.get("/admin/code-envs/PYTHON/py311/logs/"))
    assert len(logs) == 2 and "requests" in admin.get(f"/admin/code-envs/PYTHON/py311/logs/{logs[1]['name']}").text
    error(admin.get("/admin/code-envs/PYTHON/py311/logs/nope.log"), 404)
    assert [e["envName"] for e in ok(admin.get("/admin/code-envs/"))] == ["py311"]
    assert ok(admin.delete("/admin/code-envs/PYTHON/py311", params={"wait": "True"}))["messages"]["error"] is False


def test_a_missing_code_env_is_a_500_as_in_dss(admin: httpx.Client):
    for method, path in (("GET", "/admin/code-envs/PYTHON/ghost"), ("PUT", "/admin/code-envs/PYTHON/ghost"),
                         ("DELETE", "/admin/code-envs/R/ghost"), ("POST", "/admin/code-envs/PYTHON/ghost/packages"),
                         ("GET", "/admin/code-envs/PYTHON/ghost/logs/")):
        body = error(send(admin, method, path, {} if method == "PUT" else None), 500,
                     "com.dataiku.dip.exceptions.CodedIOException")
        assert body["message"].endswith("env ghost doesn't exist")


def test_future_abort(admin: httpx.Client, dss_factory):
    slow = dss_factory(build_seconds=5).client()
    future = ok(send(slow, "POST", "/admin/code-envs/R/renv", {"deploymentMode": "DESIGN_MANAGED"}, params={"wait": "False"}))
    ok(slow.delete(f"/futures/{future['jobId']}"), 204)
    state = ok(slow.get(f"/futures/{future['jobId']}"))
    assert state["aborted"] is True and state["alive"] is False and state["hasResult"] is False
