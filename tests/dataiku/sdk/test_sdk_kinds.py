"""The real `dataikuapi.DSSClient` drives every v1 kind against the sandbox as an admin script
would: create, list, get settings, modify, save, read back, delete (contract §2.6, §4)."""

from __future__ import annotations

import time

import pytest
from dataikuapi.dss.admin import DSSGlobalApiKey
from dataikuapi.utils import DataikuException

from tests.dataiku.sandbox.conftest import DSS
from tests.dataiku.sdk.conftest import sdk_client

pytestmark = pytest.mark.sdk


def test_auth_info_and_instance_info(client):
    info = client.get_auth_info()
    assert info["authIdentifier"] == "admin" and "administrators" in info["groups"]
    assert client.get_instance_info().node_type == "DESIGN"


def test_groups(client):
    client.create_group("data_team", description="Data team")
    assert "data_team" in [g["name"] for g in client.list_groups()]
    group = client.get_group("data_team")
    definition = group.get_definition()
    assert definition["description"] == "Data team" and definition["admin"] is False
    definition["mayCreateProjects"] = True
    definition["mayFutureFlag"] = True  # a flag this sandbox does not know: kept
    group.set_definition(definition)
    again = group.get_definition()
    assert again["mayCreateProjects"] is True and again["mayFutureFlag"] is True
    with pytest.raises(DataikuException, match="already exists"):
        client.create_group("data_team")
    group.delete()
    with pytest.raises(DataikuException, match="UnknownObjectException"):
        group.get_definition()


def test_users(client):
    client.create_group("data_team")
    user = client.create_user("jdoe", "pw-1", display_name="John", groups=["data_team"], profile="DESIGNER",
                              email="j@x.io")
    assert [u["login"] for u in client.list_users()] == ["admin", "jdoe"]
    assert all("userProperties" in u for u in client.list_users(include_settings=True))
    settings = user.get_settings()
    assert settings.get_raw()["displayName"] == "John" and settings.enabled is True
    assert "password" not in settings.get_raw()
    settings.get_raw()["displayName"] = "John Doe"
    settings.enabled = False
    settings.add_secret("tok", "s3cret")
    settings.user_properties["team"] = "blue"
    settings.save()
    raw = user.get_settings().get_raw()
    assert raw["displayName"] == "John Doe" and raw["enabled"] is False
    assert raw["userProperties"] == {"team": "blue"}
    assert raw["secrets"][0]["name"] == "tok" and raw["secrets"][0]["value"] != "s3cret"  # write-only
    assert user.get_settings().creation_date is not None
    definition = user.get_definition()
    definition["password"] = "pw-2"  # set through the definition, never read back
    user.set_definition(definition)
    assert "password" not in user.get_definition()
    user.delete()
    assert [u["login"] for u in client.list_users()] == ["admin"]


def test_projects_permissions_and_variables(client):
    client.create_group("data_team")
    project = client.create_project("MYPROJ", "My project", "admin", description="d",
                                    permissions=[{"group": "data_team", "readProjectContent": True}], tags=["t2", "t1"])
    assert client.list_project_keys() == ["MYPROJ"]
    assert project.get_summary()["name"] == "My project"
    metadata = project.get_metadata()
    assert metadata["tags"] == ["t1", "t2"] and metadata["description"] == "d"
    metadata["label"] = "Renamed"
    metadata["custom"]["kv"]["cost_center"] = 42
    project.set_metadata(metadata)
    assert project.get_summary()["name"] == "Renamed"

    permissions = project.get_permissions()
    assert permissions["owner"] == "admin"
    permissions["permissions"][0]["writeProjectContent"] = True
    permissions["permissions"].append({"group": "administrators", "admin": True})
    project.set_permissions(permissions)
    assert {g["group"] for g in project.get_permissions()["permissions"]} == {"data_team", "administrators"}

    variables = project.get_variables()
    assert variables == {"standard": {}, "local": {}}
    variables["standard"]["k"] = "v"
    variables["local"]["lk"] = 1
    project.set_variables(variables)
    project.update_variables({"k2": "v2"})
    assert project.get_variables() == {"standard": {"k": "v", "k2": "v2"}, "local": {"lk": 1}}

    settings = project.get_settings()
    settings.get_raw()["settings"]["codeEnvs"]["python"] = {"useBuiltinEnv": False, "mode": "EXPLICIT_ENV",
                                                           "envName": "py311"}
    settings.save()
    assert project.get_settings().get_raw()["settings"]["codeEnvs"]["python"]["envName"] == "py311"

    project.delete()
    assert client.list_project_keys() == []


