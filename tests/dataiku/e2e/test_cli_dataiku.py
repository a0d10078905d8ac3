"""The `platforge` command line against the embedded Dataiku sandbox: a stack of all nine kinds
applies, converges (the plan after it is empty, a second apply sends no write), reports changes
made behind its back under their cause, and leaves what it does not manage byte for byte."""

from __future__ import annotations

import json

from tests.dataiku.client.test_kinds import ALL_KINDS

from .conftest import SECRET_MARKER, World


def test_all_nine_kinds_apply_then_plan_is_empty_and_a_second_apply_writes_nothing(world: World):
    stack = world.stack(ALL_KINDS)
    first = world.cli("plan", stack)
    assert first.exit_code == 2, first.stdout + first.stderr
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    dss = world.dss()
    assert {g["name"] for g in dss.list_groups()} >= {"data_team", "administrators"}
    jdoe = dss.get_user("jdoe")
    assert jdoe["groups"] == ["data_team"] and jdoe["displayName"] == "John Doe"
    permissions = dss.get_permissions("MYPROJ")
    grants = {e["group"]: e for e in permissions["permissions"]}
    assert grants["data_team"]["readProjectContent"] is True and grants["administrators"]["admin"] is True
    assert {"env": "prod", "feature_flags": {"a": 1, "b": [1, 2]}}.items() <= dss.get_instance_variables().items()
    assert dss.get_project_variables("MYPROJ") == {"standard": {"warehouse": "analytics"}, "local": {"debug": True}}
    connection = dss.get_connection("pg_main")
    assert connection["allowedGroups"] == ["data_team"] and connection["usableBy"] == "ALLOWED"
    assert SECRET_MARKER not in json.dumps(connection)  # DSS shows the password encrypted only
    env = dss.get_code_env("PYTHON", "py311")
    assert sorted(env["specPackageList"].splitlines()) == ["pandas==2.2.0", "requests"]
    (scenario,) = dss.list_scenarios("MYPROJ")
    triggers = dss.get_scenario("MYPROJ", scenario["id"])["triggers"]
    assert [t["params"]["frequency"] for t in triggers if t["type"] == "temporal"] == ["Daily", "Weekly"]
    (key,) = [k for k in dss.list_global_api_keys() if k["label"] == "ci"]

    state = (stack / ".platforge" / "state.json").read_text(encoding="utf-8")
    assert SECRET_MARKER not in state and "dkuaps-" not in state
    assert json.loads(state)["resources"]["global_api_key.ci"]["platform_id"] == key["id"]
    assert json.loads(state)["resources"]["scenario.nightly"]["platform_id"] == f"MYPROJ/{scenario['id']}"

    again = world.cli("plan", stack)
    assert again.exit_code == 0, again.stdout
    mark = world.mark()
    second = world.cli("apply", stack, "--yes")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert world.writes_since(mark) == []
    for output in (first, applied, again, second, world.cli("plan", stack, "--json")):
        assert SECRET_MARKER not in output.stdout + output.stderr
        assert "dkuaps-" not in output.stdout + output.stderr


def test_out_of_band_changes_are_reported_by_cause(world: World):
    stack = world.stack(ALL_KINDS)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("drift", stack).exit_code == 0

    dss = world.dss()
    group = dss.get_group("data_team")
    dss.put_group("data_team", {**group, "mayCreateProjects": False})           # out of band
    variables = dss.get_instance_variables()
    dss.put_instance_variables({**{k: v for k, v in variables.items() if k != "feature_flags"}, "env": "dev"})
    permissions = dss.get_permissions("MYPROJ")
    for entry in permissions["permissions"]:
        if entry["group"] == "data_team":
            entry["runScenarios"] = False                                       # out of band
    dss.put_permissions("MYPROJ", permissions)
    dss.create_group({"name": "rogue", "description": None, "sourceType": "LOCAL"})  # unmanaged

    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert {("out_of_band", "group.data_team"), ("out_of_band", "instance_variable.env"),
            ("missing", "instance_variable.feature_flags"), ("out_of_band", "project_group_grant.myproj-data-team"),
            ("unmanaged", "group.rogue")} <= found
    by_address = {f["address"]: f for f in report["findings"] if f["cause"] == "out_of_band"}
    change = by_address["group.data_team"]["changes"][0]
    assert (change["path"], change["old"], change["new"]) == ("may_create_projects", True, False)  # declared, live
    assert report["secret_detection"].startswith("fingerprint")

    # Apply puts them back; the unmanaged group stays untouched.
    assert world.cli("apply", stack, "--yes").exit_code == 0
    after = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {(f["cause"], f["address"]) for f in after["findings"]} == {("unmanaged", "group.rogue")}


