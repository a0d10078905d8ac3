"""Exact wire encoding of every typed `DatatailrClient` method (contract §1.2, §2).

Each case: a call, the server's reply, then the one request expected on the wire (method, path,
query, JSON body) and the typed value returned.
"""

from __future__ import annotations

import base64

import pytest
from platforge.provider.datatailr import (
    Acl,
    AclIds,
    BlobEntry,
    CronSchedule,
    Group,
    Job,
    JobRun,
    KvEntry,
    RepoBundle,
    ScheduleHelpers,
    SignedUser,
    StartResult,
    User,
)

from .conftest import body, ok, query

USER = {"name": "bob", "user_id": 1002, "first_name": "Bob", "last_name": "B", "email": "bob@x.io",
        "groups": "dtusers,analysts", "is_system": False}
GROUP = {"group_id": 101, "name": "analysts", "members": [1002, 1001]}
JOB = {"id": "95131336-1461-588d-af49-7a7bbae72a94", "name": "price-server", "display_name": "Price Server",
       "environment": "dev", "type": "service", "version": 2, "state": "ready", "create_time": 1,
       "run_as": "alice", "acl": {"read": [1001], "write": [1001]}, "memory": 268435456, "num_cpus": 0.5}
RUN = {"id": 12, "job_name": "my-flow", "job_version": 1, "state": "completed", "environment": "dev"}
ACL = Acl(users={"alice": "rw", "bob": "r"}, groups={"analysts": "r"})

