"""The Pulumi program (`stacks/__main__.py`, `declare_stack`, the typed classes) under
`pulumi.runtime.set_mocks`: names, dependency wiring, exports, secrets and TOML errors with plain
mocks; then one scenario with engine-backed mocks that runs the real provider process against a
sandbox, twice (create, then update/replace/delete)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi
import pytest
from platforge.pulumi import datatailr
from platforge.pulumi.base import provider_for
from typer.testing import CliRunner

from platforge.cli import app
from platforge.core.errors import StackError

from .conftest import (
    QUICKSTART,
    STACK_V1,
    STACK_V2,
    STACK_V2_CHANGES,
    STACKS,
    Api,
    stack_env,
    write_stack,
)
from .harness import PROVIDER_KEY, MiniEngine, ProviderProcess, is_secret, reveal, serialize_like_sdk
from .programs import EngineMocks, PlainMocks, main_program, run_program

MAIN = STACKS / "__main__.py"
QUICKSTART_ADDRESSES = [
    "group.analysts", "group.engineers", "group.oncall", "kv.feature-flags", "kv.warehouse-url-dev",
    "kv.warehouse-url-prod", "promotion.feature-api", "secret.warehouse-password-dev",
    "secret.warehouse-password-prod", "service.feature-api", "user.alice", "user.bob", "user.carol", "user.etl-bot",
]


@pytest.fixture
def quickstart_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"QUICKSTART_INITIAL_PASSWORD": "initial-QS-marker", "QUICKSTART_WAREHOUSE_PASSWORD_DEV": "dev-QS-marker",
              "QUICKSTART_WAREHOUSE_PASSWORD_PROD": "prod-QS-marker"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def _deps(registration) -> set[str]:
    return {urn.rsplit("::", 1)[-1] for urn in registration.dependencies}


def test_quickstart_program_names_wiring_exports_and_secrets(quickstart_env, tmp_path: Path) -> None:
    stack_dir = shutil.copytree(QUICKSTART, tmp_path / "qs")
    run = run_program(main_program(MAIN), PlainMocks(), config={"platforge:stackDir": str(stack_dir)})
    regs = run.registrations
    assert sorted(regs) == QUICKSTART_ADDRESSES
    assert {name: r.type for name, r in regs.items()} == {
        name: "pulumi-python:dynamic/datatailr:" + {"group": "Group", "user": "User", "kv": "KvEntry",
                                                    "secret": "Secret", "service": "Service",
                                                    "promotion": "Promotion"}[name.split(".")[0]]
        for name in QUICKSTART_ADDRESSES}

    # Exports: the addresses, and one platform id per address.
    assert run.exports["addresses"] == QUICKSTART_ADDRESSES
    assert sorted(run.exports["platform_ids"]) == QUICKSTART_ADDRESSES
    assert run.exports["platform_ids"]["user.alice"] == "mock-user.alice"

    # Dependencies follow the stack's references.
    assert _deps(regs["user.alice"]) == {"group.analysts"}
    assert _deps(regs["user.carol"]) == {"group.analysts", "group.engineers"}
    assert _deps(regs["group.oncall"]) == {"user.bob", "user.carol"}
    assert _deps(regs["kv.warehouse-url-prod"]) == {"group.analysts", "group.engineers", "user.bob"}
    assert _deps(regs["secret.warehouse-password-dev"]) == {"group.engineers", "user.etl-bot"}
    assert _deps(regs["group.analysts"]) == set() and _deps(regs["kv.feature-flags"]) == set()
    # "promoted": the service's revision output, so the promotion waits for its save
    assert _deps(regs["promotion.feature-api"]) == {"service.feature-api"}

    # Inputs: canonical specs, the membership owned elsewhere, secrets as secret Outputs.
    alice = regs["user.alice"].inputs
    assert alice["groups"] == ["analysts", "dtusers"] and alice["membership_owned_elsewhere"] == ["oncall"]
    assert is_secret(alice["initial_password"]) and reveal(alice["initial_password"]) == "initial-QS-marker"
    assert "initial_password" not in regs["user.carol"].inputs
    for env in ("dev", "prod"):
        value = regs[f"secret.warehouse-password-{env}"].inputs["value"]
        assert is_secret(value) and reveal(value) == f"{env}-QS-marker"
    secret_props = {(name, k) for name, r in regs.items() for k, v in r.inputs.items() if is_secret(v)}
    assert secret_props == {("user.alice", "initial_password"), ("user.bob", "initial_password"),
                            ("secret.warehouse-password-dev", "value"), ("secret.warehouse-password-prod", "value")}
    assert regs["kv.warehouse-url-prod"].inputs["environment"] == "prod"
    assert regs["kv.feature-flags"].inputs["key"] == "feature-flags"

    # additional_secret_outputs as the classes declare them, and a plain, per-kind __provider.
    for name, r in regs.items():
        kind = name.split(".")[0]
        assert r.additional_secret_outputs == {"user": ["initial_password"], "secret": ["value"]}.get(kind, [])
        assert r.inputs[PROVIDER_KEY] == serialize_like_sdk(provider_for("datatailr", kind))
    assert len({r.inputs[PROVIDER_KEY] for r in regs.values()}) == 6  # one per kind used
    for marker in quickstart_env.values():
        assert all(marker not in r.inputs[PROVIDER_KEY] for r in regs.values())


def test_program_defaults_to_the_quickstart_next_to_it(quickstart_env) -> None:
    run = run_program(main_program(MAIN), PlainMocks())
    assert sorted(run.registrations) == QUICKSTART_ADDRESSES


def test_typed_classes(monkeypatch) -> None:
    """The classes a hand-written program uses: defaults, secrets, Output wiring, early validation."""
    made = {}

    def program():
        admins = datatailr.Group("admins", name="platform-admins")
        made["user"] = datatailr.User("alice", email="alice@example.com", groups=[admins.name],
                                      initial_password="pw-plain")
        made["kv"] = datatailr.KvEntry("flags", value="on")
        made["secret"] = datatailr.Secret("db", key="db/password", value="hunter2-plain")
        made["membership"] = datatailr.GroupMembership("m", group=admins.name, user="alice")
        return {"__wait__": pulumi.Output.all(made["secret"].value.is_secret(), made["kv"].value.is_secret())
                .apply(lambda flags: secrecy.extend(flags))}

    secrecy: list[bool] = []

    run = run_program(program, PlainMocks(), config={"platforge:environment": "prod"})
    regs = run.registrations
    assert regs["admins"].inputs["name"] == "platform-admins"
    assert regs["alice"].inputs["name"] == "alice" and regs["alice"].inputs["groups"] == ["platform-admins"]
    assert "admins" in _deps(regs["alice"]) and "admins" in _deps(regs["m"])
    assert regs["flags"].inputs["environment"] == "prod"  # stack config, as [platform] environment is to the CLI
    assert regs["flags"].inputs["key"] == "flags"
    assert is_secret(regs["db"].inputs["value"]) and reveal(regs["db"].inputs["value"]) == "hunter2-plain"
    assert secrecy == [True, False]  # Secret.value is a secret Output even when given as a plain string
    assert regs["alice"].additional_secret_outputs == ["initial_password"]
    assert "hunter2-plain" not in regs["db"].inputs[PROVIDER_KEY]

    with pytest.raises(ValueError) as bad:
        run_program(lambda: datatailr.User("bob", email="nope"), PlainMocks())
    assert "email" in str(bad.value) and "not a valid email" in str(bad.value)
    with pytest.raises(TypeError):  # unknown keyword: not silently dropped
        datatailr.KvEntry("k", value="v", colour="red")


def test_toml_errors_surface_with_file_and_line(tmp_path: Path, monkeypatch) -> None:
    stack_dir = write_stack(tmp_path / "bad", """
