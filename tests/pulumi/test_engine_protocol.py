"""The real plugin process (`python -u -m pulumi.dynamic`), driven over gRPC the way the engine
drives it, against a real sandbox: one lifecycle per kind, preview with Unknowns, secrets in
config and outputs, errors, floats, and importability from a clean cwd."""

from __future__ import annotations

import base64
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from .conftest import PROJECT, STACKS, Api, declared, provider_blob
from .harness import (
    PROVIDER_KEY,
    UNKNOWN,
    CheckFailed,
    MiniEngine,
    ProviderError,
    ProviderProcess,
    dumps,
    is_secret,
    reveal,
    serialize_like_sdk,
    urn_of,
)

# ---- the protocol basics -------------------------------------------------------------------


def test_configure_answers_like_the_dynamic_plugin(provider: ProviderProcess) -> None:
    assert provider.configure_response == {"acceptSecrets": False, "supportsPreview": False, "acceptResources": False}
    assert provider.get_plugin_info() == "0.1.0"
    assert provider.accept_secrets is False  # so the harness, like the engine, now strips secret wrappers


# ---- one lifecycle per kind ---------------------------------------------------------------


@dataclass
class Case:
    """One kind's lifecycle: the inputs of each phase, how to observe it live and to drift it."""

    kind: str
    setup: Callable[[Api, dict], None]  # prerequisites made directly on the platform
    create: Callable[[dict], dict]
    live: Callable[[Api, dict, dict], Any]  # the live value that matters for these inputs (None: gone)
    update: Callable[[dict], dict] | None  # inputs that change in place
    replace: Callable[[dict], dict]  # inputs that force a replacement
    replaces: list[str]
    delete_before_replace: bool
    drift: Callable[[Api, dict], None] | None  # an out-of-band change refresh must see
    drifted: Callable[[dict, dict], bool] | None  # the refreshed outputs show it
    remove: Callable[[Api, dict], None]  # an out-of-band delete


def _names(unique) -> dict:
    return {k: unique(k) for k in ("g", "g2", "u", "u1", "u2", "key", "key2")}


