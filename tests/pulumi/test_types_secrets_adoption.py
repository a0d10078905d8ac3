"""The Pulumi front door as the real engine drives it: one resource type per class, secret
inputs, Check failures that never echo a secret, refresh with memberships owned elsewhere,
import (which the engine cannot do for dynamic providers) and adoption (`adopt=True`) instead."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest
from platforge.provider.datatailr.kinds.kv import SecretKind
from platforge.pulumi import datatailr

from platforge.core.errors import StackError

from .conftest import PROJECT, REPO, Api, declared, password_config, provider_blob, resource_type, write_stack
from .harness import (
    DYNAMIC_TYPE,
    PROVIDER_KEY,
    MiniEngine,
    ProviderError,
    ProviderProcess,
    dumps,
    is_secret,
    reveal,
    secret,
    urn_of,
)
from .programs import EngineMocks, PlainMocks, run_program, stack_program

CLASSES = ("Group", "User", "GroupMembership", "KvEntry", "Secret", "Service", "App", "ExcelAddin", "Workflow",
           "Promotion")


# ---- one resource type per class --------------------------------------------------------------


def test_each_class_has_its_own_type_so_names_can_repeat() -> None:
    """`Group("alice")` and `User("alice")` used to share `pulumi-python:dynamic:Resource`, hence one
    URN: the engine refuses the second registration."""

    def program():
        group = datatailr.Group("alice")
        datatailr.User("alice", email="alice@example.com", groups=[group.name])
        datatailr.GroupMembership("alice", group=group.name, user="alice")
        datatailr.KvEntry("alice", value="v")
        datatailr.Secret("alice", value="s")
        datatailr.Service("alice", entrypoint="svc.main:run")
        datatailr.App("alice", entrypoint="dash.app:main", framework="streamlit")
        datatailr.ExcelAddin("alice", entrypoint="xl.addin:main")
        datatailr.Workflow("alice", tasks={"only": {"entrypoint": "etl.tasks:run"}})
        datatailr.Promotion("alice", job="service.alice", pre=1)

    run = run_program(program, PlainMocks())
    registered = run.monitor.by_urn
    assert sorted(r.type for r in registered.values()) == sorted(
        f"pulumi-python:dynamic/datatailr:{c}" for c in CLASSES)
    assert sorted(registered) == sorted(urn_of("alice", type_=f"pulumi-python:dynamic/datatailr:{c}") for c in CLASSES)
    # Each class's type is what `resource_type` (and so every engine-protocol test) uses.
    assert {r.type for r in registered.values()} == {resource_type(k) for k in datatailr.RESOURCES}
    # State recorded under the old shared type moves to the class's type by alias, not by a replace.
    assert {tuple(r.aliases) for r in registered.values()} == {(urn_of("alice", type_=DYNAMIC_TYPE),)}


def test_a_group_and_a_user_of_one_name_both_exist(provider: ProviderProcess, api: Api, unique) -> None:
    name = unique("twin")
    engine = MiniEngine(provider)
    mocks = EngineMocks(engine)

    def program():
        group = datatailr.Group(name)
        datatailr.User(name, email="twin@example.com", groups=[group.name])

    run_program(program, mocks)
    assert [s.op for s in mocks.steps] == ["create", "create"]
    assert api.group(name) is not None and name in api.user(name)["groups"].split(",")
    assert sorted(engine.state) == sorted(urn_of(name, type_=resource_type(k)) for k in ("group", "user"))
    engine.destroy_all()
    assert api.user(name) is None and api.group(name) is None


def test_state_under_the_old_shared_type_moves_without_a_change(provider: ProviderProcess, api: Api,
                                                                unique) -> None:
    """Stacks made before each class had its own type: the alias finds their state, so the
    upgrade is a `same` step, with no create and no delete."""
    name = unique("legacy")
    engine = MiniEngine(provider)
    old_urn = urn_of(name, project=PROJECT, type_=DYNAMIC_TYPE)
    assert engine.up(old_urn, declared("group", name, {"name": name}).inputs).op == "create"
    calls = len(provider.calls)
    mocks = EngineMocks(engine)
    run_program(lambda: {"group": datatailr.Group(name)}, mocks)
    assert [s.op for s in mocks.steps] == ["same"]
    assert list(engine.state) == [urn_of(name, type_=resource_type("group"))]
    assert [c[0] for c in provider.calls[calls:]] == ["Check", "Diff"]
    engine.destroy_all()
    assert api.group(name) is None


# ---- secret inputs ----------------------------------------------------------------------------


def test_secret_inputs_are_pulumi_secrets_whatever_form_they_arrive_in() -> None:
    forms = {
        "plain": lambda v: v,
        "output": lambda v: pulumi.Output.from_input(v),
        "secret": lambda v: pulumi.Output.secret(v),
    }

    def program():
        for form, make in forms.items():
            datatailr.User(f"u-{form}", email="u@example.com", initial_password=make(f"pw-{form}-marker"))
            datatailr.Secret(f"s-{form}", value=make(f"value-{form}-marker"))

    regs = run_program(program, PlainMocks()).registrations
    for form in forms:
        password, value = regs[f"u-{form}"].inputs["initial_password"], regs[f"s-{form}"].inputs["value"]
        assert is_secret(password) and reveal(password) == f"pw-{form}-marker", form
        assert is_secret(value) and reveal(value) == f"value-{form}-marker", form
        for registration in (regs[f"u-{form}"], regs[f"s-{form}"]):
            plain = {k: v for k, v in registration.inputs.items() if not is_secret(v)}
            assert "marker" not in dumps(plain), form


def test_a_plain_initial_password_is_secret_in_the_engine_state(provider: ProviderProcess, api: Api,
                                                                unique) -> None:
    name, password = unique("sp"), "PW-" + unique("plain")
    engine = MiniEngine(provider)
    mocks = EngineMocks(engine)
    run_program(lambda: {"user": datatailr.User(name, email="sp@example.com", initial_password=password)}, mocks)
    state = engine.state[urn_of(name, type_=resource_type("user"))]
    assert is_secret(state.inputs["initial_password"]) and reveal(state.inputs["initial_password"]) == password
    assert is_secret(state.outputs["initial_password"])
    for props in (state.inputs, state.outputs):
        assert password not in dumps({k: v for k, v in props.items() if not is_secret(v)})
    engine.destroy_all()


# ---- Check never echoes a secret ----------------------------------------------------------------


@pytest.mark.parametrize("kind, field, given, needle, found", [
    ("secret", "value", 987654321, "987654321", "an integer (not shown: this field is secret)"),
    ("secret", "value", {"from_env": "LEAKED_314159"}, "314159", "a table"),
    ("secret", "value", ["LEAKED_271828"], "271828", "a list"),
    ("user", "initial_password", 123456789, "123456789", "an integer (not shown: this field is secret)"),
    ("user", "initial_password", True, "True", "true or false"),
], ids=["number", "table", "list", "password-number", "password-bool"])
def test_check_failures_never_echo_a_secret_value(provider: ProviderProcess, kind: str, field: str, given,
                                                  needle: str, found: str) -> None:
    identity = {"secret": {"key": "leak"}, "user": {"name": "leak"}}[kind]
    d = declared(kind, "leak", {**identity, field: secret(given)}, secret_fields=set())
    assert is_secret(d.inputs[field])  # as `Output.secret(987654321)` registers it
    response = provider.check_response(d.urn, {}, d.inputs)
    assert [(f.property, f.reason) for f in response.failures] == [
        (field, f"{field}: expected the secret value as a string; found {found}")]
    assert needle not in str(response)  # not in the reasons, not in the inputs echoed back
    assert needle not in provider.stderr()


def test_construction_never_echoes_a_secret_value() -> None:
    def secret_program() -> None:
        datatailr.Secret("s", value=987654321)

    def user_program() -> None:
        datatailr.User("u", email="nope-13579", initial_password=24680)

    with pytest.raises(ValueError) as bad:
        run_program(secret_program, PlainMocks())
    assert "value: expected the secret value as a string" in str(bad.value) and "987654321" not in str(bad.value)
    with pytest.raises(ValueError) as bad:
        run_program(user_program, PlainMocks())
    assert "email" in str(bad.value) and "initial_password" in str(bad.value) and "24680" not in str(bad.value)


# ---- refresh with memberships owned elsewhere -----------------------------------------------------


def test_refresh_then_up_shows_no_change_when_memberships_are_owned_elsewhere(
        engine: MiniEngine, provider: ProviderProcess, api: Api, unique) -> None:
    name, own, elsewhere = unique("re"), unique("re-own"), unique("re-else")
    api.add_group(own)
    api.add_group(elsewhere)
    d = declared("user", name, {"name": name, "email": "re@example.com", "groups": [own],
                                "membership_owned_elsewhere": [elsewhere]})
    assert engine.up(d.urn, d.inputs).op == "create"
    api.add_members(elsewhere, name)  # what the resource owning `elsewhere`'s member list does

    def no_change() -> None:
        state = engine.state[d.urn]
        checked = provider.check(d.urn, state.inputs, d.inputs).inputs
        assert provider.diff(state.id, d.urn, state.outputs, checked, state.inputs).changes == "none"
        assert engine.up(d.urn, d.inputs).op == "same"

    for _ in range(2):
        assert engine.refresh(d.urn).op == "refresh-same"
        assert engine.state[d.urn].inputs["membership_owned_elsewhere"] == [elsewhere]
        no_change()
    assert sorted(api.user(name)["groups"].split(",")) == sorted([own, elsewhere, "dtusers"])

    # State written before outputs carried the control input: the refresh sees every group, and
    # the next Diff still knows which of them another resource owns.
    engine.state[d.urn].outputs.pop("membership_owned_elsewhere")
    engine.refresh(d.urn)
    no_change()
    assert name in api.group_member_names(elsewhere)
    engine.destroy(d.urn)


# ---- import (impossible for dynamic providers) and adoption --------------------------------------


def test_import_reads_with_only_the_id_which_a_dynamic_provider_cannot_serve(provider: ProviderProcess, api: Api,
                                                                            unique) -> None:
    """`pulumi import` / `import_=`: the engine sends Read with the id alone (pulumi/pulumi#16175),
    so the plugin cannot even find which provider to load. `adopt=True` is the way in."""
    key = unique("imp")
    api.put_kv(key, "v")
    urn = urn_of(key, type_=resource_type("kv"))
    with pytest.raises(ProviderError) as failed:
        provider.read(f"dev/{key}", urn, {}, {})
    assert failed.value.method == "Read" and f"KeyError: '{PROVIDER_KEY}'" in failed.value.details
    api.rm_kv(key)


def test_a_secret_read_back_without_its_value_diffs_cleanly(engine: MiniEngine, provider: ProviderProcess,
                                                            api: Api, unique) -> None:
    """A Read that holds no old value (the platform never gives a secret back into state) must
    not make the next Diff fail with 'invalid secret: value: required'."""
    key = unique("rb")
    d = declared("secret", key, {"key": key, "value": "rb-value"})
    assert engine.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs).op == "create"
    state = engine.state[d.urn]
    read = provider.read(state.id, d.urn, {PROVIDER_KEY: provider_blob("secret")})
    assert "value" not in read.outputs and "value" not in read.inputs
    checked = provider.check(d.urn, read.inputs, d.inputs).inputs
    assert provider.diff(state.id, d.urn, read.outputs, checked, read.inputs).changes == "none"
    api.put_kv(key, "changed-out-of-band", secure=True)
    assert provider.diff(state.id, d.urn, read.outputs, checked, read.inputs).changes == "some"
    engine.destroy(d.urn)


def test_create_refuses_an_existing_object_without_adopt(engine: MiniEngine, provider: ProviderProcess, api: Api,
                                                         unique) -> None:
    name, key = unique("taken"), unique("taken-key")
    api.add_user(name)
    api.put_kv(key, "theirs")
    before = api.snapshot()
    for d, what in [(declared("user", name, {"name": name, "email": "mine@example.com"}), f"user {name!r}"),
                    (declared("kv", key, {"key": key, "value": "mine"}), f"kv 'dev/{key}'")]:
        with pytest.raises(ProviderError) as failed:
            engine.up(d.urn, d.inputs)
        assert failed.value.method == "Create"
        assert f"{what} already exists on the platform; pass adopt=True to take it over" in failed.value.details
        assert d.urn not in engine.state
    assert api.snapshot() == before  # no write
    api.rm_user(name)
    api.rm_kv(key)


def test_adopt_takes_a_user_over_then_it_updates_and_refreshes_like_any_other(
        engine: MiniEngine, provider: ProviderProcess, api: Api, unique) -> None:
    name, group = unique("ad"), unique("ad-g")
    api.add_group(group)
    api.add_user(name, groups=[group])
    props = {"name": name, "first_name": "Ada", "email": "ada@example.com", "groups": [group],
             "initial_password": "never-used-on-adoption"}
    d = declared("user", name, {**props, "adopt": True})
    step = engine.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs)
    assert step.op == "create" and step.id == name
    live = api.user(name)
    assert (live["first_name"], live["email"]) == ("Ada", "ada@example.com")  # fields updated as declared
    assert step.outputs["platform_id"] == live["user_id"] and step.outputs["adopt"] is True
    # Same declaration: no change; refresh: nothing to record; the Diff after it: none.
    assert engine.up(d.urn, d.inputs).op == "same"
    assert engine.refresh(d.urn).op == "refresh-same"
    state = engine.state[d.urn]
    assert provider.diff(state.id, d.urn, state.outputs, provider.check(d.urn, state.inputs, d.inputs).inputs,
                         state.inputs).changes == "none"
    # The stack owns it now: an update needs no consent and is never an import.
    changed = declared("user", name, {**props, "email": "ada.l@example.com"})
    assert engine.up(d.urn, changed.inputs).op == "update"
    assert api.user(name)["email"] == "ada.l@example.com"
    assert engine.refresh(d.urn).op == "refresh-same"
    engine.destroy(d.urn)
    assert api.user(name) is None


def test_adopt_takes_a_secret_over_and_its_next_diffs_are_clean(engine: MiniEngine, provider: ProviderProcess,
                                                                api: Api, unique) -> None:
    key, group = unique("ads"), unique("ads-g")
    api.add_group(group)
    api.put_kv(key, "their-value", secure=True)
    props = {"key": key, "value": "our-value", "acl": {"read": {"groups": [group]}}}
    d = declared("secret", key, {**props, "adopt": True})
    assert engine.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs).op == "create"
    assert api.kv(key, secure=True) == "our-value"
    assert engine.up(d.urn, d.inputs).op == "same"
    assert engine.refresh(d.urn).op == "refresh-same"
    state = engine.state[d.urn]
    assert is_secret(state.outputs["value"])
    assert provider.diff(state.id, d.urn, state.outputs, provider.check(d.urn, state.inputs, d.inputs).inputs,
                         state.inputs).changes == "none"
    rotated = declared("secret", key, {**props, "value": "rotated"})
    assert engine.up(d.urn, rotated.inputs).op == "update"
    assert api.kv(key, secure=True) == "rotated"
    engine.destroy(d.urn)


def test_a_secret_without_a_declared_acl_cannot_be_adopted(engine: MiniEngine, api: Api, unique) -> None:
    key = unique("noacl")
    api.put_kv(key, "their-value", secure=True)
    d = declared("secret", key, {"key": key, "value": "our-value", "adopt": True})
    with pytest.raises(ProviderError) as failed:
        engine.up(d.urn, d.inputs)
    assert (f"secret 'dev/{key}' already exists on the platform and cannot be taken over, even with adopt=True: "
            "a secret that exists on the platform, with an ACL this stack does not declare") in failed.value.details
    assert f"declare [secret.{key}.acl] to adopt it" in failed.value.details
    assert "our-value" not in failed.value.details and d.urn not in engine.state
    assert api.kv(key, secure=True) == "their-value"
    api.rm_kv(key, secure=True)


def test_a_kind_refusal_stops_adoption_before_any_write(module_sandbox, api: Api, unique, monkeypatch) -> None:
    """Whatever a kind refuses to write (here a stand-in refusal) stops `create` with its reason,
    even with adopt=True, and nothing is written."""
    from platforge.pulumi.dynamic import AdoptionRefused, KindProvider
    from pulumi.dynamic import Config, ConfigureRequest

    monkeypatch.setattr(SecretKind, "refuse_write",
                        lambda self, *args, **kwargs: "its readers are set elsewhere: declare `acl`")
    key = unique("blocked")
    api.put_kv(key, "their-value", secure=True)
    provider = KindProvider("datatailr", "secret")
    provider.configure(ConfigureRequest(Config(password_config(module_sandbox)[0], PROJECT)))
    with pytest.raises(AdoptionRefused) as refused:
        provider.create({"key": key, "environment": "dev", "value": "our-value", "adopt": True})
    assert str(refused.value) == (f"secret 'dev/{key}' already exists on the platform and cannot be taken over, "
                                  "even with adopt=True: its readers are set elsewhere: declare `acl`; "
                                  "nothing was changed")
    assert api.kv(key, secure=True) == "their-value"
    api.rm_kv(key, secure=True)


def test_declare_stack_adopts_what_the_stack_adopt_table_names(tmp_path: Path, monkeypatch) -> None:
    """The same consent as `platforge apply`: the stack's `[adopt]` patterns."""
    stack_dir = write_stack(tmp_path / "s", """
[adopt]
objects = ["user.*", "kv.url"]

[group.analysts]

[user.alice]
email = "alice@example.com"
initial_password = { from_env = "ADOPT_TEST_PASSWORD" }

[kv.url]
value = "v"

[kv.other]
value = "w"
""", "http://127.0.0.1:9")
    monkeypatch.setenv("ADOPT_TEST_PASSWORD", "adopt-marker")
    regs = run_program(stack_program(stack_dir), PlainMocks()).registrations
    assert {name for name, r in regs.items() if r.inputs.get("adopt") is True} == {"user.alice", "kv.url"}
    assert all("adopt" not in r.inputs for name, r in regs.items() if name in ("group.analysts", "kv.other"))
    assert reveal(regs["user.alice"].inputs["initial_password"]) == "adopt-marker"
    # A create-only secret the program cannot read stops it with the file and the variable named.
    monkeypatch.delenv("ADOPT_TEST_PASSWORD")
    with pytest.raises(StackError) as failed:
        run_program(stack_program(stack_dir), PlainMocks())
    assert "ADOPT_TEST_PASSWORD" in str(failed.value) and "main.toml" in str(failed.value)


# ---- no reference to a path outside the repository -------------------------------------------------


def test_no_file_of_the_pulumi_front_door_refers_outside_the_repository() -> None:
    outside = re.compile(r"\bshared/contracts\b|(?<![\w.])/work/|\.\./\.\./")
    files = [p for folder in ("resources", "stacks", "tests/pulumi") for p in (REPO / folder).rglob("*")
             if p.is_file() and p.suffix in (".py", ".yaml", ".txt", ".md") and "__pycache__" not in p.parts]
    assert files
    offenders = {str(p.relative_to(REPO)): m.group(0) for p in files
                 for m in [outside.search(p.read_text(encoding="utf-8"))] if m and p.name != Path(__file__).name}
    assert offenders == {}
    from platforge.pulumi import base, stack
    from platforge.pulumi import datatailr as module
    from platforge.pulumi import dynamic as provider

    for documented in (provider, base, module, stack, provider.KindProvider, base.PlatforgeResource):
        assert not outside.search(documented.__doc__ or "")