[user.alice]
email = "not-an-email"
colour = "red"

[kv.flags]
environment = "staging"
value = "on"
""", "http://127.0.0.1:9")
    with pytest.raises(StackError) as failed:
        run_program(main_program(MAIN), PlainMocks(), config={"platforge:stackDir": str(stack_dir)})
    message = str(failed.value)
    main = stack_dir / "main.toml"
    lines = main.read_text().splitlines()
    needles = {"email": 'email = "not-an-email"', "colour": 'colour = "red"', "env": 'environment = "staging"'}
    line = {key: next(i for i, text in enumerate(lines, 1) if text.startswith(needle))
            for key, needle in needles.items()}
    assert len(failed.value.problems) == 3
    for problem in failed.value.problems:
        assert problem.file == str(main)
    assert f"{main}:{line['email']} [user.alice.email]: value is not a valid email" in message
    assert f"{main}:{line['colour']} [user.alice.colour]: unknown field" in message
    assert f"{main}:{line['env']} [kv.flags.environment]: expected one of 'dev', 'pre', 'prod'" in message
    # The CLI reports the very same problems for the same files.
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plan", str(stack_dir)])
    assert result.exit_code == 1
    for problem in failed.value.problems:
        assert str(problem) in result.stderr.replace("\n", " ") or str(problem) in result.stderr


def test_engine_backed_program_creates_then_updates(module_sandbox, provider: ProviderProcess, api: Api,
                                                    tmp_path: Path, monkeypatch) -> None:
    """The program, the SDK's own registration and serialization, the real plugin, the sandbox."""
    stack_dir = tmp_path / "stack"
    config = {"platforge:stackDir": str(stack_dir), "platforge:endpoint": module_sandbox.url}
    engine = MiniEngine(provider)

    def program():
        namespace = main_program(MAIN)()
        resources = namespace["resources"]
        return {**namespace, "__wait__": pulumi.Output.all(
            resources["secret.db-password"].value.is_secret(),
            resources["user.alice"].initial_password.is_secret(),
            resources["user.alice"].email.is_secret(),
        ).apply(lambda flags: secrecy.extend(flags))}

    # Run 1: everything is created.
    secrecy: list[bool] = []
    write_stack(stack_dir, STACK_V1, module_sandbox.url)
    stack_env(monkeypatch, 1)
    mocks = EngineMocks(engine)
    run = run_program(program, mocks, config=config)
    assert {s.op for s in mocks.steps} == {"create"} and len(mocks.steps) == 7
    live = api.snapshot()
    assert live["users"]["alice"]["email"] == "alice@example.com"
    assert live["users"]["alice"]["groups"] == ["analysts", "dtusers"]
    assert live["groups"]["engineers"] == ["bot"]
    assert live["kv"]["dev/url"] == {"value": "postgres://warehouse/v1", "acl": {"read": ["group:analysts"]}}
    assert live["kv"]["dev/old"]["value"] == "to-be-deleted"
    assert live["secrets"]["dev/db-password"]["value"] == "db-password-v1"
    assert run.exports["platform_ids"]["user.alice"] == api.user("alice")["user_id"]
    assert secrecy == [True, True, False]

    # Preview of v2 through the same program: the plan, and no write.
    write_stack(stack_dir, STACK_V2, module_sandbox.url)
    stack_env(monkeypatch, 2)
    preview = EngineMocks(engine, preview=True)
    run_program(main_program(MAIN), preview, config=config, preview=True)
    planned = {s.urn.rsplit("::", 1)[-1]: s.op for s in preview.steps}
    assert api.snapshot() == live

    # Run 2: updated, replaced, created; what the program no longer declares is deleted.
    mocks = EngineMocks(engine)
    secrecy.clear()
    run = run_program(program, mocks, config=config)
    deleted = engine.prune(run.registrations[n].urn for n in run.registrations)
    ops = {s.urn.rsplit("::", 1)[-1]: s.op for s in mocks.steps + deleted}
    assert ops == planned | {"kv.old": "delete"}
    for op, names in STACK_V2_CHANGES.items():
        assert sorted(n for n, o in ops.items() if o == op) == names, op
    assert {n for n, o in ops.items() if o == "same"} == {"group.analysts", "group.engineers", "kv.url"}
    after = api.snapshot()
    assert after["users"]["alice"]["email"] == "alice@corp.example.com"
    assert after["users"]["bot"]["system"] is True
    assert after["groups"]["oncall"] == ["alice"]
    assert "dev/old" not in after["kv"]
    assert after["secrets"]["dev/db-password"]["value"] == "db-password-v2"
    assert secrecy == [True, True, False]
    engine.destroy_all()
    assert set(api.snapshot()["kv"]) == set()
