"""The client against a live sandbox: the SDK conformance flows, complete paging and safe
filter quoting, through the typed API only."""

from __future__ import annotations

import pytest
from platforge.provider.datatailr import (
    Acl,
    AclIds,
    Conflict,
    DatatailrClient,
    NotFound,
    PasswordLogin,
    RetryPolicy,
    ScheduleHelpers,
    platform_job_id,
)

FAST = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_cap=0.05)


def connect(box, **kwargs) -> DatatailrClient:
    kwargs.setdefault("retry", FAST)
    return DatatailrClient(box.url, PasswordLogin(box.admin_user, box.admin_password), **kwargs)


@pytest.fixture
def dt(sandbox):
    with connect(sandbox) as client:
        yield client


def service(display_name: str = "Price Server", **extra) -> dict:
    return {"type": "service", "display_name": display_name, "image": {"python_version": "3.12"},
            "entrypoint": "mypkg.svc:main", "memory": "256m", "num_cpus": 0.5, **extra}


def test_users_flow(dt):
    carol = dt.users.add("carol", first_name="Carol", last_name="C", email="carol@x.io", password="pw-carol-1",
                         groups=["dtusers"])
    assert (carol.name, carol.groups, carol.email) == ("carol", ["dtusers"], "carol@x.io")
    assert "carol" in [u.name for u in dt.users.ls()]
    assert dt.users.ls(where={"name": "carol"}) == [carol]
    assert dt.users.get("carol") == carol
    assert dt.users.exists("carol") and not dt.users.exists("zed")
    dt.users.modify("carol", first_name="Caroline", groups=["dtusers", "admin"])
    assert dt.users.get("carol").groups == ["admin", "dtusers"]
    dt.users.disable("carol")
    assert dt.users.get("carol").disabled is True
    dt.users.enable("carol")
    assert dt.users.signed_user().name == dt.users.get("admin").name
    dt.users.rm("carol")
    assert not dt.users.exists("carol")
    with pytest.raises(NotFound):
        dt.users.get("carol")


def test_groups_flow(dt):
    dt.users.add("alice", first_name="A")
    dt.users.add("bob", first_name="B")
    team = dt.groups.add("teamx")
    assert team.members == [] and dt.groups.exists("teamx")
    dt.groups.add_users("teamx", ["alice", "bob"])
    ids = {u.name: u.user_id for u in dt.users.ls()}
    assert dt.groups.get("teamx").members == sorted([ids["alice"], ids["bob"]])
    dt.groups.add_users("teamx", ["alice"])  # a set-add: repeating it is harmless
    dt.groups.rm_users("teamx", ["bob"])
    assert dt.groups.get("teamx").members == [ids["alice"]]
    assert dt.users.get("alice").groups == ["dtusers", "teamx"]
    dt.users.remove_from_group("alice", "teamx")
    dt.users.add_to_group("bob", "teamx")
    assert [g.name for g in dt.groups.ls(where={"group_id": [team.group_id]})] == ["teamx"]
    dt.groups.rename("teamx", "team-y")
    assert dt.groups.get("team-y").group_id == team.group_id
    dt.groups.rm("team-y")
    assert not dt.groups.exists("team-y")


def test_kv_flow(dt):
    dt.groups.add("analysts")
    dt.users.add("alice", first_name="A")
    dt.kv.put("greeting", "hello world")
    assert dt.kv.get("greeting") == "hello world"  # raw: no quotes added or stripped
    dt.kv.put("n", "42")
    assert dt.kv.get("n") == "42"  # a string, never JSON-decoded
    dt.kv.put("json", '{"a": 1}', acl=Acl(groups={"analysts": "r"}))
    entries = {e.key: e for e in dt.kv.ls(include_values=True)}
    assert entries["greeting"].value == "hello world" and entries["json"].value == '{"a": 1}'
    admin_id = dt.users.get("admin").user_id
    analysts = dt.groups.get("analysts").group_id
    assert -analysts in entries["json"].acl.ids("read")
    assert dt.kv.acls("json").group_ids("read") == {analysts}
    dt.kv.set_acls("json", Acl(users={"alice": "rw"}))
    alice = dt.users.get("alice").user_id
    assert dt.kv.acls("json") == AclIds({"read": [alice], "write": [alice]})
    dt.kv.add_acls("json", Acl(users={"admin": "r"}))
    assert dt.kv.acls("json").user_ids("read") == {alice, admin_id}
    dt.kv.rm("json")
    with pytest.raises(NotFound):
        dt.kv.get("json")


def test_kv_environments(dt):
    dt.kv.put("db", "dev-value")
    dt.kv.put("db", "prod-value", environment="prod")
    assert dt.kv.get("db") == "dev-value" and dt.kv.get("db", environment="prod") == "prod-value"
    both = dt.kv.ls(environment=["dev", "prod"], include_values=True)
    assert sorted((e.environment, e.value) for e in both) == [("dev", "dev-value"), ("prod", "prod-value")]


def test_secrets_flow(dt):
    dt.secrets.put("db_password", "s3cr3t value")
    dt.kv.put("db_password", "plain")  # a separate namespace
    assert dt.secrets.get("db_password").get_secret_value() == "s3cr3t value"
    listed = dt.secrets.ls(include_values=True)
    assert [(e.key, e.value) for e in listed] == [("db_password", None)]
    assert listed[0].acl.user_ids("read") == {dt.users.get("admin").user_id}
    assert dt.kv.get("db_password") == "plain"
    dt.secrets.rm("db_password")
    with pytest.raises(NotFound):
        dt.secrets.get("db_password")