def test_global_variables(client):
    variables = client.get_global_variables()
    assert dict(variables) == {}
    variables["env"] = "prod"
    variables["nested"] = {"a": 1, "ratio": 0.25}
    variables.save()
    assert dict(client.get_global_variables()) == {"env": "prod", "nested": {"a": 1, "ratio": 0.25}}


def test_connections(client):
    client.create_group("data_team")
    connection = client.create_connection("pg_main", "PostgreSQL",
                                          params={"host": "db", "port": 5432, "user": "u", "password": "secret"},
                                          usable_by="ALLOWED", allowed_groups=["data_team"], description="main PG")
    assert set(client.list_connections()) == {"pg_main"}
    settings = connection.get_settings()
    assert settings.type == "PostgreSQL" and settings.usable_by == "ALLOWED"
    assert settings.usable_by_allowed_groups == ["data_team"]
    sealed = settings.get_raw()["params"]["password"]
    assert sealed != "secret" and "secret" not in str(settings.get_raw()["params"].values())
    settings.set_usability(False, "data_team", "administrators")
    settings.details_readability.set_readability(False, "data_team")
    settings.allow_write = False
    settings.save()
    again = connection.get_settings()
    assert again.usable_by_allowed_groups == ["data_team", "administrators"] and again.allow_write is False
    assert again.details_readability.readable_by == "ALLOWED" and again.details_readability.allowed_groups == ["data_team"]
    assert again.get_raw()["params"]["password"] == sealed  # sent back sealed: the secret is kept
    raw = again.get_raw()
    raw["params"]["password"] = "rotated"
    again.save()
    assert connection.get_settings().get_raw()["params"]["password"] not in (sealed, "rotated")
    assert client.list_connections_names("PostgreSQL") == ["pg_main"]
    connection.delete()
    assert client.list_connections() == {}


def test_scenarios_and_triggers(client):
    project = client.create_project("PRJ", "P", "admin")
    scenario = project.create_scenario("Nightly build", "step_based")
    assert scenario.id == "NIGHTLY_BUILD"
    settings = scenario.get_settings()
    assert settings.raw_steps == [] and settings.raw_triggers == []
    settings.active = True
    settings.add_daily_trigger(hour=3, minute=15, timezone="UTC")
    settings.add_periodic_trigger(every_minutes=30)
    settings.raw_steps.append({"type": "exec_sql", "name": "s1", "params": {}})
    settings.save()
    again = scenario.get_settings()
    assert again.active is True and len(again.raw_triggers) == 2
    assert all(t.get("id") for t in again.raw_triggers)  # server-assigned trigger ids
    assert again.raw_triggers[0]["params"]["frequency"] == "Daily"
    assert again.raw_steps[0]["name"] == "s1"
    status = scenario.get_status()
    assert status.running is False and status.next_run is not None
    assert [s.id for s in project.list_scenarios(as_type="objects")] == ["NIGHTLY_BUILD"]
    second = project.create_scenario("Nightly build", "custom_python")
    assert second.id == "NIGHTLY_BUILD_2"
    script = second.get_settings()
    script.code = "print('hi')"
    script.save()
    assert second.get_settings().code == "print('hi')"
    scenario.delete()
    assert [s["id"] for s in project.list_scenarios(as_type="listitems")] == ["NIGHTLY_BUILD_2"]