def test_fields_a_stack_does_not_declare_survive_an_apply_byte_for_byte(world: World):
    body = """
    [group.data_team]
    description = "{description}"

    [user.jdoe]
    display_name = "{description}"
    groups = ["data_team"]

    [project.MYPROJ]
    name = "{description}"

    [project_group_grant.g]
    project = "MYPROJ"
    group = "data_team"
    read_project_content = true

    [connection.pg_main]
    type = "PostgreSQL"
    description = "{description}"
    params = {{ host = "db" }}
    password = {{ from_env = "PG_PASSWORD" }}
    """
    stack = world.stack(body.format(description="v1"))
    assert world.cli("apply", stack, "--yes").exit_code == 0
    dss = world.dss()

    # Someone edits what the stack does not manage, in DSS itself.
    group = dss.get_group("data_team")
    dss.put_group("data_team", {**group, "mayDevelopPlugins": True, "ldapGroupNames": ["cn=data"]})
    user = dss.get_user("jdoe")
    dss.put_user("jdoe", {**user, "userProperties": {"team": "blue", "n": 1.5}, "email": "j@example.com"})
    permissions = dss.get_permissions("MYPROJ")
    permissions["permissions"][0]["writeDashboards"] = True
    permissions["dashboardAuthorizations"]["allAuthorized"] = True
    dss.put_permissions("MYPROJ", permissions)
    metadata = dss.get_metadata("MYPROJ")
    dss.put_metadata("MYPROJ", {**metadata, "description": "written in the UI", "custom": {"kv": {"x": [1, 2]}}})
    connection = dss.get_connection("pg_main")
    dss.put_connection("pg_main", {**connection, "params": {**connection["params"], "port": 6543},
                                   "maxActivities": 7})

    def snapshot(without: dict[str, set[str]]) -> dict[str, str]:
        docs = {"group": dss.get_group("data_team"), "user": dss.get_user("jdoe"),
                "permissions": dss.get_permissions("MYPROJ"), "metadata": dss.get_metadata("MYPROJ"),
                "connection": dss.get_connection("pg_main")}
        return {name: json.dumps({k: v for k, v in doc.items() if k not in without.get(name, set())}, sort_keys=True)
                for name, doc in docs.items()}

    changed = {"group": {"description"}, "user": {"displayName"}, "metadata": {"label"},
               "connection": {"description", "versionTag", "creationTag"}}
    before = snapshot(changed)
    stack = world.stack(body.format(description="v2"))
    assert world.cli("apply", stack, "--yes").exit_code == 0
    after = snapshot(changed)
    assert after == before
    assert dss.get_group("data_team")["description"] == "v2"
    assert dss.get_connection("pg_main")["description"] == "v2"
    assert world.cli("plan", stack).exit_code == 0


def test_a_platform_state_backend_is_refused_before_any_write(world: World):
    stack = world.stack('[state]\nbackend = "platform"\n\n[group.g]\n')
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code != 0
    assert "no platform state backend" in result.stdout + result.stderr
    assert world.writes_since(mark) == []


def test_the_official_clients_prefix_works_too(world: World):
    stack = world.stack('[group.g]\ndescription = "via /dip/publicapi"\n')
    text = (stack / "main.toml").read_text()
    (stack / "main.toml").write_text(text.replace("\n\n", '\napi_prefix = "/dip/publicapi"\n\n', 1))
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0
    paths = {r["path"] for r in world.log_lines()[mark:]}
    assert paths and all(p.startswith("/dip/publicapi/") for p in paths)
    assert world.dss().get_group("g")["description"] == "via /dip/publicapi"


def test_a_missing_api_key_fails_before_any_request(world: World, monkeypatch):
    monkeypatch.delenv("DATAIKU_API_KEY")
    stack = world.stack("[group.g]\n")
    mark = world.mark()
    result = world.cli("plan", stack)
    assert result.exit_code != 0 and "DATAIKU_API_KEY" in result.stdout + result.stderr
    assert world.log_lines()[mark:] == []


def test_variables_added_later_to_an_owned_project_need_no_adopt(world: World):
    """Every project has an empty variables document from its creation: it holds nothing of
    anyone's, so declaring it later takes it over without consent (and it is never reported as
    unmanaged), while a document someone filled in still needs consent."""
    stack = world.stack('[project.LATER]\nname = "Later"\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    drift = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert not [f for f in drift["findings"] if f["address"].startswith("project_variables.")]
    (stack / "main.toml").write_text((stack / "main.toml").read_text()
                                     + '[project_variables.LATER]\nstandard = { warehouse = "a" }\n')
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert world.dss().get_project_variables("LATER")["standard"] == {"warehouse": "a"}
