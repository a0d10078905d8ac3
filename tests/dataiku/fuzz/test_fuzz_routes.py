"""Hypothesis fuzzing of every Dataiku sandbox route: generated sequences of requests (valid
documents bent out of shape, wrong types for real keys, random JSON, junk bytes, odd flags, odd
identifiers, impersonation headers) sent with the administrator's key. The sandbox must answer
each with a 2xx or a 4xx in DSS's error body, never any other 5xx and never a dropped connection.

The one 500 the contract mandates (a code env that does not exist, contract §1.2) is allowed on
the code-env routes only, only with its `CodedIOException` body, and counted apart.

The number of requests is asserted (at least 2,000 by default); `PLATFORGE_DATAIKU_FUZZ_EXAMPLES`
sets how many sequences are tried (CI budget: well under a minute).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("PLATFORGE_DATAIKU_FUZZ_EXAMPLES", "220"))
PER_EXAMPLE = 10
MIN_REQUESTS = int(os.environ.get("PLATFORGE_DATAIKU_FUZZ_MIN_REQUESTS", str(min(2000, EXAMPLES * PER_EXAMPLE * 9 // 10))))

ROUTES = [
    ("GET", "/auth/info"), ("GET", "/instance-info"),
    ("GET", "/admin/users/"), ("POST", "/admin/users/"), ("GET", "/admin/users/{user}"), ("PUT", "/admin/users/{user}"),
    ("DELETE", "/admin/users/{user}"),
    ("GET", "/admin/groups/"), ("POST", "/admin/groups/"), ("GET", "/admin/groups/{group}"),
    ("PUT", "/admin/groups/{group}"), ("DELETE", "/admin/groups/{group}"),
    ("GET", "/admin/connections/"), ("POST", "/admin/connections/"), ("GET", "/admin/connections/{conn}"),
    ("PUT", "/admin/connections/{conn}"), ("DELETE", "/admin/connections/{conn}"), ("GET", "/connections/get-names"),
    ("GET", "/admin/variables/"), ("PUT", "/admin/variables/"),
    ("GET", "/projects/"), ("POST", "/projects/"), ("GET", "/projects/{project}"), ("DELETE", "/projects/{project}"),
    ("GET", "/projects/{project}/metadata"), ("PUT", "/projects/{project}/metadata"),
    ("GET", "/projects/{project}/settings"), ("PUT", "/projects/{project}/settings"),
    ("GET", "/projects/{project}/permissions"), ("PUT", "/projects/{project}/permissions"),
    ("GET", "/projects/{project}/variables/"), ("PUT", "/projects/{project}/variables/"),
    ("GET", "/projects/{project}/scenarios/"), ("POST", "/projects/{project}/scenarios/"),
    ("GET", "/projects/{project}/scenarios/{scenario}"), ("PUT", "/projects/{project}/scenarios/{scenario}"),
    ("DELETE", "/projects/{project}/scenarios/{scenario}"),
    ("GET", "/projects/{project}/scenarios/{scenario}/light"), ("PUT", "/projects/{project}/scenarios/{scenario}/light"),
    ("GET", "/projects/{project}/scenarios/{scenario}/payload"),
    ("PUT", "/projects/{project}/scenarios/{scenario}/payload"),
    ("GET", "/admin/code-envs/"), ("POST", "/admin/code-envs/{lang}/{env}"), ("GET", "/admin/code-envs/{lang}/{env}"),
    ("PUT", "/admin/code-envs/{lang}/{env}"), ("DELETE", "/admin/code-envs/{lang}/{env}"),
    ("POST", "/admin/code-envs/{lang}/{env}/packages"), ("GET", "/admin/code-envs/{lang}/{env}/logs/"),
    ("GET", "/admin/code-envs/{lang}/{env}/logs/{log}"),
    ("GET", "/futures/"), ("GET", "/futures/{future}"), ("DELETE", "/futures/{future}"),
    ("GET", "/admin/global-api-keys/"), ("POST", "/admin/global-api-keys/"), ("GET", "/admin/global-api-keys/{key}"),
    ("PUT", "/admin/global-api-keys/{key}"), ("DELETE", "/admin/global-api-keys/{key}"),
    ("GET", "/personal-api-keys/"), ("POST", "/personal-api-keys/"), ("GET", "/personal-api-keys/{key}"),
    ("PUT", "/personal-api-keys/{key}"), ("DELETE", "/personal-api-keys/{key}"),
    ("GET", "/admin/personal-api-keys/"), ("POST", "/admin/personal-api-keys/"),
]
#: Where DSS answers "not found" with a 500 (contract §1.2 CodeEnv): the code-env item routes.
MISSING_AS_500 = re.compile(r"^/(dip/publicapi|public/api)/admin/code-envs/[^/]+/[^/]+(/packages|/logs/.*)?/?$")

NAMES = {
    "user": ["admin", "jdoe", "bob"], "group": ["administrators", "data_team"], "conn": ["pg"],
    "project": ["PRJ", "OTHER"], "scenario": ["NIGHTLY", "SCRIPT"], "lang": ["PYTHON", "R", "python"],
    "env": ["py311", "renv"], "log": ["x.log"], "future": ["0123abcd"], "key": ["KEY"],
}
KEYS = ["login", "password", "displayName", "groups", "enabled", "name", "description", "admin", "type", "params",
        "usableBy", "allowedGroups", "detailsReadability", "projectKey", "owner", "permissions", "tags", "label",
        "standard", "local", "settings", "triggers", "active", "id", "runAsUser", "steps", "script", "deploymentMode",
        "pythonInterpreter", "specPackageList", "usableByAll", "desc", "globalPermissions", "expiry", "user", "key",
        "secrets", "credentials", "sourceType", "userProfile", "custom", "frequency", "hour", "timezone", "mayCreateProjects"]
FLAGS = ["includeSettings", "wait", "allowSelfDeletion", "peek", "forceRebuildEnv", "clearManagedDatasets", "tags", "type",
         "allUsers", "projectFolderId", "withSecrets"]

TEMPLATES = {
    "user": {"login": "jdoe", "password": None, "displayName": "J", "groups": ["data_team"], "enabled": True},
    "group": {"name": "data_team", "description": "d", "admin": False, "mayCreateProjects": True},
    "conn": {"name": "pg", "type": "PostgreSQL", "params": {"password": "p"}, "usableBy": "ALLOWED",
             "allowedGroups": ["data_team"], "detailsReadability": {"readableBy": "ALL", "allowedGroups": []}},
    "project": {"projectKey": "PRJ", "name": "P", "owner": "admin", "permissions": [{"group": "data_team", "admin": True}],
                "tags": ["a"]},
    "scenario": {"name": "Nightly", "type": "step_based", "active": True, "params": {"steps": []},
                 "triggers": [{"type": "temporal", "active": True,
                               "params": {"frequency": "Daily", "hour": 3, "minute": 0, "timezone": "UTC"}}]},
    "env": {"deploymentMode": "DESIGN_MANAGED", "pythonInterpreter": "PYTHON311", "specPackageList": "pandas"},
    "key": {"label": "k", "description": "d", "groups": ["data_team"], "globalPermissions": {"admin": False}},
    "variables": {"standard": {"a": 1}, "local": {}},
}

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(st.sampled_from(KEYS), children, max_size=4)), max_leaves=8)


@st.composite
def bent_template(draw):
    doc = json.loads(json.dumps(draw(st.sampled_from(list(TEMPLATES.values())))))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "drop", "add"]))
        if action == "drop" and doc:
            doc.pop(draw(st.sampled_from(sorted(doc))))
        elif action == "set" and doc:
            doc[draw(st.sampled_from(sorted(doc)))] = draw(json_values)
        else:
            doc[draw(st.sampled_from(KEYS))] = draw(json_values)
    return json.dumps(doc).encode()


bodies = st.one_of(
    st.none(),
    bent_template(),
    bent_template(),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=80),
)
identifiers = st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
                        st.sampled_from(["a b", "é", "..", "%2F", "x" * 300]))


@st.composite
def requests(draw):
    method, template = draw(st.sampled_from(ROUTES))
    path = template
    for name in re.findall(r"{(\w+)}", template):
        value = draw(st.one_of(st.sampled_from(NAMES[name]), identifiers))
        path = path.replace("{" + name + "}", quote(value, safe="") or "x", 1)
    params = draw(st.dictionaries(st.sampled_from(FLAGS), st.one_of(
        st.sampled_from(["True", "False", "true", "false", ""]), st.text(max_size=8)), max_size=3))
    headers = {}
    if draw(st.integers(0, 20)) == 0:
        headers["X-DKU-ProxyUser"] = draw(st.sampled_from(["bob", "ghost", "admin"]))
    body = draw(bodies) if method in ("POST", "PUT", "DELETE") else None
    prefix = draw(st.sampled_from(["/dip/publicapi", "/public/api"]))
    return method, prefix + path, params, headers, body


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    from platforge.provider._kit.sandbox.faults import FaultConfig
    from platforge.provider._kit.sandbox.serve import EmbeddedServer
    from platforge.provider.dataiku.sandbox import SandboxConfig, create_app

    key = "fuzz-admin-" + secrets.token_urlsafe(16)
    db = tmp_path_factory.mktemp("dss-fuzz") / "sandbox.db"
    app = create_app(SandboxConfig(db_path=str(db), admin_api_key=key, build_seconds=0,
                                   faults=FaultConfig(max_body_bytes=64 * 1024)))
    server = EmbeddedServer(app).start()
    client = httpx.Client(base_url=server.url, auth=(key, ""), timeout=30, trust_env=False)
    # Objects for the generated requests to find.
    for method, path, body in (
        ("POST", "/public/api/admin/groups/", {"name": "data_team"}),
        ("POST", "/public/api/admin/users/", {"login": "bob", "groups": ["data_team"]}),
        ("POST", "/public/api/admin/connections/", TEMPLATES["conn"]),
        ("POST", "/public/api/projects/", TEMPLATES["project"]),
        ("POST", "/public/api/projects/PRJ/scenarios/", {"id": "NIGHTLY", "type": "step_based", "name": "n"}),
        ("POST", "/public/api/projects/PRJ/scenarios/", {"id": "SCRIPT", "type": "custom_python", "name": "s"}),
        ("POST", "/public/api/admin/code-envs/PYTHON/py311", TEMPLATES["env"]),
    ):
        assert client.request(method, path, content=json.dumps(body)).status_code == 200
    stats = {"requests": 0, "2xx": 0, "4xx": 0, "missing_code_env_500": 0, "other_5xx": 0}
    yield client, stats
    print(f"\ndataiku fuzz summary: {json.dumps(stats)}")
    report = os.environ.get("PLATFORGE_FUZZ_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"dataiku": stats}) + "\n")
    client.close()
    server.stop()


def _check(response: httpx.Response, path: str, stats: dict) -> None:
    stats["requests"] += 1
    status = response.status_code
    if 200 <= status < 300:
        stats["2xx"] += 1
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            response.json()
        return
    body = response.json()
    assert set(body) >= {"errorType", "message", "detailedMessage"} and body["message"], response.text
    if status == 500 and MISSING_AS_500.match(path) and body["errorType"].endswith("CodedIOException") \
            and body["message"].endswith("doesn't exist"):
        stats["missing_code_env_500"] += 1
        return
    if status >= 500:
        stats["other_5xx"] += 1
    assert status < 500, f"{response.request.method} {path} answered {status}: {response.text[:300]}"
    stats["4xx"] += 1


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(requests(), min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
def test_no_server_errors(target, sequence):
    client, stats = target
    for method, path, params, headers, body in sequence:
        response = client.request(method, path, params=params, headers=headers, content=body)
        _check(response, path, stats)


def test_enough_requests_were_sent_and_the_sandbox_still_works(target):
    client, stats = target
    assert stats["requests"] >= MIN_REQUESTS, stats
    assert stats["other_5xx"] == 0, stats
    assert stats["2xx"] > 0 and stats["4xx"] > 0, stats
    assert client.get("/dip/publicapi/auth/info").status_code == 200