# (id, call, reply, method, path, query, body, check)
CASES = [
    # users
    ("user-ls", lambda c: c.users.ls(), [USER],
     "GET", "/api/user/ls", {"offset": "0", "batch-size": "100", "json": "True"}, None,
     lambda r: r == [User.model_validate(USER)] and r[0].groups == ["dtusers", "analysts"]),
    ("user-ls-where", lambda c: c.users.ls(where={"name": "x y"}, sort="-name"), [],
     "GET", "/api/user/ls",
     {"filter": "name = 'x y'", "sort": "-name", "offset": "0", "batch-size": "100", "json": "True"}, None,
     lambda r: r == []),
    ("user-get", lambda c: c.users.get("bob"), USER,
     "GET", "/api/user/get", {"username": "bob", "json": "True"}, None, lambda r: r.user_id == 1002),
    ("user-exists", lambda c: c.users.exists("zed"), False,
     "GET", "/api/user/exists", {"username": "zed"}, None, lambda r: r is False),
    ("user-signed", lambda c: c.users.signed_user(), {"name": "alice", "expiry": "e", "signature": "s"},
     "GET", "/api/user/signed-user", {}, None, lambda r: r == SignedUser(name="alice", expiry="e", signature="s")),
    ("user-add", lambda c: c.users.add("carol", first_name="Carol", last_name="C", email="carol@x.io",
                                        password="pw1", groups=["dtusers", "analysts"]),
     {**USER, "name": "carol", "user_id": 1003},
     "POST", "/api/user/add", {},
     {"username": "carol", "first-name": "Carol", "last-name": "C", "email": "carol@x.io", "password": "pw1",
      "groups": "dtusers,analysts", "json-enrichened": True},
     lambda r: r.name == "carol"),
    ("user-add-system", lambda c: c.users.add("svc", first_name="Svc", system=True), {**USER, "name": "svc"},
     "POST", "/api/user/add", {},
     {"username": "svc", "first-name": "Svc", "last-name": "", "system": True, "json-enrichened": True},
     lambda r: r.name == "svc"),
    ("user-modify", lambda c: c.users.modify("bob", first_name="Robert", email="rob@x.io", groups=[]), "ok",
     "PUT", "/api/user/modify", {}, {"username": "bob", "first-name": "Robert", "email": "rob@x.io", "groups": ""},
     lambda r: r == "ok"),
    ("user-disable", lambda c: c.users.disable("bob"), "ok",
     "POST", "/api/user/disable", {}, {"username": "bob"}, None),
    ("user-enable", lambda c: c.users.enable("bob"), "ok",
     "POST", "/api/user/enable", {}, {"username": "bob"}, None),
    ("user-add-to-group", lambda c: c.users.add_to_group("bob", "analysts"), "ok",
     "POST", "/api/user/add-to-group", {}, {"username": "bob", "group_name": "analysts"}, None),
    ("user-rm-from-group", lambda c: c.users.remove_from_group("bob", "analysts"), "ok",
     "POST", "/api/user/rm-from-group", {}, {"username": "bob", "group_name": "analysts"}, None),
    ("user-rm", lambda c: c.users.rm("carol"), "ok",
     "DELETE", "/api/user/rm", {}, {"username": "carol"}, None),
    # groups
    ("group-ls", lambda c: c.groups.ls(where={"group_id": [101, 102]}), [GROUP],
     "GET", "/api/group/ls", {"filter": "group_id = [101, 102]", "offset": "0", "batch-size": "100", "json": "True"},
     None, lambda r: r == [Group(name="analysts", group_id=101, members=[1001, 1002])]),
    ("group-get", lambda c: c.groups.get("analysts"), GROUP,
     "GET", "/api/group/get", {"group_name": "analysts", "json": "True"}, None, lambda r: r.members == [1001, 1002]),
    ("group-exists", lambda c: c.groups.exists("analysts"), True,
     "GET", "/api/group/exists", {"group_name": "analysts"}, None, lambda r: r is True),
    ("group-add", lambda c: c.groups.add("teamx"), {"group_id": 103, "name": "teamx", "members": []},
     "POST", "/api/group/add", {}, {"group_name": "teamx", "json-enrichened": True}, lambda r: r.group_id == 103),
    ("group-add-users", lambda c: c.groups.add_users("teamx", ["alice", "bob"]), "ok",
     "POST", "/api/group/add-users", {}, {"group_name": "teamx", "username": "alice,bob"}, None),
    ("group-rm-users", lambda c: c.groups.rm_users("teamx", ["bob"]), "ok",
     "DELETE", "/api/group/rm-users", {}, {"group_name": "teamx", "username": "bob"}, None),
    ("group-rename", lambda c: c.groups.rename("teamx", "team-y"), "ok",
     "PUT", "/api/group/rename", {}, {"group_name": "teamx", "new_group_name": "team-y"}, None),
    ("group-rm", lambda c: c.groups.rm("teamx"), "ok",
     "DELETE", "/api/group/rm", {}, {"group_name": "teamx"}, None),
    # kv
    ("kv-put-raw-value", lambda c: c.kv.put("greeting", "hello world", acl=ACL), "ok",
     "PUT", "/api/kv/put", {},
     {"key": "greeting", "value": "hello world", "users": "alice:rw,bob:r", "groups": "analysts:r"}, None),
    ("kv-put-env", lambda c: c.kv.put("db", '"x"', environment="pre"), "ok",
     "PUT", "/api/kv/put", {}, {"key": "db", "environment": "pre", "value": '"x"'}, None),
    ("kv-get", lambda c: c.kv.get("n"), "42",
     "GET", "/api/kv/get", {"key": "n", "json": "True"}, None, lambda r: r == "42"),
    ("kv-ls", lambda c: c.kv.ls(environment=["dev", "pre"], key_prefix="app/", include_values=True),
     {"items": [{"key": "app/x", "environment": "dev", "value": "1", "acl": {"read": [1001]}}], "total": 1},
     "GET", "/api/kv/ls",
     {"key_prefix": "app/", "acls": "True", "include-values": "True", "environment": "dev,pre", "json": "True",
      "offset": "0", "batch-size": "100"}, None,
     lambda r: r == [KvEntry(key="app/x", environment="dev", value="1", acl=AclIds({"read": [1001]}))]),
    ("kv-acls", lambda c: c.kv.acls("db"), {"read": [1001, -101], "write": [1001]},
     "GET", "/api/kv/acls", {"key": "db", "json": "True"}, None,
     lambda r: r.group_ids("read") == {101} and r.user_ids("read") == {1001}),
    ("kv-set-acls", lambda c: c.kv.set_acls("db", ACL), "ok",
     "POST", "/api/kv/set-acls", {}, {"key": "db", "users": "alice:rw,bob:r", "groups": "analysts:r"}, None),
    ("kv-set-acls-empty", lambda c: c.kv.set_acls("db", Acl()), "ok",
     "POST", "/api/kv/set-acls", {}, {"key": "db"}, None),
    ("kv-add-acls", lambda c: c.kv.add_acls("db", Acl(groups={"analysts": "r"}), environment="prod"), "ok",
     "POST", "/api/kv/add-acls", {}, {"key": "db", "environment": "prod", "groups": "analysts:r"}, None),
    ("kv-rm", lambda c: c.kv.rm("db"), "ok", "DELETE", "/api/kv/rm", {}, {"key": "db"}, None),
    # secrets
    ("secret-get", lambda c: c.secrets.get("db_password"), "s3cr3t",
     "GET", "/api/kv/get", {"key": "db_password", "secure": "True", "json": "True"}, None,
     lambda r: r.get_secret_value() == "s3cr3t" and "s3cr3t" not in repr(r)),
    ("secret-ls", lambda c: c.secrets.ls(include_values=True), {"items": [{"key": "db_password"}], "total": 1},
     "GET", "/api/kv/ls", {"acls": "True", "secure": "True", "json": "True", "offset": "0", "batch-size": "100"},
     None, lambda r: r == [KvEntry(key="db_password")]),
    ("secret-put", lambda c: c.secrets.put("build/token", "t", environment="pre", acl=Acl(users={"alice": "rw"})),
     "ok", "PUT", "/api/kv/put", {},
     {"key": "build/token", "secure": True, "environment": "pre", "value": "t", "users": "alice:rw"}, None),
    ("secret-rm", lambda c: c.secrets.rm("x"), "ok", "DELETE", "/api/kv/rm", {}, {"key": "x", "secure": True}, None),
    # blobs
    ("blob-put", lambda c: c.blobs.put("blob://acme-user-data/my dir/hello.bin", b"\x00hi", acl=ACL), "ok",
     "POST", "/api/blob/put", {},
     {"destination_file": "blob://acme-user-data/my dir/hello.bin", "content_b64": base64.b64encode(b"\x00hi").decode(),
      "users": "alice:rw,bob:r", "groups": "analysts:r"}, None),
    ("blob-get", lambda c: c.blobs.get("blob://b/x"), base64.b64encode(b"bytes").decode(),
     "GET", "/api/blob/get", {"bucket_name": "blob://b/x"}, None, lambda r: r == b"bytes"),
    ("blob-exists", lambda c: c.blobs.exists("blob://b/x"), True,
     "GET", "/api/blob/exists", {"bucket_name": "blob://b/x"}, None, lambda r: r is True),
    ("blob-ls", lambda c: c.blobs.ls("blob://b/dir/", recursive=True),
     [{"name": "dir/x", "size": 5, "last_modified": 9, "is_file": True}],
     "GET", "/api/blob/ls",
     {"bucket_name": "blob://b/dir/", "recursive": "True", "json": "True", "offset": "0", "batch-size": "100"},
     None, lambda r: r == [BlobEntry(name="dir/x", size=5, last_modified=9)]),
    ("blob-rm", lambda c: c.blobs.rm("blob://b/x"), "ok",
     "DELETE", "/api/blob/rm", {}, {"bucket_name": "blob://b/x"}, None),
    ("blob-get-acl", lambda c: c.blobs.get_acl("mybucket/data.txt"), {"read": [1001]},
     "GET", "/api/blob/get-acl", {"path": "mybucket/data.txt", "json": "True"}, None,
     lambda r: r == AclIds({"read": [1001]})),
    ("blob-set-acl", lambda c: c.blobs.set_acl("mybucket/data.txt", ACL), "ok",
     "POST", "/api/blob/set-acl", {}, {"path": "mybucket/data.txt", "users": "alice:rw,bob:r", "groups": "analysts:r"},
     None),
    # tags
    ("tag-get", lambda c: c.tags.get("blob_storage_prefix"), "acme-",
     "GET", "/api/tag/get", {"tag": "blob_storage_prefix"}, None, lambda r: r == "acme-"),
    ("tag-ls", lambda c: c.tags.ls(), {"a": "1"}, "GET", "/api/tag/ls", {}, None, lambda r: r == {"a": "1"}),
    # jobs
    ("job-save", lambda c: c.jobs.save({"type": "batch", "display_name": "My Flow"},
                                       schedule=ScheduleHelpers(at_hours=[8, 16], weekdays=["Mon", "Fri"]),
                                       timezone="Europe/Berlin",
                                       bundle=RepoBundle(b"tgz", "tmp/proj", "mypkg", "vm")),
     {"versions": {"78017ed4-a206-5c96-beed-be39d35e90b8": 1}},
     "POST", "/api/job/save", {},
     {"data": {"type": "batch", "display_name": "My Flow"}, "json": True, "at-hours": "8,16", "weekdays": "Mon,Fri",
      "timezone": "Europe/Berlin", "repo_archive_b64": base64.b64encode(b"tgz").decode(), "repo_dir_name": "tmp/proj",
      "repo_module_path": "mypkg", "local_hostname": "vm"},
     lambda r: r.version_of("78017ed4-a206-5c96-beed-be39d35e90b8") == 1),
    ("job-get", lambda c: c.jobs.get("Price Server", environment="prod", version=3, show_children=True), [JOB],
     "GET", "/api/job/get",
     {"job_name": "Price Server", "environment": "prod", "version": "3", "show-children": "True", "json": "True"},
     None, lambda r: r == Job.model_validate(JOB) and r.memory == 256 * 1024**2),
    ("job-get-missing", lambda c: c.jobs.get("nope"), [],
     "GET", "/api/job/get", {"job_name": "nope", "environment": "dev", "json": "True"}, None, lambda r: r is None),
    ("job-ls", lambda c: c.jobs.ls(where={"type": "app"}, sort="-name", include_removed=True), [JOB],
     "GET", "/api/job/ls",
     {"filter": "type = 'app'", "sort": "-name", "all": "True", "json": "True", "offset": "0", "batch-size": "100"},
     None, lambda r: len(r) == 1),
    ("job-versions", lambda c: c.jobs.versions("price-server"), [1, 3, 2],
     "GET", "/api/job/versions", {"job_name": "price-server", "environment": "dev", "json": "True"}, None,
     lambda r: r == [1, 2, 3]),
    ("job-versions-text", lambda c: c.jobs.versions("price-server"), "(1, 2, 3)",
     "GET", "/api/job/versions", {"job_name": "price-server", "environment": "dev", "json": "True"}, None,
     lambda r: r == [1, 2, 3]),
    ("job-modify", lambda c: c.jobs.modify("price-server", schedule="0 */5 * * * *", memory=2 * 1024**3, num_cpus=2,
                                           acl=Acl(users={"bob": "rwoap"}, groups={"analysts": "rw"}, others="r")),
     "modify_ok", "PUT", "/api/job/modify", {},
     {"job_name": "price-server", "environment": "dev", "schedule": "0 */5 * * * *", "memory": "2g", "num-cpus": "2",
      "users": "bob:rwoap", "groups": "analysts:rw", "others": "r", "json": True}, None),
    ("job-modify-child", lambda c: c.jobs.modify("my-flow", version=2, child=1, memory="512m", display_name="Add"),
     "ok", "PUT", "/api/job/modify", {},
     {"job_name": "my-flow", "environment": "dev", "version": "2", "child": "1", "memory": "512m",
      "display-name": "Add", "json": True}, None),
    ("job-modify-clear-acl-part", lambda c: c.jobs.modify("j", acl=Acl(users={"bob": "r"})), "ok",
     "PUT", "/api/job/modify", {},
     {"job_name": "j", "environment": "dev", "users": "bob:r", "groups": "", "others": "", "json": True}, None),
    ("job-rm-all", lambda c: c.jobs.rm("price-server", all_versions=True), "ok",
     "DELETE", "/api/job/rm", {}, {"job_name": "price-server", "environment": "dev", "all": True}, None),
    ("job-rm-version", lambda c: c.jobs.rm("price-server", version=2), "ok",
     "DELETE", "/api/job/rm", {}, {"job_name": "price-server", "environment": "dev", "version": "2"}, None),
    ("job-restore", lambda c: c.jobs.restore("price-server", version=2), "ok",
     "POST", "/api/job/restore", {}, {"job_name": "price-server", "environment": "dev", "version": "2"}, None),
    ("job-promote", lambda c: c.jobs.promote("Price Server", 5, "dev"), "ok",
     "POST", "/api/job/promote", {}, {"job_name": "Price Server", "version": "5", "environment": "dev"}, None),
    ("job-start", lambda c: c.jobs.start("price-server", now=True, run_date="2026-01-01"),
     {"running": [{"Id": "u", "RunId": 7}], "pending": []},
     "POST", "/api/job/start", {},
     {"job_name": "price-server", "environment": "dev", "now": True, "run-date": "2026-01-01", "json": True},
     lambda r: r == StartResult(running=[{"Id": "u", "RunId": 7}])),
    ("job-stop", lambda c: c.jobs.stop("price-server"), "ok",
     "DELETE", "/api/job/stop", {}, {"job_name": "price-server", "environment": "dev"}, None),
    ("job-stop-run", lambda c: c.jobs.stop_run(12), "ok",
     "DELETE", "/api/job/stop", {}, {"job_name": "12", "by-run-id": True}, None),
    ("job-runs", lambda c: c.jobs.runs(where={"run_id": 12}), [RUN],
     "GET", "/api/job/runs", {"filter": "run_id = 12", "json": "True", "offset": "0", "batch-size": "100"}, None,
     lambda r: r == [JobRun.model_validate(RUN)] and r[0].run_id == 12),
    ("job-cron", lambda c: c.jobs.cron(ScheduleHelpers(every_minute=24, day_of_month=3, in_month=["Jul"])),
     "0 */24 * 3 7 * (Every 24 minutes)",
     "GET", "/api/job/cron", {"every-minute": "24", "day-of-month": "3", "in-month": "Jul"}, None,
     lambda r: r == CronSchedule(cron="0 */24 * 3 7 *", description="Every 24 minutes")),
    ("job-cron-empty", lambda c: c.jobs.cron(ScheduleHelpers()), "",
     "GET", "/api/job/cron", {}, None, lambda r: r is None),
]


