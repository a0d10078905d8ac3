"""`platforge export` on Datatailr: a sandbox populated by applying another stack is exported,
and the export is a stack that plans only consented imports, adopts with zero writes, and then
plans nothing; secrets are references; the platform's own objects are left out; kinds one at a
time; jobs and a kind that cannot be read are refused with a reason."""

from __future__ import annotations

import secrets
import tomllib

from .conftest import assert_round_trip, cli, log_lines


def test_export_round_trips_with_secrets_as_references_and_builtins_left_out(populated, tmp_path, monkeypatch):
    box, values = populated
    out = tmp_path / "exported"
    mark = len(log_lines(box.access_log))
    result = cli("export", "--platform", "datatailr", "--endpoint", box.url, "--environment", "dev", out)
    assert result.exit_code == 0, result.output
    assert all(r["method"] == "GET" or r["path"] == "/login" for r in log_lines(box.access_log)[mark:])
    files = sorted(p.name for p in out.glob("*.toml"))
    assert files == ["group.toml", "group_membership.toml", "kv.toml", "platform.toml", "secret.toml", "user.toml"]

    platform = tomllib.loads((out / "platform.toml").read_text())
    assert platform["platform"]["type"] == "datatailr" and platform["platform"]["endpoint"] == box.url
    assert platform["platform"]["environment"] == "dev"
    groups = tomllib.loads((out / "group.toml").read_text())["group"]
    assert set(groups) == {"analysts", "engineers", "oncall"}  # dtusers, admin, node_admin are the platform's
    assert groups["oncall"]["members"] == ["bob", "carol"] and groups["analysts"]["members"] == ["alice", "carol"]
    group_text = (out / "group.toml").read_text()
    assert "Left out, the platform's own: group.admin, group.dtusers, group.node_admin" in group_text
    assert "left as the platform's own (group.admin, group.dtusers, group.node_admin)" not in result.stdout  # wording
    assert "3 left out as the platform's own (group.admin, group.dtusers, group.node_admin)" in result.stdout
    users = tomllib.loads((out / "user.toml").read_text())["user"]
    assert set(users) == {"alice", "bob", "carol", "etl-bot"}  # the signed-in administrator is the platform's
    assert users["etl-bot"]["system"] is True and "groups" not in users["alice"]
    assert users["alice"] == {"name": "alice", "first_name": "Alice", "last_name": "Liddell",
                              "email": "alice@example.com", "enabled": True}
    kv = tomllib.loads((out / "kv.toml").read_text())["kv"]
    assert {t["key"] for t in kv.values()} == {"warehouse/url", "feature-flags"}  # dev only
    url = next(t for t in kv.values() if t["key"] == "warehouse/url")
    assert url["acl"] == {"read": {"groups": ["analysts", "engineers"], "users": []},
                          "write": {"groups": ["engineers"], "users": []}}
    (secret_table,) = tomllib.loads((out / "secret.toml").read_text())["secret"].values()
    variable = secret_table["value"]["from_env"]
    # named after the object's identity: the prod stack's variable is another one
    assert variable == "PLATFORGE_SECRET_SECRET_DEV_WAREHOUSE_PASSWORD"
    assert secret_table["acl"]["read"]["users"] == ["etl-bot"]
    assert (out / ".gitignore").read_text() == ".platforge/\n"
    everything = "".join(p.read_text() for p in out.glob("*.toml")) + result.output
    assert not any(v in everything for v in values.values())
    assert box.admin_password not in everything
    assert variable in result.stdout and variable in (out / "secret.toml").read_text()
    adopt = set(platform["adopt"]["objects"])
    assert "group.oncall" in adopt and "secret." + next(iter(tomllib.loads((out / "secret.toml").read_text())["secret"])) in adopt
    # a built-in group's membership of the administrator names the administrator as external
    assert platform["external"]["user"] == [box.admin_user]

    # Without the secret's variable: a clear error naming it, before any request.
    monkeypatch.delenv(variable, raising=False)
    mark = len(log_lines(box.access_log))
    unset = cli("plan", out)
    assert unset.exit_code == 1 and variable in unset.stderr and "not set" in unset.stderr
    assert log_lines(box.access_log)[mark:] == []
    # A wrong value plans an update of the secret (compared by fingerprint), never shown.
    wrong = secrets.token_urlsafe(16)
    monkeypatch.setenv(variable, wrong)
    code = cli("plan", out)
    assert code.exit_code == 2 and "value" in code.stdout and wrong not in code.output
    # The right value: the round trip is empty.
    monkeypatch.setenv(variable, values["QUICKSTART_WAREHOUSE_PASSWORD_DEV"])
    plan = assert_round_trip(out, box.access_log)
    assert len([a for a in plan["actions"] if a["op"] == "import"]) == len(adopt)