def test_blobs_flow(dt):
    uri = dt.blobs.uri("my dir/hello.bin")
    assert uri == "blob://sandbox-user-data/my dir/hello.bin"
    dt.blobs.put(uri, b"\x00\x01hello")
    assert dt.blobs.get(uri) == b"\x00\x01hello" and dt.blobs.exists(uri)
    dt.blobs.put(dt.blobs.uri("my dir/sub/deep.txt"), b"deep")
    top = dt.blobs.ls(dt.blobs.uri("my dir/"))
    assert [(e.name, e.is_file) for e in top] == [("my dir/hello.bin", True), ("my dir/sub/", False)]
    assert [e.name for e in dt.blobs.ls(dt.blobs.uri("my dir/"), recursive=True)] == [
        "my dir/hello.bin", "my dir/sub/deep.txt"]
    dt.users.add("alice", first_name="A")
    dt.blobs.set_acl("my dir/hello.bin", Acl(users={"alice": "r", "admin": "rw"}))
    acl = dt.blobs.get_acl("my dir/hello.bin")
    assert acl.user_ids("read") == {dt.users.get("alice").user_id, dt.users.get("admin").user_id}
    dt.blobs.rm(uri)
    assert not dt.blobs.exists(uri)
    with pytest.raises(NotFound):
        dt.blobs.get(uri)


def test_jobs_flow(dt):
    saved = dt.jobs.save(service())
    job_id = platform_job_id("price-server", "dev")
    assert saved.version_of(job_id) == 1
    dt.jobs.save(service(memory="1g"))
    job = dt.jobs.get("Price Server")  # by display name
    assert (job.id, job.name, job.version, job.memory) == (job_id, "price-server", 2, 1024**3)
    assert dt.jobs.get("price-server", version=1).memory == 256 * 1024**2
    assert dt.jobs.get("no-such-job") is None
    assert dt.jobs.versions("price-server") == [1, 2]
    assert [j.name for j in dt.jobs.ls(where={"type": "service", "environment": "dev"})] == ["price-server"]
    dt.jobs.modify("price-server", memory=2 * 1024**3, num_cpus=2, display_name="Price Server")
    assert dt.jobs.get("price-server").memory == 2 * 1024**3
    started = dt.jobs.start("price-server")
    assert started.running[0].job_id == job_id
    runs = dt.jobs.runs(where={"job_name": "price-server"})
    assert [r.run_id for r in runs] == [started.running[0].run_id]
    dt.jobs.stop("price-server")
    assert dt.jobs.runs(where={"run_id": runs[0].run_id})[0].state == "stopped"
    dt.jobs.promote("price-server", 2, "dev")
    assert dt.jobs.get("price-server", environment="pre").version == 2
    dt.jobs.rm("price-server", all_versions=True)
    assert dt.jobs.get("price-server") is None
    dt.jobs.restore("price-server", version=1)
    assert dt.jobs.versions("price-server") == [1]


def test_workflow_schedule_and_cron(dt):
    helpers = ScheduleHelpers(at_hours=[8, 16], weekdays=["Mon", "Tue", "Wed", "Thu", "Fri"])
    cron = dt.jobs.cron(helpers)
    assert cron.cron == "0 0 8,16 * * 1,2,3,4,5"
    assert dt.jobs.cron(ScheduleHelpers()) is None
    flow = {"type": "batch", "display_name": "My Flow", "image": {"python_version": "3.11"},
            "jobs": [{"display_name": "a", "name": "a", "child_number": 0, "entrypoint": "m:a", "depends_on": []},
                     {"display_name": "b", "name": "b", "child_number": 1, "entrypoint": "m:b", "depends_on": [0]}],
            "schedule": cron.cron}
    assert dt.jobs.save(flow, schedule=helpers, timezone="Europe/Berlin").version_of(
        platform_job_id("my-flow", "dev")) == 1
    job = dt.jobs.get("my-flow", show_children=True)
    assert job.schedule == cron.cron and [c.name for c in job.children] == ["my-flow-0", "my-flow-1"]
    dt.jobs.modify("my-flow", schedule="")
    assert dt.jobs.get("my-flow").schedule is None


def test_paging_returns_complete_listings(sandbox):
    with connect(sandbox) as dt:
        for i in range(230):
            dt.kv.put(f"key/{i:03d}", str(i))
        before = dt.stats.requests
        keys = [e.key for e in dt.kv.ls()]
        assert keys == [f"key/{i:03d}" for i in range(230)]
        assert dt.stats.requests - before == 3  # 100 + 100 + 30; `total` ends it
    with connect(sandbox, page_size=7) as dt:
        for i in range(20):
            dt.jobs.save(service(f"Service {i:02d}"))
        assert len(dt.jobs.ls()) == 20
        for i in range(16):
            dt.users.add(f"user{i:02d}", first_name="U")
        assert len(dt.users.ls()) == 16 + 2  # plus root and admin
        assert len(dt.jobs.ls(where={"type": "service"}, sort="-name")) == 20


@pytest.mark.parametrize("key", ["a b", "O'Neil's key", 'say "hi"', "x = 'y' or key = z", "[a, b]"])
def test_filter_values_with_spaces_and_quotes(dt, key):
    dt.kv.put(key, "v")
    dt.kv.put("other", "v")
    assert [e.key for e in dt.kv.ls(where={"key": key})] == [key]


def test_conflict_and_ambiguity(dt):
    dt.groups.add("dup")
    with pytest.raises(Conflict):
        dt.groups.add("dup")