@pytest.mark.parametrize(("call", "reply", "method", "path", "params", "payload", "check"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_wire_encoding(client, server, call, reply, method, path, params, payload, check):
    server.queue(ok(reply))
    result = call(client)
    request = server.last
    assert (request.method, request.url.path) == (method, path)
    assert query(request) == params
    assert body(request) == payload
    if check is not None:
        assert check(result)
    assert len(server.api_requests) == 1


def test_query_flags_are_the_literal_True_string(client, server):
    server.queue(ok([]))
    client.users.ls()
    assert b"json=True" in server.last.url.query


def test_headers_on_every_api_call(client, server):
    server.queue(ok([]))
    client.users.ls()
    headers = server.last.headers
    assert headers["user-agent"].startswith("platforge/")
    assert headers["x-datatailr-sdk-version"] == "0.2.3"
    assert headers["accept"] == "application/json"
    assert headers["cookie"].startswith("X-Datatailr-Oidc-Data=")


def test_blob_relative_paths_go_to_the_user_bucket(client, server):
    server.queue(ok("acme-"), ok("ok"))
    assert client.blobs.uri("mybucket/hello.bin") == "blob://acme-user-data/mybucket/hello.bin"
    assert client.blobs.uri("blob://other/x") == "blob://other/x"
    client.blobs.uri("again")  # the prefix is read once
    assert [r.url.path for r in server.api_requests] == ["/api/tag/get"]


def test_user_add_reads_back_when_the_server_answers_text(client, server):
    server.queue(ok("User carol added"), ok({**USER, "name": "carol"}))
    assert client.users.add("carol").name == "carol"
    assert [r.url.path for r in server.api_requests] == ["/api/user/add", "/api/user/get"]


def test_ambiguous_job_name_is_a_conflict(client, server):
    from platforge.provider.datatailr import Conflict

    server.queue(ok([JOB, {**JOB, "name": "price-server-2"}]))
    with pytest.raises(Conflict, match="matches 2 jobs"):
        client.jobs.get("Price Server")


@pytest.mark.parametrize(
    "call",
    [lambda c: c.groups.add_users("g", ["a,b"]), lambda c: c.groups.add_users("g", []),
     lambda c: c.groups.rm_users("g", []), lambda c: c.users.modify("u", system=False),
     lambda c: c.kv.put("k", 42)],
)
def test_inputs_that_cannot_be_encoded_fail_before_sending(client, server, call):
    with pytest.raises((ValueError, TypeError)):
        call(client)
    assert server.api_requests == []