def test_code_envs(client):
    env = client.create_code_env("PYTHON", "py311", "DESIGN_MANAGED", params={"pythonInterpreter": "PYTHON311"})
    assert client.list_code_envs() == [{"envLang": "PYTHON", "envName": "py311", "deploymentMode": "DESIGN_MANAGED",
                                        "owner": "admin", "pythonInterpreter": "PYTHON311"}]
    settings = env.get_settings()
    settings.set_required_packages("pandas==2.2.0", "requests")
    settings.get_raw()["usableByAll"] = True
    settings.save()
    again = env.get_settings()
    assert again.get_required_packages(as_list=True) == ["pandas==2.2.0", "requests"]
    assert again.get_raw()["desc"]["usableByAll"] is True
    result = env.update_packages()
    assert result["messages"]["error"] is False and result["installedPackages"] == ["pandas==2.2.0", "requests"]
    future = env.update_packages(wait=False)
    assert future.wait_for_result()["installedPackages"] == ["pandas==2.2.0", "requests"]
    logs = env.list_logs()
    assert len(logs) == 3 and "pandas==2.2.0" in env.get_log(logs[-1]["name"])
    env.delete()
    with pytest.raises(DataikuException, match="CodedIOException: PYTHON env py311 doesn't exist"):
        env.get_settings()


def test_code_env_created_as_a_future(client):
    future = client.create_code_env("PYTHON", "later", "DESIGN_MANAGED", wait=False)
    started = time.monotonic()
    assert future.wait_for_result()["envName"] == "later"
    assert time.monotonic() - started < 10
    assert client.get_code_env("PYTHON", "later").get_settings().get_raw()["envName"] == "later"


def test_global_api_keys(client, dss: DSS):
    client.create_group("data_team")
    key = client.create_global_api_key_with_groups("ci", "CI key", ["data_team"])
    assert key.key.startswith("dkuaps-") and key.id_
    listed = client.list_global_api_keys()
    assert [k.id for k in listed] == [key.id_] and "key" not in listed[0]  # the secret is shown once
    definition = key.get_definition()
    assert definition.groups == ["data_team"] and definition.created_by == "admin" and "key" not in definition
    definition.label = "ci-2"
    definition.description = "renamed"
    definition.save()
    assert key.get_definition().label == "ci-2"
    # The new key works, with its groups' rights: no admin rights.
    ci = sdk_client(dss, key.key)
    assert ci.get_auth_info()["authIdentifier"] == key.id_
    with pytest.raises(DataikuException, match="administrator"):
        ci.list_users()
    admin_key = client.create_global_api_key("ops", "admin key", admin=True)
    assert sdk_client(dss, admin_key.key).list_users()
    key.delete()
    with pytest.raises(DataikuException, match="Invalid API key"):
        ci.get_auth_info()
    assert [k.id for k in client.list_global_api_keys()] == [admin_key.id_]
    assert DSSGlobalApiKey(client, "", admin_key.id_).get_definition().id == admin_key.id_


def test_personal_api_keys_and_impersonation(client, dss: DSS):
    client.create_group("team")
    client.create_user("bob", "pw", groups=["team"])
    created = client.create_personal_api_key_for_user("bob", label="bob's key")
    bob = sdk_client(dss, created.key)
    assert bob.get_auth_info()["authIdentifier"] == "bob"
    assert [k["id"] for k in bob.list_personal_api_keys()] == [created.id_]
    with pytest.raises(DataikuException, match="create projects"):
        bob.create_project("BOBS", "Bob's", "bob")
    group = client.get_group("team")
    definition = group.get_definition()
    definition["mayCreateProjects"] = True
    group.set_definition(definition)
    bob.create_project("BOBS", "Bob's", "bob")
    assert bob.list_project_keys() == ["BOBS"]
    as_bob = client.get_user("bob").get_client_as()
    as_bob._session.trust_env = False
    assert as_bob.get_auth_info()["authIdentifier"] == "bob"
    assert as_bob.list_project_keys() == ["BOBS"]
    client.create_project("ADMINS", "Admins'", "admin")
    assert bob.list_project_keys() == ["BOBS"]
    with pytest.raises(DataikuException, match="may not read project ADMINS"):
        bob.get_project("ADMINS").get_metadata()