CASES = [
    Case(
        kind="group",
        setup=lambda api, n: (api.add_user(n["u1"]), api.add_user(n["u2"])),
        create=lambda n: {"name": n["g"], "members": [n["u1"]]},
        live=lambda api, n, p: api.group_member_names(p["name"]) if api.group(p["name"]) else None,
        update=lambda n: {"name": n["g"], "members": [n["u1"], n["u2"]]},
        replace=lambda n: {"name": n["g2"], "members": [n["u1"]]},
        replaces=["name"], delete_before_replace=False,
        drift=lambda api, n: api.add_members(n["g"], n["u2"]),
        drifted=lambda outs, n: sorted(outs["members"]) == sorted([n["u1"], n["u2"]]),
        remove=lambda api, p: api.rm_group(p["name"]),
    ),
    Case(
        kind="user",
        setup=lambda api, n: api.add_group(n["g"]),
        create=lambda n: {"name": n["u"], "first_name": "Ada", "email": "ada@example.com", "groups": [n["g"]],
                          "initial_password": "initial-pw-123"},
        live=lambda api, n, p: (lambda u: u and (u["email"], u["is_system"], u["first_name"],
                                                 sorted(u["groups"].split(","))))(api.user(p["name"])),
        update=lambda n: {"name": n["u"], "first_name": "Ada", "email": "ada.l@example.com", "groups": [n["g"]],
                          "initial_password": "initial-pw-123"},
        replace=lambda n: {"name": n["u"], "first_name": "Ada", "email": "ada.l@example.com", "groups": [n["g"]],
                           "system": True},
        replaces=["system"], delete_before_replace=True,
        drift=lambda api, n: api.modify_user(n["u"], first_name="Zed"),
        drifted=lambda outs, n: outs["first_name"] == "Zed",
        remove=lambda api, p: api.rm_user(p["name"]),
    ),
    Case(
        kind="group_membership",
        setup=lambda api, n: (api.add_group(n["g"]), api.add_user(n["u1"]), api.add_user(n["u2"])),
        create=lambda n: {"group": n["g"], "user": n["u1"]},
        live=lambda api, n, p: (p["user"] in api.group_member_names(p["group"])) or None,
        update=None,  # a membership is all identity: nothing can change in place
        replace=lambda n: {"group": n["g"], "user": n["u2"]},
        replaces=["user"], delete_before_replace=False,
        drift=None, drifted=None,  # the only out-of-band change possible is its removal
        remove=lambda api, p: api.rm_members(p["group"], p["user"]),
    ),
    Case(
        kind="kv",
        setup=lambda api, n: api.add_group(n["g"]),
        create=lambda n: {"key": n["key"], "environment": "dev", "value": "v1",
                          "acl": {"read": {"groups": [n["g"]]}}},
        live=lambda api, n, p: api.kv(p["key"], p["environment"]),
        update=lambda n: {"key": n["key"], "environment": "dev", "value": "v2",
                          "acl": {"read": {"groups": [n["g"]]}}},
        replace=lambda n: {"key": n["key"], "environment": "prod", "value": "v2",
                           "acl": {"read": {"groups": [n["g"]]}}},
        replaces=["environment"], delete_before_replace=False,
        drift=lambda api, n: api.put_kv(n["key"], "changed-out-of-band"),
        drifted=lambda outs, n: outs["value"] == "changed-out-of-band",
        remove=lambda api, p: api.rm_kv(p["key"], p["environment"]),
    ),
    Case(
        kind="secret",
        setup=lambda api, n: None,
        create=lambda n: {"key": n["key"], "environment": "dev", "value": "s3cret-one"},
        live=lambda api, n, p: api.kv(p["key"], p["environment"], secure=True),
        update=lambda n: {"key": n["key"], "environment": "dev", "value": "s3cret-two"},
        replace=lambda n: {"key": n["key2"], "environment": "dev", "value": "s3cret-two"},
        replaces=["key"], delete_before_replace=False,
        drift=lambda api, n: api.put_kv(n["key"], "changed-out-of-band", secure=True),
        drifted=lambda outs, n: reveal(outs["value"]) != "s3cret-one",
        remove=lambda api, p: api.rm_kv(p["key"], p["environment"], secure=True),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_lifecycle(case: Case, engine: MiniEngine, provider: ProviderProcess, api: Api, unique) -> None:
    n = _names(unique)
    case.setup(api, n)
    urn = urn_of(f"{case.kind}.{n['g']}")

    def up(props: dict):
        d = declared(case.kind, urn.rsplit("::", 1)[-1], props)
        return engine.up(urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs)

    def live(props: dict):
        return case.live(api, n, props)

    # Check: a valid declaration passes and is echoed back, __provider included.
    created_props = case.create(n)
    d = declared(case.kind, "probe", created_props)
    checked = provider.check(urn, {}, d.inputs)
    assert checked.failures == []
    assert checked.inputs[PROVIDER_KEY] == provider_blob(case.kind)
    assert {k: reveal(v) for k, v in checked.inputs.items() if k != PROVIDER_KEY} == reveal(
        {k: v for k, v in d.inputs.items() if k != PROVIDER_KEY})
    assert ("Create", urn) not in provider.calls

    # Create.
    step = up(created_props)
    assert step.op == "create" and step.id
    first_live = live(created_props)
    assert first_live not in (None, False)
    assert "platform_id" in step.outputs and step.outputs[PROVIDER_KEY] == provider_blob(case.kind)

    # Diff: the same declaration again is no change, and no write.
    calls = len(provider.calls)
    assert engine.up(urn, declared(case.kind, "x", created_props).inputs).op == "same"
    assert [c[0] for c in provider.calls[calls:]] == ["Check", "Diff"]
    state = engine.state[urn]
    assert provider.diff(state.id, urn, state.outputs, state.inputs, state.inputs).changes == "none"

    # Read: a refresh with nothing changed, then out-of-band drift, then the next up repairs it.
    assert engine.refresh(urn).op == "refresh-same"
    if case.drift is not None:
        case.drift(api, n)
        refreshed = engine.refresh(urn)
        assert refreshed.op == "refresh-update", refreshed
        assert case.drifted(refreshed.outputs, n)
        repaired = up(created_props)
        assert repaired.op == "update"
        assert live(created_props) == first_live

    # Update in place.
    if case.update is not None:
        new_props = case.update(n)
        state = engine.state[urn]
        d = declared(case.kind, "x", new_props)
        diff = provider.diff(state.id, urn, state.outputs, provider.check(urn, state.inputs, d.inputs).inputs,
                             state.inputs)
        assert (diff.changes, diff.replaces) == ("some", [])
        step = up(new_props)
        assert step.op == "update" and step.id == state.id
        assert live(new_props) not in (None, False) and live(new_props) != first_live
        assert engine.refresh(urn).op == "refresh-same"
    else:  # nothing to update: an Update RPC with the same inputs changes nothing and echoes them
        state = engine.state[urn]
        outs = provider.update(state.id, urn, state.outputs, state.inputs, state.inputs)
        assert {k: outs[k] for k in created_props} == created_props
        assert live(created_props) is True
        new_props = created_props

    # Replace, honouring deleteBeforeReplace.
    old_id = engine.state[urn].id
    replaced_props = case.replace(n)
    calls = len(provider.calls)
    step = engine.up(urn, declared(case.kind, "x", replaced_props).inputs,
                     additional_secret_outputs=declared(case.kind, "x", replaced_props).additional_secret_outputs)
    assert step.op == "replace"
    assert step.diff.replaces == case.replaces
    assert step.delete_before_replace is case.delete_before_replace
    writes = [c[0] for c in provider.calls[calls:] if c[0] in ("Create", "Delete")]
    assert writes == (["Delete", "Create"] if case.delete_before_replace else ["Create", "Delete"])
    assert live(replaced_props) not in (None, False)
    if step.id != old_id:  # a new identity: the old object is gone
        assert live(new_props) in (None, False)

    # Out-of-band delete: refresh says gone and drops it from state; up creates it again.
    case.remove(api, replaced_props)
    assert live(replaced_props) in (None, False)
    assert engine.refresh(urn).op == "refresh-delete"
    assert urn not in engine.state
    assert up(replaced_props).op == "create"
    assert live(replaced_props) not in (None, False)

    # Delete, then delete again: idempotent.
    state = engine.state[urn]
    assert engine.destroy(urn).op == "delete"
    assert live(replaced_props) in (None, False)
    provider.delete(state.id, urn, state.outputs, state.inputs)
    assert live(replaced_props) in (None, False)


# ---- preview with Unknowns ---------------------------------------------------------------


def test_preview_tolerates_unknowns_and_writes_nothing(engine: MiniEngine, provider: ProviderProcess, api: Api,
                                                       unique) -> None:
    name, group = unique("pv"), unique("pvg")
    api.add_group(group)
    urn = urn_of(f"user.{name}")
    # A new resource whose email and one group come from another resource's (unknown) output.
    d = declared("user", "x", {"name": name, "email": UNKNOWN, "groups": [group, UNKNOWN]})
    checked = provider.check(urn, {}, d.inputs)
    assert checked.failures == []
    assert checked.inputs["email"] == UNKNOWN
    step = engine.preview(urn, d.inputs)
    assert step.op == "create" and urn not in engine.state
    assert api.user(name) is None
    # An unknown value still fails on the known fields.
    bad = declared("user", "x", {"name": name, "email": UNKNOWN, "system": "sometimes"})
    with pytest.raises(CheckFailed) as failed:
        engine.preview(urn, bad.inputs)
    assert [p for p, _ in failed.value.failures] == ["system"]

    # An existing resource: an unknown identity field means replace, an unknown plain field update.
    engine.up(urn, declared("user", "x", {"name": name, "email": "pv@example.com", "groups": [group]}).inputs)
    before = api.user(name)
    calls = len(provider.calls)
    step = engine.preview(urn, declared("user", "x", {"name": UNKNOWN, "email": "pv@example.com"}).inputs)
    assert step.op == "replace" and step.diff.replaces == ["name"]
    step = engine.preview(urn, declared("user", "x", {"name": name, "email": UNKNOWN}).inputs)
    assert step.op == "update" and step.diff.replaces == []
    step = engine.preview(urn, declared("user", "x", {"name": name, "email": "pv@example.com", "system": True}).inputs)
    assert step.op == "replace" and step.diff.replaces == ["system"] and step.delete_before_replace is True
    kv = engine.preview(urn_of("kv.unknown-env"),
                        declared("kv", "x", {"key": unique("k"), "environment": UNKNOWN, "value": "v"}).inputs)
    assert kv.op == "create"
    assert {c[0] for c in provider.calls[calls:]} <= {"Check", "Diff"}
    assert api.user(name) == before
    engine.destroy(urn)


# ---- secrets ------------------------------------------------------------------------------


def test_token_from_secret_config(module_sandbox, api: Api, unique) -> None:
    """`platforge:token` (a JWT from POST /login's cookie), sent as a secret config value."""
    key = unique("tok")
    with ProviderProcess(STACKS, project=PROJECT) as process:
        process.configure({"platforge:endpoint": module_sandbox.url, "platforge:token": api.token,
                           "platforge:environment": "dev"}, {"platforge:token"})
        engine = MiniEngine(process)
        urn = urn_of(f"kv.{key}")
        assert engine.up(urn, declared("kv", key, {"key": key, "value": "by-token"}).inputs).op == "create"
        assert api.kv(key) == "by-token"
        engine.destroy(urn)
        assert api.kv(key) is None
        assert api.token not in process.stderr()


def test_missing_or_bad_credentials_fail_with_a_clear_message(module_sandbox, api: Api, unique) -> None:
    with ProviderProcess(STACKS, project=PROJECT) as process:
        process.configure({"platforge:endpoint": module_sandbox.url})
        d = declared("group", "g", {"name": unique("g")})
        with pytest.raises(ProviderError) as failed:
            process.check(d.urn, {}, d.inputs)
        assert "missing credentials" in failed.value.details
        assert "platforge:token" in failed.value.details
    with ProviderProcess(STACKS, project=PROJECT) as process:
        process.configure({"platforge:endpoint": module_sandbox.url, "platforge:token": "not-a-jwt"},
                          {"platforge:token"})
        with pytest.raises(ProviderError) as failed:
            process.check(d.urn, {}, d.inputs)
        assert "Invalid session token" in failed.value.details
        assert api.group(d.inputs["name"]) is None


def test_additional_secret_outputs_mark_secret_values(engine: MiniEngine, provider: ProviderProcess, api: Api,
                                                      unique) -> None:
    value, password = "TOP-" + unique("secret"), "PW-" + unique("pw")
    key, user = unique("sk"), unique("su")
    # Inputs deliberately NOT secret: only additional_secret_outputs can make the outputs secret.
    s = declared("secret", key, {"key": key, "value": value}, secret_fields=set())
    u = declared("user", user, {"name": user, "email": "su@example.com", "initial_password": password},
                 secret_fields=set())
    assert s.additional_secret_outputs == ("value",) and u.additional_secret_outputs == ("initial_password",)

    # The plugin itself returns plain values: the engine does the marking.
    raw_id, raw_outs = provider.create(s.urn, provider.check(s.urn, {}, s.inputs).inputs)
    assert raw_outs["value"] == value and not is_secret(raw_outs["value"])
    provider.delete(raw_id, s.urn, raw_outs)

    steps = [engine.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs) for d in (s, u)]
    steps += [engine.refresh(d.urn) for d in (s, u)]
    assert is_secret(steps[0].outputs["value"]) and reveal(steps[0].outputs["value"]) == value
    assert is_secret(steps[1].outputs["initial_password"]) and reveal(steps[1].outputs["initial_password"]) == password
    assert is_secret(steps[2].outputs["value"]) and is_secret(steps[3].outputs["initial_password"])
    assert api.kv(key, secure=True) == value

    # Without additional_secret_outputs the value would leak into plain outputs: the marking matters.
    leaky = MiniEngine(provider)
    step = leaky.up(urn_of("leak"), declared("secret", "k", {"key": unique("lk"), "value": value},
                                              secret_fields=set()).inputs)
    assert not is_secret(step.outputs["value"])
    leaky.destroy_all()

    for step in steps:
        plain = {k: v for k, v in step.outputs.items() if not is_secret(v)}
        assert value not in dumps(plain) and password not in dumps(plain)
        blob = step.outputs[PROVIDER_KEY]
        assert value not in base64.b64decode(blob).decode("latin-1") and password not in blob
    assert value not in provider.stderr() and password not in provider.stderr()
    engine.destroy_all()


def test_secret_inputs_stay_secret_and_reach_the_plugin_unwrapped(engine: MiniEngine, provider: ProviderProcess,
                                                                  api: Api, unique) -> None:
    key = unique("sec")
    d = declared("secret", key, {"key": key, "value": "wrapped-value"})
    assert is_secret(d.inputs["value"])
    step = engine.up(d.urn, d.inputs, additional_secret_outputs=())
    # The engine re-marks the output of a secret input (annotateSecrets), aso or not.
    assert is_secret(step.outputs["value"]) and is_secret(engine.state[d.urn].inputs["value"])
    assert api.kv(key, secure=True) == "wrapped-value"  # the plugin got the plain value, not a wrapper
    engine.destroy(d.urn)


# ---- errors -------------------------------------------------------------------------------


def test_check_failures_name_each_field(provider: ProviderProcess) -> None:
    d = declared("user", "bad", {"name": "bad", "email": "not-an-email", "system": "maybe", "colour": "red"})
    result = provider.check(d.urn, {}, d.inputs)
    failures = dict(result.failures)
    assert set(failures) == {"email", "system", "colour"}
    assert "not a valid email" in failures["email"] and "'not-an-email'" in failures["email"]
    assert failures["system"] == "system: expected true or false; found the string 'maybe'"
    assert "unknown field 'colour'" in failures["colour"]
    kv = declared("kv", "bad", {"key": "k", "environment": "staging"})
    failures = dict(provider.check(kv.urn, {}, kv.inputs).failures)
    assert set(failures) == {"environment", "value"}
    assert failures["environment"] == "environment: expected one of 'dev', 'pre', 'prod'; found the string 'staging'"
    assert failures["value"] == "value: required field missing: expected a string"


def test_a_rejected_create_surfaces_the_platform_message(engine: MiniEngine, provider: ProviderProcess, api: Api,
                                                         unique) -> None:
    key = unique("rej")
    d = declared("kv", key, {"key": key, "value": "v", "acl": {"read": {"users": ["no-such-user"]}}})
    with pytest.raises(ProviderError) as failed:
        engine.up(d.urn, d.inputs)
    assert failed.value.method == "Create" and failed.value.code == grpc.StatusCode.UNKNOWN
    assert "Unknown user 'no-such-user' in ACL" in failed.value.details
    assert "HTTP 400" in failed.value.details and "Traceback" in failed.value.details
    assert d.urn not in engine.state
    m = declared("group_membership", "m", {"group": unique("nogroup"), "user": "admin"})
    with pytest.raises(ProviderError) as failed:
        engine.up(m.urn, m.inputs)
    assert "not found" in failed.value.details
    api.rm_kv(key)  # the value was written before the ACL was refused


# ---- numbers ------------------------------------------------------------------------------


def test_numbers_arrive_as_floats_and_are_coerced(engine: MiniEngine, provider: ProviderProcess, api: Api,
                                                  unique) -> None:
    name = unique("fl")
    # Booleans stay booleans on the wire; a number given for one is refused, as the CLI refuses
    # `system = 0` in a stack (the schemas coerce nothing).
    numbers = declared("user", name, {"name": name, "email": "fl@example.com", "system": 0, "enabled": 1})
    failures = dict(provider.check(numbers.urn, {}, numbers.inputs).failures)
    assert failures == {"system": "system: expected true or false; found the integer 0",
                        "enabled": "enabled: expected true or false; found the integer 1"}
    d = declared("user", name, {"name": name, "email": "fl@example.com", "system": False, "enabled": True})
    step = engine.up(d.urn, d.inputs)
    live = api.user(name)
    assert live["is_system"] is False and live["disabled"] is False
    # The numeric platform id comes back as a float; olds carrying it diff and read cleanly.
    assert isinstance(step.outputs["platform_id"], float) and step.outputs["platform_id"] == live["user_id"]
    state = engine.state[d.urn]
    assert engine.up(d.urn, d.inputs).op == "same"
    assert provider.diff(state.id, d.urn, state.outputs, provider.check(d.urn, state.inputs, d.inputs).inputs,
                         state.inputs).changes == "none"
    assert engine.refresh(d.urn).op == "refresh-same"
    disable = declared("user", name, {"name": name, "email": "fl@example.com", "system": False, "enabled": False})
    assert engine.up(d.urn, disable.inputs).op == "update"
    assert api.user(name)["disabled"] is True
    engine.destroy(d.urn)


# ---- the plugin's imports -----------------------------------------------------------------


def test_plugin_imports_platforge_from_a_clean_cwd(module_sandbox, api: Api, tmp_path, unique) -> None:
    """The engine runs the plugin in the program dir; ours must not rely on it (nor on PYTHONPATH)."""
    clean = tmp_path / "clean"
    clean.mkdir()
    probe_dir = tmp_path / "elsewhere"
    probe_dir.mkdir()
    (probe_dir / "probe_provider_mod.py").write_text(textwrap.dedent("""
        from pulumi.dynamic import ResourceProvider
        class Probe(ResourceProvider):
            serialize_as_secret_always = False
    """))
    sys.path.insert(0, str(probe_dir))
    try:
        import probe_provider_mod

        probe_blob = serialize_like_sdk(probe_provider_mod.Probe())
    finally:
        sys.path.remove(str(probe_dir))
        sys.modules.pop("probe_provider_mod", None)
    with ProviderProcess(clean, project=PROJECT, env={"PYTHONPATH": None}) as process:
        process.configure({"platforge:endpoint": module_sandbox.url, "platforge:username": module_sandbox.admin_user,
                           "platforge:password": module_sandbox.admin_password}, {"platforge:password"})
        engine = MiniEngine(process)
        group = unique("clean")
        d = declared("group", group, {"name": group})
        assert engine.up(d.urn, d.inputs).op == "create"
        assert api.group(group) is not None
        engine.destroy(d.urn)
        # Control: a provider pickled by reference to a module the plugin cannot import fails Check.
        with pytest.raises(ProviderError) as failed:
            process.check(urn_of("probe"), {}, {PROVIDER_KEY: probe_blob})
        assert "No module named 'probe_provider_mod'" in failed.value.details
        assert "No module named 'platforge" not in process.stderr()
