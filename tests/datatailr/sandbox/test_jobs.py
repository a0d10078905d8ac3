"""Jobs over raw HTTP (contract §2.6, §2.7, §3, §4, §8): versions, lookup, listing, in-place
edits, soft delete, promotion, runs, permissions and bad input."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningSandbox

NS = uuid.UUID("A3FB3D5A-1AD4-4341-AA66-BAC8A26ECBAD")
PERMS = ("read", "write", "operate", "access", "promote")
MiB = 1024**2


def jid(name: str, env: str = "dev") -> str:
    return str(uuid.uuid5(NS, name + env))


class Api:
    """An httpx client signed in as one user, with assertions on the envelope."""

    def __init__(self, client: httpx.Client, name: str) -> None:
        self.client = client
        self.name = name

    def call(self, method: str, path: str, params: dict | None = None, body: Any = None) -> httpx.Response:
        if method == "GET":
            return self.client.get(f"/api/job/{path}", params=params)
        return self.client.request(method, f"/api/job/{path}", json=body)

    def ok(self, method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
        response = self.call(method, path, params, body)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert set(payload) == {"result"}, payload
        return payload["result"]

    def fail(self, status: int, method: str, path: str, params: dict | None = None, body: Any = None) -> str:
        response = self.call(method, path, params, body)
        assert response.status_code == status, response.text
        payload = response.json()
        assert isinstance(payload.get("error"), str) and payload["error"], payload
        return payload["error"]

    # shorthands
    def save(self, data: dict, **options: Any) -> int:
        result = self.ok("POST", "save", body={"json": True, "data": data, **options})
        ((job_id, version),) = result["versions"].items()
        assert job_id == jid(data.get("name") or normalize(data["display_name"]))
        return version

    def get(self, name: str, **params: Any) -> list[dict]:
        return self.ok("GET", "get", {"job_name": name, "json": "True", **params})

    def one(self, name: str, **params: Any) -> dict:
        jobs = self.get(name, **params)
        assert len(jobs) == 1, jobs
        return jobs[0]

    def versions(self, name: str, env: str = "dev") -> list[int]:
        return self.ok("GET", "versions", {"job_name": name, "environment": env})

    def ls(self, **params: Any) -> list[dict]:
        return self.ok("GET", "ls", {"json": "True", **params})

    def runs(self, **params: Any) -> list[dict]:
        return self.ok("GET", "runs", {"json": "True", **params})


def normalize(display: str) -> str:
    import re
    import unicodedata

    return re.sub(r"[^0-9a-z]+", "-", unicodedata.normalize("NFKC", display).lower()).strip("-")


IMAGE = {
    "python_version": "3.12", "python_requirements": "flask", "build_script_pre": "", "build_script_post": "",
    "branch_name": "main", "commit_hash": "25b10656e5bc6c28fa33f420a61a30f466a8e45a",
    "path_to_repo": "/src/proj", "path_to_module": "mypkg",
}


def service(display: str = "Price Server", run_as: str = "admin", **over: Any) -> dict:
    data = {
        "environment": "dev", "image": dict(IMAGE), "type": "service", "display_name": display,
        "name": normalize(display), "run_as": run_as, "memory": "256m", "num_cpus": 0.5, "app_section": "",
        "entrypoint": "mypkg.svc:main", "env": [{"DATATAILR_JOB_ENV_A": "1"}],
    }
    data.update(over)
    return data


def workflow(display: str = "My Flow", run_as: str = "admin", **over: Any) -> dict:
    data = {
        "environment": "dev", "image": dict(IMAGE), "type": "batch", "display_name": display,
        "name": normalize(display), "run_as": run_as, "memory": "100m", "num_cpus": 1, "app_section": "",
        "jobs": [
            {"display_name": "get_number", "name": "get_number", "child_number": 0,
             "entrypoint": "mypkg.tasks:get_number", "memory": "100m", "num_cpus": 1, "depends_on": [],
             "env": [{"DATATAILR_JOB_ENV_MODE": "fast"}]},
            {"display_name": "add", "name": "add", "child_number": 1, "entrypoint": "mypkg.tasks:add",
             "memory": "512m", "num_cpus": 2, "depends_on": [0], "env": []},
            {"display_name": "second", "name": "second", "child_number": 2,
             "entrypoint": "mypkg.tasks:get_number", "memory": "100m", "num_cpus": 1, "depends_on": [],
             "env": []},
        ],
        "schedule": None, "fail_after": 5400000000, "expire_after": None,
    }
    data.update(over)
    return data


@pytest.fixture
def login(sandbox: RunningSandbox) -> Iterator[Callable[[str, str], Api]]:
    clients: list[httpx.Client] = []

    def sign_in(user: str, password: str) -> Api:
        client = httpx.Client(base_url=sandbox.url, timeout=30)
        clients.append(client)
        response = client.post("/login", auth=(user, password))
        assert response.status_code == 200, response.text
        return Api(client, user)

    yield sign_in
    for client in clients:
        client.close()


@pytest.fixture
def admin(sandbox: RunningSandbox, login: Callable[[str, str], Api]) -> Api:
    assert sandbox.admin_user == "admin"
    return login(sandbox.admin_user, sandbox.admin_password)


@pytest.fixture
def user(admin: Api, login: Callable[[str, str], Api]) -> Callable[[str], Api]:
    """Create a regular (non-admin) user and sign in as them."""

    def make(name: str) -> Api:
        response = admin.client.post("/api/user/add", json={
            "username": name, "first-name": name.title(), "last-name": "Test",
            "email": f"{name}@example.test", "password": f"{name}-pw-123",
        })
        assert response.status_code == 200, response.text
        return login(name, f"{name}-pw-123")

    return make


def user_id(api: Api, name: str) -> int:
    response = api.client.get("/api/user/get", params={"username": name, "json": "True"})
    assert response.status_code == 200, response.text
    return response.json()["result"]["user_id"]


# ── save and versions ────────────────────────────────────────────────────────────────────────


def test_save_creates_version_one_then_appends(admin: Api) -> None:
    assert admin.save(service()) == 1
    assert admin.save(service(memory="512m")) == 2
    assert admin.save(service(memory="1g")) == 3
    assert admin.versions("price-server") == [1, 2, 3]
    job = admin.one("price-server")
    assert job["version"] == 3 and job["memory"] == 1024 * MiB
    # Older versions are immutable snapshots.
    assert admin.one("price-server", version="1")["memory"] == 256 * MiB
    assert admin.one("price-server", version="2")["memory"] == 512 * MiB


def test_the_id_is_uuid5_of_name_and_environment(admin: Api) -> None:
    admin.save(service())
    job = admin.one("price-server")
    assert job["id"] == "95131336-1461-588d-af49-7a7bbae72a94" == jid("price-server")
    admin.save(workflow())
    assert admin.one("my-flow")["id"] == "78017ed4-a206-5c96-beed-be39d35e90b8"


def test_job_dict_has_what_job_from_dict_needs(admin: Api) -> None:
    before = time.time()
    admin.save(service(vram="2g", budget_id=7))
    job = admin.one("price-server")
    for key in ("display_name", "name", "image", "run_as", "acl", "state", "create_time", "version", "id"):
        assert key in job
    assert job["display_name"] == "Price Server" and job["type"] == "service" and job["environment"] == "dev"
    assert job["state"] == "ready"
    assert before - 5 < job["create_time"] / 1e6 < time.time() + 5  # microseconds since the epoch
    assert (job["memory"], job["vram"], job["num_cpus"]) == (256 * MiB, 2048 * MiB, 0.5)
    assert job["entrypoint"] == "mypkg.svc:main" and job["env"] == [{"DATATAILR_JOB_ENV_A": "1"}]
    assert job["budget_id"] == 7 and job["run_as"] == "admin"
    admin_id = user_id(admin, "admin")
    assert job["acl"] == {p: [admin_id] for p in PERMS} and job["acl_others"] == ""
    image_keys = {
        "python_version", "python_requirements", "build_script_pre", "build_script_post", "build_secret_keys",
        "branch_name", "commit_hash", "path_to_repo", "path_to_module", "build_stdout", "build_stderr", "name",
        "last_build_succeeded", "bundle_name", "registry", "run_after_build", "tag", "id", "image_id", "image_name",
    }
    assert set(job["image"]) <= image_keys
    assert {k: job["image"][k] for k in IMAGE} == IMAGE


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("256m", 256 * MiB), ("2G", 2 * 1024 * MiB), ("1g", 1024 * MiB), ("512Mi", 512 * MiB),
     ("64k", 64 * 1024), ("1.5g", 1536 * MiB), ("2GB", 2048 * MiB), (1048576, MiB), ("4096", 4096)],
)
def test_memory_strings_are_stored_in_bytes_with_binary_multipliers(admin: Api, memory: Any, expected: int) -> None:
    admin.save(service(memory=memory))
    assert admin.one("price-server")["memory"] == expected


def test_save_stores_the_bundle_fingerprint_not_the_archive(admin: Api) -> None:
    import base64

    archive = base64.b64encode(b"not really a tarball").decode()
    admin.ok("POST", "save", body={"data": service(), "repo_archive_b64": archive, "repo_dir_name": "src/proj",
                                   "repo_module_path": "mypkg", "local_hostname": "vm"})
    assert admin.one("price-server")["version"] == 1
    error = admin.fail(400, "POST", "save", body={"data": service(), "repo_archive_b64": "***"})
    assert "repo_archive_b64" in error
    assert admin.versions("price-server") == [1]


# ── lookup ───────────────────────────────────────────────────────────────────────────────────


def test_get_resolves_name_display_name_id_and_quoted_display_name(admin: Api) -> None:
    admin.save(service())
    for ref in ("price-server", "Price Server", jid("price-server"), '"Price Server"', "PRICE  server"):
        assert admin.one(ref)["name"] == "price-server", ref


def test_get_missing_job_is_an_empty_list_and_missing_version_is_404(admin: Api) -> None:
    assert admin.get("nope") == []
    assert admin.get(jid("nope")) == []
    admin.save(service())
    assert "no version 9" in admin.fail(404, "GET", "get", {"job_name": "price-server", "version": "9"})
    assert admin.get("price-server", environment="pre") == []


def test_get_defaults_to_dev_and_version_minus_one_means_latest(admin: Api) -> None:
    admin.save(service())
    admin.save(service())
    assert admin.one("price-server", version="-1")["version"] == 2
    assert admin.one("price-server", environment="dev")["environment"] == "dev"


def test_ambiguous_display_name_returns_every_match_and_mutations_refuse(admin: Api) -> None:
    admin.save(service("Alpha"))
    admin.save(service("Beta"))
    admin.ok("PUT", "modify", body={"job_name": "beta", "display-name": "Alpha"})
    assert sorted(j["name"] for j in admin.get("Alpha")) == ["alpha", "beta"]
    assert [j["name"] for j in admin.get("alpha")] == ["alpha"]  # an internal name is exact
    assert "not unique" in admin.fail(409, "POST", "start", body={"job_name": "Alpha"})
    assert admin.runs() == []


# ── workflows ────────────────────────────────────────────────────────────────────────────────


def test_workflow_children_are_materialised_and_readable(admin: Api) -> None:
    admin.save(workflow())
    plain = admin.one("my-flow")
    assert "children_full" not in plain and plain["type"] == "batch"
    assert "entrypoint" not in plain and plain["fail_after"] == 5400000000
    full = admin.one("my-flow", **{"show-children": "True"})
    children = full["children_full"]
    assert [(c["name"], c["display_name"], c["child_number"], c["depends_on"]) for c in children] == [
        ("my-flow-0", "get_number", 0, []), ("my-flow-1", "add", 1, [0]), ("my-flow-2", "second", 2, []),
    ]
    assert [c["memory"] for c in children] == [100 * MiB, 512 * MiB, 100 * MiB]
    assert all(len(c["entrypoint"].split(":")) == 2 for c in children)
    child = admin.one("my-flow-1")
    assert child["id"] == jid("my-flow-1") and child["num_cpus"] == 2 and child["image"] == full["image"]
    assert child["version"] == 1 and child["acl"] == full["acl"]
    assert admin.one(jid("my-flow-2"))["display_name"] == "second"
    assert admin.get("my-flow-7") == []
    # Tasks are not jobs of their own in listings.
    assert [j["name"] for j in admin.ls()] == ["my-flow"]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([], "non-empty list"),
        ([{"display_name": "a", "entrypoint": "m:a", "depends_on": [0]}], "depends on 0"),
        ([{"display_name": "a", "entrypoint": "m:a", "depends_on": [1], "child_number": 0},
          {"display_name": "b", "entrypoint": "m:b", "depends_on": [0], "child_number": 1}], "cycle"),
        ([{"display_name": "a", "entrypoint": "m:a", "child_number": 0},
          {"display_name": "b", "entrypoint": "m:b", "child_number": 0}], "unique"),
        ([{"display_name": "a", "entrypoint": "m.a"}], "module:function"),
        ([{"display_name": "a", "entrypoint": "m:a", "depends_on": [5]}], "depends on 5"),
        ([{"display_name": "a", "entrypoint": "m:a", "memory": "lots"}], "jobs[0].memory"),
        (["not an object"], "jobs[0]"),
    ],
)
def test_bad_task_graphs_are_rejected(admin: Api, jobs: list, message: str) -> None:
    assert message in admin.fail(400, "POST", "save", body={"data": workflow(jobs=jobs)})
    assert admin.get("my-flow") == []


def test_schedule_helpers_compile_and_take_precedence_timezone_is_stored(admin: Api) -> None:
    admin.save(workflow(schedule="0 0 1 * * *"), **{"at-hours": "8,16", "weekdays": "Mon,Tue,Wed,Thu,Fri",
                                                    "timezone": "Europe/Berlin"})
    job = admin.one("my-flow")
    assert job["schedule"] == "0 0 8,16 * * 1,2,3,4,5"
    assert job["timezone"] == "Europe/Berlin"
    assert job["schedule_args"] == {"at-hours": "8,16", "weekdays": "Mon,Tue,Wed,Thu,Fri"}
    admin.save(workflow(schedule="0 */2 * * *"))
    job = admin.one("my-flow")
    assert (job["schedule"], job["timezone"], job["schedule_args"]) == ("0 */2 * * *", None, {})
    assert "Unknown timezone" in admin.fail(400, "POST", "save", body={"data": workflow(), "timezone": "Mars/Base"})
    assert "Invalid weekdays" in admin.fail(400, "POST", "save", body={"data": workflow(), "weekdays": "Funday"})
    assert "expected 6 fields" in admin.fail(400, "POST", "save", body={"data": workflow(schedule="daily")})
    assert "Only workflows" in admin.fail(400, "POST", "save", body={"data": service(), "at-hours": "1"})
    assert "Only workflows" in admin.fail(400, "POST", "save", body={"data": service(schedule="0 0 0 * * *")})
    assert admin.versions("my-flow") == [1, 2]


# ── listing ──────────────────────────────────────────────────────────────────────────────────


def test_ls_pages_with_default_batch_of_100(admin: Api) -> None:
    for n in range(103):
        admin.save(service(f"svc {n:03d}"))
    assert len(admin.ls()) == 100
    assert [j["name"] for j in admin.ls(offset="100")] == ["svc-100", "svc-101", "svc-102"]
    page = admin.ls(**{"batch-size": "10", "offset": "20", "sort": "-name"})
    assert [j["name"] for j in page] == [f"svc-{n:03d}" for n in range(82, 72, -1)]
    assert len(admin.ls(**{"batch-size": "-1"})) == 103


def test_ls_filters_on_the_known_fields(admin: Api) -> None:
    admin.save(service("Alpha", memory="1g"))
    admin.save(service("Beta"))
    admin.save(service("Beta"))
    admin.save(workflow())
    admin.ok("POST", "promote", body={"job_name": "alpha", "version": "1", "environment": "dev"})

    def names(flt: str) -> list[tuple[str, str]]:
        return sorted((j["name"], j["environment"]) for j in admin.ls(filter=flt))

    assert names("type = service and environment = dev") == [("alpha", "dev"), ("beta", "dev")]
    assert names("type = batch") == [("my-flow", "dev")]
    assert names("environment = pre") == [("alpha", "pre")]
    assert names("version = 2") == [("beta", "dev")]
    assert names(f"memory >= {1024 * MiB}") == [("alpha", "dev"), ("alpha", "pre")]
    assert names("name starts_with al and environment = dev") == [("alpha", "dev")]
    assert names("display_name = 'My Flow'") == [("my-flow", "dev")]
    assert names(f"id = {jid('beta')}") == [("beta", "dev")]
    assert names("type = service and environment = dev and (cpu = 0.5 and run_as = admin)") == [("alpha", "dev"), ("beta", "dev")]
    assert names("state = ready and not type = service") == [("my-flow", "dev")]
    assert "unknown field" in admin.fail(400, "GET", "ls", {"filter": "colour = red"})
    assert "Invalid filter" in admin.fail(400, "GET", "ls", {"filter": "name = (x"})
    assert "Invalid sort" in admin.fail(400, "GET", "ls", {"sort": "-colour"})


def test_ls_hides_removed_jobs_unless_all(admin: Api) -> None:
    admin.save(service("Alpha"))
    admin.save(service("Beta"))
    admin.ok("DELETE", "rm", body={"job_name": "beta", "all": True})
    assert [j["name"] for j in admin.ls()] == ["alpha"]
    listed = {j["name"]: j["deleted"] for j in admin.ls(all="True")}
    assert listed == {"alpha": False, "beta": True}


# ── modify ───────────────────────────────────────────────────────────────────────────────────


def test_modify_edits_the_version_in_place(admin: Api) -> None:
    admin.save(service())
    admin.ok("PUT", "modify", body={"job_name": "price-server", "environment": "dev", "memory": "2G",
                                    "num-cpus": "2", "display-name": "Price Server Pro", "app-section": "pricing"})
    assert admin.versions("price-server") == [1]
    job = admin.one("price-server")
    assert (job["memory"], job["num_cpus"], job["display_name"], job["app_section"]) == (2048 * MiB, 2, "Price Server Pro", "pricing")
    assert job["name"] == "price-server" and job["id"] == jid("price-server")
    assert admin.one("Price Server Pro")["version"] == 1


def test_modify_a_given_version_leaves_the_others_alone(admin: Api) -> None:
    admin.save(service())
    admin.save(service())
    admin.ok("PUT", "modify", body={"job_name": "price-server", "version": "1", "memory": "64m"})
    assert admin.one("price-server", version="1")["memory"] == 64 * MiB
    assert admin.one("price-server", version="2")["memory"] == 256 * MiB


def test_modify_schedule_and_run_as_of_a_workflow_and_a_task(admin: Api, user: Callable[[str], Api]) -> None:
    user("carol")
    admin.save(workflow(), **{"at-hours": "8"})
    admin.ok("PUT", "modify", body={"job_name": "my-flow", "schedule": "0 */5 * * * *", "run-as": "carol"})
    job = admin.one("my-flow", **{"show-children": "True"})
    assert (job["schedule"], job["schedule_args"], job["run_as"]) == ("0 */5 * * * *", {}, "carol")
    admin.ok("PUT", "modify", body={"job_name": "my-flow", "child": "1", "memory": "1g", "num-cpus": "4"})
    admin.ok("PUT", "modify", body={"job_name": "my-flow-2", "display-name": "renamed"})
    children = admin.one("my-flow", **{"show-children": "True"})["children_full"]
    assert (children[1]["memory"], children[1]["num_cpus"], children[2]["display_name"]) == (1024 * MiB, 4, "renamed")
    assert children[0]["memory"] == 100 * MiB
    admin.ok("PUT", "modify", body={"job_name": "my-flow", "schedule": ""})
    assert admin.one("my-flow")["schedule"] is None
    assert admin.versions("my-flow") == [1]


def test_modify_acl_options_each_set_their_part(admin: Api, user: Callable[[str], Api]) -> None:
    user("bob")
    user("carol")
    admin.save(service())
    response = admin.client.post("/api/group/add", json={"group_name": "analysts"})
    assert response.status_code == 200, response.text
    gid = admin.client.get("/api/group/get", params={"group_name": "analysts"}).json()["result"]["group_id"]
    aid, bid, cid = user_id(admin, "admin"), user_id(admin, "bob"), user_id(admin, "carol")

    admin.ok("PUT", "modify", body={"job_name": "price-server", "users": "bob:r,bob:o,carol:rwoap",
                                    "groups": "analysts:ra", "others": "r"})
    job = admin.one("price-server")
    assert job["acl"] == {"read": sorted([-gid, bid, cid]), "write": [cid], "operate": [bid, cid],
                          "access": [-gid, cid], "promote": [cid]}
    assert job["acl_others"] == "r"
    # `users` alone replaces only the user entries; groups and others stay.
    admin.ok("PUT", "modify", body={"job_name": "price-server", "users": "admin:rwoap"})
    job = admin.one("price-server")
    assert job["acl"] == {"read": [-gid, aid], "write": [aid], "operate": [aid], "access": [-gid, aid], "promote": [aid]}
    assert job["acl_others"] == "r"
    admin.ok("PUT", "modify", body={"job_name": "price-server", "groups": "", "others": ""})
    job = admin.one("price-server")
    assert job["acl"] == {p: [aid] for p in PERMS} and job["acl_others"] == ""


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "Nothing to modify"),
        ({"schedule": "0 0 0 * * *"}, 400, "Only workflows"),
        ({"memory": "huge"}, 400, "Invalid memory"),
        ({"num-cpus": "-1"}, 400, "num-cpus"),
        ({"run-as": "nobody"}, 400, "Unknown run_as"),
        ({"users": "nobody:r"}, 400, "Unknown user"),
        ({"users": "admin:x"}, 400, "Invalid permission letter"),
        ({"others": "z"}, 400, "Invalid permission letter"),
        ({"version": "5", "memory": "1g"}, 404, "no version 5"),
        ({"child": "0", "memory": "1g"}, 400, "workflows only"),
        ({"display-name": "   "}, 400, "must not be empty"),
    ],
)
def test_modify_bad_input(admin: Api, body: dict, status: int, message: str) -> None:
    admin.save(service())
    assert message in admin.fail(status, "PUT", "modify", body={"job_name": "price-server", **body})
    job = admin.one("price-server")
    assert (job["memory"], job["num_cpus"], job["run_as"], job["version"]) == (256 * MiB, 0.5, "admin", 1)


def test_modify_task_rejects_job_level_fields_and_unknown_tasks(admin: Api) -> None:
    admin.save(workflow())
    assert "Only memory, num-cpus and display-name" in admin.fail(
        400, "PUT", "modify", body={"job_name": "my-flow", "child": "0", "schedule": "0 0 0 * * *"})
    assert "no task 9" in admin.fail(404, "PUT", "modify", body={"job_name": "my-flow", "child": "9", "memory": "1g"})


# ── rm and restore ──────────────────────────────────────────────────────────────────────────


def test_rm_one_version_makes_the_previous_one_current_and_restore_undoes_it(admin: Api) -> None:
    for _ in range(3):
        admin.save(service())
    admin.ok("DELETE", "rm", body={"job_name": "price-server", "version": "3"})
    assert admin.versions("price-server") == [1, 2]
    assert admin.one("price-server")["version"] == 2
    removed = admin.one("price-server", version="3")
    assert removed["deleted"] is True
    admin.ok("POST", "restore", body={"job_name": "price-server", "version": "3"})
    assert admin.versions("price-server") == [1, 2, 3] and admin.one("price-server")["version"] == 3
    # Default: the current version; a new save continues the numbering after removed ones.
    admin.ok("DELETE", "rm", body={"job_name": "price-server"})
    assert admin.versions("price-server") == [1, 2]
    assert admin.save(service()) == 4


def test_rm_all_hides_the_job_and_restore_all_brings_it_back(admin: Api) -> None:
    admin.save(service())
    admin.save(service())
    admin.ok("DELETE", "rm", body={"job_name": "price-server", "environment": "dev", "all": True})
    assert admin.get("price-server") == [] and admin.versions("price-server") == []
    assert "no matching version" in admin.fail(404, "DELETE", "rm", body={"job_name": "price-server", "all": True})
    admin.ok("POST", "restore", body={"job_name": "price-server", "all": True})
    assert admin.versions("price-server") == [1, 2]
    assert "no matching removed version" in admin.fail(404, "POST", "restore", body={"job_name": "price-server"})
    assert "not found" in admin.fail(404, "DELETE", "rm", body={"job_name": "ghost", "all": True})


def test_rm_stops_what_it_removes(admin: Api) -> None:
    admin.save(service())
    admin.ok("POST", "start", body={"job_name": "price-server"})
    admin.ok("DELETE", "rm", body={"job_name": "price-server", "all": True})
    assert [r["state"] for r in admin.runs()] == ["stopped"]
    assert admin.one("price-server", version="1")["state"] == "stopped"


def test_changing_the_type_needs_the_old_job_removed_first(admin: Api) -> None:
    admin.save(service("Thing"))
    assert "is a service, not a app" in admin.fail(409, "POST", "save", body={"data": service("Thing", type="app")})
    admin.ok("DELETE", "rm", body={"job_name": "thing", "all": True})
    assert admin.save(service("Thing", type="app")) == 1
    assert admin.one("thing")["type"] == "app"


# ── promote ──────────────────────────────────────────────────────────────────────────────────


def test_promote_dev_to_pre_to_prod_keeps_the_version(admin: Api) -> None:
    for memory in ("128m", "256m", "512m"):
        admin.save(service(memory=memory))
    admin.ok("POST", "promote", body={"job_name": "Price Server", "version": "2", "environment": "dev"})
    pre = admin.one("price-server", environment="pre")
    assert (pre["version"], pre["environment"], pre["id"], pre["memory"]) == (2, "pre", jid("price-server", "pre"), 256 * MiB)
    assert pre["state"] == "ready" and pre["acl"] == admin.one("price-server")["acl"]
    assert admin.versions("price-server", "pre") == [2]
    admin.ok("POST", "promote", body={"job_name": "price-server", "version": "2", "environment": "pre"})
    assert admin.versions("price-server", "prod") == [2]
    assert admin.one(jid("price-server", "prod"), environment="prod")["version"] == 2
    # Idempotent, and a rollback target may be promoted after a newer one.
    assert "already" in admin.ok("POST", "promote", body={"job_name": "price-server", "version": "2", "environment": "dev"})
    admin.ok("POST", "promote", body={"job_name": "price-server", "version": "3", "environment": "dev"})
    admin.ok("POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "dev"})
    assert admin.versions("price-server", "pre") == [1, 2, 3]
    assert admin.one("price-server", environment="pre")["version"] == 3
    assert admin.versions("price-server", "dev") == [1, 2, 3]


def test_promote_restores_a_version_removed_in_the_target(admin: Api) -> None:
    admin.save(service())
    admin.ok("POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "dev"})
    admin.ok("DELETE", "rm", body={"job_name": "price-server", "environment": "pre", "all": True})
    assert admin.versions("price-server", "pre") == []
    assert "restored" in admin.ok("POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "dev"})
    assert admin.versions("price-server", "pre") == [1]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"version": "1", "environment": "prod"}, 400, "last environment"),
        ({"version": "7", "environment": "dev"}, 404, "no version 7"),
        ({"version": "latest", "environment": "dev"}, 400, "explicit version"),
        ({"version": "1", "environment": "qa"}, 400, "Unknown environment"),
        ({"version": "x", "environment": "dev"}, 400, "Invalid version"),
        ({"environment": "dev"}, 400, "version"),
    ],
)
def test_promote_bad_input(admin: Api, body: dict, status: int, message: str) -> None:
    admin.save(service())
    assert message in admin.fail(status, "POST", "promote", body={"job_name": "price-server", **body})
    assert admin.get("price-server", environment="pre") == []


def test_promote_of_a_removed_version_is_refused(admin: Api) -> None:
    admin.save(service())
    admin.save(service())
    admin.ok("DELETE", "rm", body={"job_name": "price-server", "version": "1"})
    assert "removed" in admin.fail(409, "POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "dev"})
    assert admin.get("price-server", environment="pre") == []


def test_jobs_are_saved_in_dev_only(admin: Api) -> None:
    assert "use `job promote`" in admin.fail(400, "POST", "save", body={"data": service(environment="prod")})
    assert admin.get("price-server", environment="prod") == []


# ── start, stop, runs ───────────────────────────────────────────────────────────────────────


def test_service_start_stop_and_runs(admin: Api) -> None:
    admin.save(service())
    started = admin.ok("POST", "start", body={"job_name": "price-server", "environment": "dev", "json": True})
    assert started["running"][0]["Id"] == jid("price-server") and started["pending"] == []
    run_id = started["running"][0]["RunId"]
    assert admin.one("price-server")["state"] == "running"
    assert "already running" in admin.fail(409, "POST", "start", body={"job_name": "price-server"})
    (run,) = admin.runs()
    assert run["id"] == run_id and run["run_id"] == run_id
    assert (run["job_name"], run["name"], run["job_id"], run["job_version"]) == ("price-server", "price-server", jid("price-server"), 1)
    assert (run["type"], run["environment"], run["state"], run["end_time"]) == ("service", "dev", "running", None)
    assert run["submit_time"] > 0 and run["original_run_id"] == -1 and run["partial_rerun"] is False
    for key in ("start_time", "start_provisioning_time", "scheduled_time", "tried_to_start_time", "cost", "priority", "error_message"):
        assert key in run
    assert "stopped" in admin.ok("DELETE", "stop", body={"job_name": "price-server", "environment": "dev"})
    (run,) = admin.runs()
    assert run["state"] == "stopped" and run["end_time"] >= run["start_time"]
    assert admin.one("price-server")["state"] == "stopped"
    assert "was not running" in admin.ok("DELETE", "stop", body={"job_name": "price-server"})


def test_starting_a_new_version_stops_the_old_ones_runs(admin: Api) -> None:
    admin.save(service())
    admin.ok("POST", "start", body={"job_name": "price-server"})
    admin.save(service())
    admin.ok("POST", "start", body={"job_name": "price-server"})
    states = {r["job_version"]: r["state"] for r in admin.runs()}
    assert states == {1: "stopped", 2: "running"}
    # An older version cannot start while a newer one runs.
    assert "already running" in admin.fail(409, "POST", "start", body={"job_name": "price-server", "version": "1"})


def test_job_run_saves_and_starts_atomically(admin: Api) -> None:
    result = admin.ok("POST", "run", body={"json": True, "data": service(type="app")})
    assert result["running"][0]["Id"] == jid("price-server") and isinstance(result["running"][0]["RunId"], int)
    assert admin.one("price-server")["state"] == "running"


def test_scheduled_workflow_is_only_scheduled_unless_now(admin: Api) -> None:
    admin.save(workflow(), **{"at-hours": "8"})
    scheduled = admin.ok("POST", "start", body={"job_name": "my-flow"})
    assert scheduled["running"] == [] and scheduled["scheduled"][0]["Id"] == jid("my-flow")
    assert admin.one("my-flow")["state"] == "scheduled" and admin.runs() == []
    assert "already scheduled" in admin.fail(409, "POST", "start", body={"job_name": "my-flow"})
    now = admin.ok("POST", "start", body={"job_name": "my-flow", "now": True, "run-date": "2026-01-01"})
    run_id = now["running"][0]["RunId"]
    records = admin.runs(filter=f"run_id = {run_id}")
    assert [r["job_name"] for r in records] == ["my-flow", "my-flow-0", "my-flow-1", "my-flow-2"]
    assert {r["state"] for r in records} == {"completed"} and records[0]["run_date"] == "2026-01-01"
    assert [r["job_name"] for r in admin.runs(filter="type = batch and environment = dev and name = my-flow")] == ["my-flow"]
    assert admin.one("my-flow")["state"] == "scheduled"  # a manual run keeps the schedule
    # Only the latest version can be scheduled.
    admin.save(workflow(), **{"at-hours": "9"})
    assert "Only the latest version" in admin.fail(409, "POST", "start", body={"job_name": "my-flow", "version": "1"})
    admin.ok("POST", "start", body={"job_name": "my-flow"})
    assert admin.one("my-flow", version="1")["state"] == "stopped" and admin.one("my-flow")["state"] == "scheduled"
    admin.ok("DELETE", "stop", body={"job_name": "my-flow"})
    assert admin.one("my-flow")["state"] == "stopped"


def test_unscheduled_workflow_runs_complete_and_rerun(admin: Api) -> None:
    admin.save(workflow())
    run_id = admin.ok("POST", "start", body={"job_name": "my-flow", "version": "1"})["running"][0]["RunId"]
    assert admin.one("my-flow")["state"] == "completed"
    again = admin.ok("POST", "rerun", body={"run-id": str(run_id), "full": True})["running"][0]["RunId"]
    records = admin.runs(filter=f"run_id = {again}")
    assert len(records) == 4 and records[0]["original_run_id"] == run_id and records[0]["partial_rerun"] is False
    assert "not found" in admin.fail(404, "POST", "rerun", body={"run-id": "999"})


def test_stop_by_run_id(admin: Api) -> None:
    admin.save(service())
    run_id = admin.ok("POST", "start", body={"job_name": "price-server"})["running"][0]["RunId"]
    admin.ok("DELETE", "stop", body={"job_name": str(run_id), "by-run-id": True})
    assert admin.runs()[0]["state"] == "stopped"
    assert "not found" in admin.fail(404, "DELETE", "stop", body={"job_name": "12345", "by-run-id": True})
    assert "run id" in admin.fail(400, "DELETE", "stop", body={"job_name": "abc", "by-run-id": True})


def test_runs_pages_and_sorts(admin: Api) -> None:
    admin.save(workflow())
    for _ in range(30):
        admin.ok("POST", "start", body={"job_name": "my-flow"})
    assert len(admin.runs()) == 100  # 30 runs x 4 records, default batch 100
    mothers = admin.runs(filter="name = my-flow", sort="-run_id", **{"batch-size": "3"})
    assert [r["run_id"] for r in mothers] == [30, 29, 28]
    assert "unknown field" in admin.fail(400, "GET", "runs", {"filter": "colour = red"})


def test_start_of_a_removed_version_or_missing_job(admin: Api) -> None:
    admin.save(service())
    admin.save(service())
    admin.ok("DELETE", "rm", body={"job_name": "price-server", "version": "1"})
    assert "restore it first" in admin.fail(409, "POST", "start", body={"job_name": "price-server", "version": "1"})
    assert "not found" in admin.fail(404, "POST", "start", body={"job_name": "ghost"})
    assert "run-date" in admin.fail(400, "POST", "start", body={"job_name": "price-server", "run-date": "tomorrow"})
    assert admin.runs() == []


# ── permissions ──────────────────────────────────────────────────────────────────────────────


def test_other_users_cannot_see_or_touch_a_job_by_default(admin: Api, user: Callable[[str], Api]) -> None:
    admin.save(service())
    admin.ok("POST", "start", body={"job_name": "price-server"})
    bob = user("bob")
    assert "Permission denied" in bob.fail(403, "GET", "get", {"job_name": "price-server"})
    assert bob.ls() == [] and bob.runs() == []
    assert "Permission denied" in bob.fail(403, "GET", "versions", {"job_name": "price-server"})
    assert "Permission denied" in bob.fail(403, "POST", "save", body={"data": service(run_as="bob")})
    assert "Permission denied" in bob.fail(403, "PUT", "modify", body={"job_name": "price-server", "memory": "1g"})
    assert "Permission denied" in bob.fail(403, "DELETE", "rm", body={"job_name": "price-server", "all": True})
    assert "Permission denied" in bob.fail(403, "DELETE", "stop", body={"job_name": "price-server"})
    assert "Permission denied" in bob.fail(403, "POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "dev"})
    # Nothing changed.
    job = admin.one("price-server")
    assert (job["version"], job["memory"], job["state"]) == (1, 256 * MiB, "running")
    assert admin.versions("price-server") == [1] and admin.get("price-server", environment="pre") == []
    assert [r["state"] for r in admin.runs()] == ["running"]


def test_each_permission_unlocks_its_commands(admin: Api, user: Callable[[str], Api]) -> None:
    admin.save(service())
    bob = user("bob")
    admin.ok("PUT", "modify", body={"job_name": "price-server", "users": "admin:rwoap,bob:r"})
    assert bob.one("price-server")["version"] == 1
    assert "write" in bob.fail(403, "PUT", "modify", body={"job_name": "price-server", "memory": "1g"})
    assert "operate" in bob.fail(403, "POST", "start", body={"job_name": "price-server"})
    admin.ok("PUT", "modify", body={"job_name": "price-server", "users": "admin:rwoap,bob:ro"})
    bob.ok("POST", "start", body={"job_name": "price-server"})
    bob.ok("DELETE", "stop", body={"job_name": "price-server"})
    assert "promote" in bob.fail(403, "POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "dev"})
    admin.ok("PUT", "modify", body={"job_name": "price-server", "users": "admin:rwoap,bob:rwp"})
    bob.ok("POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "dev"})
    bob.ok("PUT", "modify", body={"job_name": "price-server", "memory": "1g"})
    # A writer's save needs run_as permission for someone else.
    assert "may not run jobs as admin" in bob.fail(403, "POST", "save", body={"data": service()})
    assert bob.save(service(run_as="bob")) == 2


def test_others_letters_grant_everybody(admin: Api, user: Callable[[str], Api]) -> None:
    admin.save(service())
    bob = user("bob")
    admin.ok("PUT", "modify", body={"job_name": "price-server", "others": "r"})
    assert bob.one("price-server")["acl_others"] == "r"
    assert [j["name"] for j in bob.ls()] == ["price-server"]
    assert "Permission denied" in bob.fail(403, "POST", "start", body={"job_name": "price-server"})


def test_group_entries_grant_members(admin: Api, user: Callable[[str], Api]) -> None:
    admin.save(service())
    bob = user("bob")
    assert admin.client.post("/api/group/add", json={"group_name": "ops"}).status_code == 200
    assert admin.client.post("/api/group/add-users", json={"group_name": "ops", "username": "bob"}).status_code == 200
    admin.ok("PUT", "modify", body={"job_name": "price-server", "groups": "ops:ro"})
    bob.ok("POST", "start", body={"job_name": "price-server"})
    assert admin.one("price-server")["state"] == "running"


def test_a_users_own_job_gets_the_default_acl(admin: Api, user: Callable[[str], Api]) -> None:
    bob = user("bob")
    bob_id = user_id(admin, "bob")
    assert bob.save(service("Bob Svc", run_as="bob")) == 1
    job = bob.one("bob-svc")
    assert job["acl"] == {p: [bob_id] for p in PERMS} and job["run_as"] == "bob"
    assert bob.save(service("Bob Svc2", run_as="bob", acl={})) == 1
    assert bob.one("bob-svc2")["acl"] == {p: [bob_id] for p in PERMS}
    # Admins bypass ACLs.
    admin.ok("PUT", "modify", body={"job_name": "bob-svc", "memory": "1g"})
    assert [j["name"] for j in admin.ls()] == ["bob-svc", "bob-svc2"]


def test_an_explicit_acl_is_stored_as_sent(admin: Api, user: Callable[[str], Api]) -> None:
    user("bob")
    aid, bid = user_id(admin, "admin"), user_id(admin, "bob")
    admin.save(service(acl={"read": [aid, bid], "write": [aid], "access": [bid]}))
    assert admin.one("price-server")["acl"] == {"read": [aid, bid], "write": [aid], "access": [bid]}


def test_run_refused_by_start_permission_saves_nothing(admin: Api, user: Callable[[str], Api]) -> None:
    bob = user("bob")
    bid = user_id(admin, "bob")
    assert "operate" in bob.fail(403, "POST", "run", body={"data": service(run_as="bob", acl={"read": [bid], "write": [bid]})})
    assert admin.get("price-server") == []


# ── bad input never crashes ─────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("file:///tmp/missing.json", "Invalid data"),
        (None, "Invalid data"),
        ([1, 2], "Invalid data"),
        ({"type": "service"}, "display_name"),
        (lambda: service(type="cronjob"), "Invalid type"),
        (lambda: service(name="other-name"), "Invalid name"),
        (lambda: service(display="!!!", name=None), "no letters or digits"),
        (lambda: service(per_user_job=True), "per_user_job"),
        (lambda: service(colour="red"), "unknown keys colour"),
        (lambda: service(image={"python_version": "3.12", "flavour": "x"}), "Invalid image: unknown keys flavour"),
        (lambda: service(image="python:3.12"), "Invalid image"),
        (lambda: service(memory="0m"), "greater than zero"),
        (lambda: service(memory="9" * 30), "Invalid memory"),
        (lambda: service(memory=True), "Invalid memory"),
        (lambda: service(num_cpus=0), "num_cpus"),
        (lambda: service(num_cpus="many"), "num_cpus"),
        (lambda: service(entrypoint="main"), "module:function"),
        (lambda: service(entrypoint=None), "entrypoint"),
        (lambda: service(env=[{"A": "1", "B": "2"}]), "single-key"),
        (lambda: service(env="A=1"), "Invalid env"),
        (lambda: service(acl=["read"]), "Invalid acl"),
        (lambda: service(acl={"read": ["admin"]}), "integer ids"),
        (lambda: service(acl={"sudo": [1000]}), "Invalid acl permission"),
        (lambda: service(acl={"read": [424242]}), "Unknown user id 424242"),
        (lambda: service(acl={"read": [-424242]}), "Unknown group id 424242"),
        (lambda: service(acl={"read": [0]}), "Invalid id 0"),
        (lambda: service(run_as="nobody"), "Unknown run_as user"),
        (lambda: service(display="bad\udcff"), "UTF-8"),
        (lambda: service(budget_id=2**70), "too large"),
        (lambda: workflow(fail_after=-1), "fail_after"),
        (lambda: service(fail_after=10), "workflows only"),
        (lambda: service(environment="staging"), "Unknown environment"),
    ],
)
def test_bad_job_definitions_are_400(admin: Api, data: Any, message: str) -> None:
    payload = data() if callable(data) else data
    if isinstance(payload, dict) and payload.get("name") is None:
        payload.pop("name", None)
    import json

    body = json.dumps({"data": payload}, ensure_ascii=True).encode()
    response = admin.client.post("/api/job/save", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert admin.ls(all="True") == []


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "save", {"content": b"{not json"}),
        ("POST", "save", {"content": b""}),
        ("POST", "save", {"content": b"[]"}),
        ("POST", "start", {"json": {}}),
        ("POST", "start", {"json": {"job_name": ["a"]}}),
        ("POST", "start", {"json": {"job_name": "x", "version": 2**80}}),
        ("POST", "start", {"json": {"job_name": "x", "now": "maybe"}}),
        ("DELETE", "rm", {"json": {"job_name": "x", "version": "0"}}),
        ("DELETE", "rm", {"json": {"job_name": "x", "version": "99999999999999999999999"}}),
        ("PUT", "modify", {"json": {"job_name": "x", "child": "-3", "memory": "1g"}}),
        ("POST", "promote", {"json": {"job_name": "x", "version": "1"}}),
        ("POST", "rerun", {"json": {"run-id": "abc"}}),
        ("POST", "rerun", {"json": {}}),
        ("GET", "get", {"params": {}}),
        ("GET", "get", {"params": {"job_name": "x", "environment": "qa"}}),
        ("GET", "get", {"params": {"job_name": "x", "version": "one"}}),
        ("GET", "get", {"params": {"job_name": "   "}}),
        ("GET", "get", {"params": {"job_name": "x", "build-logs": "both"}}),
        ("GET", "get", {"params": {"job_name": "x", "show-children": "perhaps"}}),
        ("GET", "ls", {"params": {"offset": "-1"}}),
        ("GET", "ls", {"params": {"batch-size": "ten"}}),
        ("GET", "runs", {"params": {"offset": "x"}}),
        ("GET", "versions", {"params": {}}),
    ],
)
def test_malformed_requests_are_400_not_500(admin: Api, method: str, path: str, kwargs: dict) -> None:
    if "content" in kwargs:
        kwargs = {**kwargs, "headers": {"content-type": "application/json"}}
    admin.save(service("X"))
    response = admin.client.request(method, f"/api/job/{path}", **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert admin.versions("x") == [1] and admin.one("x")["state"] == "ready"


def test_missing_jobs_are_404_for_commands(admin: Api) -> None:
    for method, path, body in [
        ("POST", "start", {"job_name": "ghost"}),
        ("DELETE", "stop", {"job_name": "ghost"}),
        ("DELETE", "rm", {"job_name": "ghost"}),
        ("POST", "restore", {"job_name": "ghost"}),
        ("PUT", "modify", {"job_name": "ghost", "memory": "1g"}),
        ("POST", "promote", {"job_name": "ghost", "version": "1", "environment": "dev"}),
    ]:
        assert "not found" in admin.fail(404, method, path, body=body)
    assert "not found" in admin.fail(404, "GET", "versions", {"job_name": "ghost"})


def test_every_job_route_needs_a_session(sandbox: RunningSandbox) -> None:
    with httpx.Client(base_url=sandbox.url) as anonymous:
        for method, path in [("GET", "ls"), ("GET", "get?job_name=x"), ("POST", "save"), ("GET", "runs"),
                             ("PUT", "modify"), ("DELETE", "rm"), ("POST", "promote"), ("POST", "start")]:
            response = anonymous.request(method, f"/api/job/{path}", json={"job_name": "x"})
            assert response.status_code == 401 and "error" in response.json()


JOB_ROUTES = [
    ("POST", "save"), ("POST", "run"), ("PUT", "modify"), ("DELETE", "rm"), ("POST", "restore"),
    ("POST", "promote"), ("POST", "start"), ("DELETE", "stop"), ("POST", "rerun"),
    ("GET", "get"), ("GET", "ls"), ("GET", "versions"), ("GET", "runs"), ("GET", "cron"),
]
JOB_KEYS = [
    "job_name", "environment", "version", "all", "now", "run-date", "by-run-id", "child", "schedule",
    "memory", "num-cpus", "display-name", "app-section", "users", "groups", "others", "run-as", "run-id",
    "full", "data", "at-minutes", "at-hours", "every-minute", "weekdays", "in-month", "timezone",
    "filter", "sort", "offset", "batch-size", "show-children", "repo_archive_b64",
]


def _junk_values():
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
        st.text(max_size=20), st.sampled_from(["price-server", "my-flow", "my-flow-1", "1", "-1", "dev", "pre",
                                               jid("price-server"), "admin:rwoap", "0 0 * * * *", "2G", "Mon"]),
    )
    definitions = st.builds(
        lambda base, extra: {**base, **extra},
        st.sampled_from([service(), workflow(), service(type="app")]),
        st.dictionaries(st.sampled_from(["memory", "num_cpus", "jobs", "acl", "env", "image", "schedule",
                                         "run_as", "display_name", "type", "vram", "entrypoint"]), scalars, max_size=3),
    )
    return scalars, st.one_of(scalars, definitions, st.lists(scalars, max_size=3))


def test_fuzzed_job_requests_never_fail_with_5xx(admin: Api) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    admin.save(service())
    admin.save(workflow())
    scalars, values = _junk_values()

    @settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(JOB_ROUTES), payload=st.dictionaries(st.sampled_from(JOB_KEYS), values, max_size=6))
    def probe(route: tuple[str, str], payload: dict) -> None:
        method, path = route
        if method == "GET":
            params = {k: str(v) for k, v in payload.items() if not isinstance(v, (dict, list))}
            response = admin.client.get(f"/api/job/{path}", params=params)
        else:
            import json

            response = admin.client.request(method, f"/api/job/{path}", content=json.dumps(payload).encode(),
                                            headers={"content-type": "application/json"})
        assert response.status_code < 500, f"{method} {path} {payload!r} -> {response.text}"
        body = response.json()
        assert isinstance(body, dict)
        assert ("result" in body) if response.status_code < 400 else bool(body.get("error"))

    probe()
