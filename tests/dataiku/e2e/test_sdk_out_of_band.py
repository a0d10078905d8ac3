"""Changes an admin script makes through the vendor's own SDK (`dataikuapi`) behind the stack's
back are reported by `platforge drift` under their cause, and the next apply puts them back."""

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
    sdk.create_group("rogue", description="made by hand")                 # unmanaged

    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stdout + result.stderr
    found = {(f["cause"], f["address"]) for f in json.loads(result.stdout)["findings"]}
    assert {("out_of_band", "group.data_team"), ("out_of_band", "instance_variable.env"),
            ("out_of_band", "project_variables.MYPROJ"), ("unmanaged", "group.rogue")} <= found, found

    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert sdk.get_variables()["env"] == "prod"
    assert project.get_variables()["standard"]["warehouse"] == "analytics"
    after = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {(f["cause"], f["address"]) for f in after["findings"]} == {("unmanaged", "group.rogue")}
