"""Changes an admin script makes through the vendor's own SDK (`dataikuapi`) behind the stack's
back, one to every kind, are reported by `platforge drift` under their cause, and the next apply
puts them back."""

from __future__ import annotations

import json

import pytest

from tests.dataiku.client.test_kinds import ALL_KINDS

from .conftest import World

dataikuapi = pytest.importorskip("dataikuapi")
pytestmark = pytest.mark.sdk


def test_changes_made_through_dataikuapi_are_drift_by_cause(world: World):
    stack = world.stack(ALL_KINDS)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    sdk = dataikuapi.DSSClient(world.url, world.admin_key)
    sdk._session.trust_env = False

    group = sdk.get_group("data_team")
    definition = group.get_definition()
    definition["description"] = "changed by a script"
    group.set_definition(definition)                                     # out of band
    variables = sdk.get_variables()
    variables["env"] = "staging"
    sdk.set_variables(variables)                                         # out of band
    project = sdk.get_project("MYPROJ")
    project_variables = project.get_variables()
    project_variables["standard"]["warehouse"] = "other"
    project.set_variables(project_variables)                             # out of band
    user = sdk.get_user("jdoe")
    definition = user.get_definition()
    definition["email"] = "john@elsewhere.example"
    user.set_definition(definition)                                      # out of band
    metadata = project.get_metadata()
    metadata["label"] = "Renamed in the UI"
    project.set_metadata(metadata)                                       # out of band
    permissions = project.get_permissions()
    for entry in permissions["permissions"]:
        if entry.get("group") == "data_team":
            entry["runScenarios"] = False
    project.set_permissions(permissions)                                 # out of band
    connection = sdk.get_connection("pg_main")
    definition = connection.get_definition()
    definition["description"] = "edited by a script"
    connection.set_definition(definition)                                # out of band
    env = sdk.get_code_env("PYTHON", "py311")
    definition = env.get_definition()
    definition["specPackageList"] = "pandas==2.2.0\nrequests\nnumpy"
    env.set_definition(definition)                                       # out of band
    (listed,) = project.list_scenarios()
    settings = project.get_scenario(listed["id"]).get_settings()
    temporal = [t for t in settings.raw_triggers if t["type"] == "temporal"]
    temporal[0]["params"]["hour"] = 7
    settings.save()                                                      # out of band
    (key,) = [k for k in sdk.list_global_api_keys(as_type="listitems") if k["label"] == "ci"]
    sdk._perform_json("PUT", f"/admin/global-api-keys/{key['id']}",      # the SDK's own transport
                      body={**{k: v for k, v in dict(key).items() if k != "key"}, "description": "edited"})
    sdk.create_group("rogue", description="made by hand")                 # unmanaged

    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stdout + result.stderr
    found = {(f["cause"], f["address"]) for f in json.loads(result.stdout)["findings"]}
    assert {("out_of_band", "group.data_team"), ("out_of_band", "instance_variable.env"),
            ("out_of_band", "project_variables.MYPROJ"), ("out_of_band", "user.jdoe"),
            ("out_of_band", "project.MYPROJ"), ("out_of_band", "project_group_grant.myproj-data-team"),
            ("out_of_band", "connection.pg_main"), ("out_of_band", "code_env.py311"),
            ("out_of_band", "scenario.nightly"), ("out_of_band", "global_api_key.ci"),
            ("unmanaged", "group.rogue")} <= found, found

    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert sdk.get_variables()["env"] == "prod"
    assert project.get_variables()["standard"]["warehouse"] == "analytics"
    after = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {(f["cause"], f["address"]) for f in after["findings"]} == {("unmanaged", "group.rogue")}