def test_export_one_kind_at_a_time_into_one_stack(populated, tmp_path):
    box, _ = populated
    out = tmp_path / "team"
    first = cli("export", "--platform", "datatailr", "--endpoint", box.url, "--kinds", "group", out)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.glob("*.toml")) == ["group.toml", "platform.toml"]
    platform = tomllib.loads((out / "platform.toml").read_text())
    assert set(platform["adopt"]["objects"]) == {"group.analysts", "group.engineers", "group.oncall"}
    assert set(platform["external"]["user"]) == {"alice", "bob", "carol"}  # members, not exported yet
    assert_round_trip(out, box.access_log)

    second = cli("export", "--kinds", "user", "--match", "user.*o*", out)  # bob, carol, etl-bot
    assert second.exit_code == 0, second.output
    assert "2 not matching --match" in second.stdout and "(user.root)" in second.stdout  # alice, admin
    users = tomllib.loads((out / "user.toml").read_text())["user"]
    assert set(users) == {"bob", "carol", "etl-bot"}
    platform = tomllib.loads((out / "platform.toml").read_text())
    assert platform["external"]["user"] == ["alice"]  # the others are declared now
    assert {"group.oncall", "user.bob", "user.etl-bot"} <= set(platform["adopt"]["objects"])
    plan = assert_round_trip(out, box.access_log)
    assert {a["address"] for a in plan["actions"] if a["op"] == "import"} == {"user.bob", "user.carol", "user.etl-bot"}

    third = cli("export", "--kinds", "user", out)  # the rest of the kind joins the same file
    assert third.exit_code == 0, third.output
    assert set(tomllib.loads((out / "user.toml").read_text())["user"]) == {"alice", "bob", "carol", "etl-bot"}
    assert (out / "user.toml").read_text().count("# Left out, the platform's own: user.admin, user.root") == 1
    assert tomllib.loads((out / "platform.toml").read_text()).get("external", {}) == {}  # all declared now
    plan = assert_round_trip(out, box.access_log)
    assert [a["address"] for a in plan["actions"] if a["op"] == "import"] == ["user.alice"]


def test_jobs_are_refused_with_a_reason(populated, tmp_path):
    box, _ = populated
    only_jobs = cli("export", "--platform", "datatailr", "--endpoint", box.url, "--kinds", "service,promotion",
                    tmp_path / "jobs")
    assert only_jobs.exit_code == 1
    assert "kind service is not exportable: its image is built from code" in only_jobs.stderr
    assert "kind promotion is not exportable" in only_jobs.stderr
    assert not list((tmp_path / "jobs").glob("*.toml"))
    mixed = cli("export", "--platform", "datatailr", "--endpoint", box.url, "--kinds", "group,workflow",
                tmp_path / "mixed")
    assert mixed.exit_code == 0, mixed.output
    assert "workflow: not exportable: its image is built from code" in mixed.stdout


def test_usage_errors_exit_1(populated, tmp_path):
    box, _ = populated
    assert cli("export", "--platform", "datatailr", tmp_path / "x").exit_code == 1  # no endpoint
    bad_kind = cli("export", "--platform", "datatailr", "--endpoint", box.url, "--kinds", "gruop", tmp_path / "y")
    assert bad_kind.exit_code == 1 and "gruop" in bad_kind.stderr and "group" in bad_kind.stderr
    assert cli("export", "--platform", "datatailr", "--endpoint", box.url, "--kinds", "group", tmp_path / "z").exit_code == 0
    other_env = cli("export", "--environment", "prod", tmp_path / "z")
    assert other_env.exit_code == 1 and "environment 'dev'" in other_env.stderr


def test_export_into_a_hand_written_stack_keeps_its_files_and_extends_its_consent(populated, tmp_path):
    box, _ = populated
    stack = tmp_path / "hand"
    stack.mkdir()
    main = stack / "main.toml"
    main.write_text(f'# our team\n[platform]\ntype = "datatailr"\nendpoint = "{box.url}"\n\n'
                    '[adopt]\nobjects = ["user.alice"]  # taken over by hand\n\n'
                    '[user.alice]\nfirst_name = "Alice"\n', encoding="utf-8")
    result = cli("export", "--kinds", "user", stack)
    assert result.exit_code == 0, result.output
    assert "left out user.alice: already declared in" in result.stdout
    assert not (stack / "platform.toml").exists()
    text = main.read_text()
    assert text.startswith("# our team") and "# taken over by hand" in text and '[user.alice]\nfirst_name = "Alice"' in text
    assert tomllib.loads(text)["adopt"]["objects"] == ["user.alice", "user.bob", "user.carol", "user.etl-bot"]
    assert set(tomllib.loads((stack / "user.toml").read_text())["user"]) == {"bob", "carol", "etl-bot"}
    assert_round_trip(stack, box.access_log)


def test_prod_configuration_exports_into_its_own_stack(populated, tmp_path, monkeypatch):
    box, values = populated
    out = tmp_path / "prod"
    result = cli("export", "--platform", "datatailr", "--endpoint", box.url, "--environment", "prod",
                 "--kinds", "kv,secret", out)
    assert result.exit_code == 0, result.output
    kv = tomllib.loads((out / "kv.toml").read_text())["kv"]
    assert [(t["environment"], t["key"]) for t in kv.values()] == [("prod", "warehouse/url")]
    platform = tomllib.loads((out / "platform.toml").read_text())
    assert platform["platform"]["environment"] == "prod"
    # the ACLs name groups and users this stack does not declare: named, not managed
    assert platform["external"] == {"group": ["analysts", "engineers"], "user": ["bob", "etl-bot"]}
    monkeypatch.setenv("PLATFORGE_SECRET_SECRET_PROD_WAREHOUSE_PASSWORD", values["QUICKSTART_WAREHOUSE_PASSWORD_PROD"])
    plan = assert_round_trip(out, box.access_log)
    assert {a["address"] for a in plan["actions"]} == {"kv.warehouse-url", "secret.warehouse-password"}
