"""Out-of-band changes made with the vendor's own SDK (`datatailr==0.2.3`) are all detected, each
under its cause; pruning only ever touches objects the stack owns."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.datatailr.sdk.harness import SdkEnv


@pytest.mark.sdk
def test_vendor_sdk_changes_are_detected_by_cause(world, sdk_toolchain, tmp_path):
    stack = world.quickstart()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("drift", stack).exit_code == 0

    sdk = SdkEnv(sdk_toolchain, world.sandbox.url, world.sandbox.admin_user, world.sandbox.admin_password,
                 tmp_path / "sdk").prepare()
    sdk.run("""
from datatailr import Group, KV, User
Group("analysts").add_users(["bob"])         # out of band: bob's groups (managed field)
User.remove("carol")                          # missing: owned by the stack
Group.add("rogue-team")                       # unmanaged: never owned
KV().put("warehouse/url", "postgres://elsewhere/db")   # out of band: a managed value (dev)
KV().delete("feature-flags")                  # missing
emit("done")
""")
    with httpx.Client(base_url=world.sandbox.url) as http:  # the SDK cannot write secrets
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password))
        assert http.put("/api/kv/put", json={"key": "warehouse/password", "value": "rotated-by-hand",
                                             "secure": True, "environment": "prod"}).status_code == 200

    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert found == {
        ("out_of_band", "user.bob"),
        ("out_of_band", "kv.warehouse-url-dev"),
        ("out_of_band", "secret.warehouse-password-prod"),
        ("missing", "user.carol"),
        ("missing", "kv.feature-flags"),
        ("unmanaged", "group.rogue-team"),
        ("out_of_band", "group.oncall"),  # carol was one of its declared members
    }
    by_address = {f["address"]: f for f in report["findings"] if f["cause"] == "out_of_band"}
    assert by_address["secret.warehouse-password-prod"]["detection"] == "fingerprint"
    assert report["secret_detection"].startswith("fingerprint")
    bob = {c["path"]: c for c in by_address["user.bob"]["changes"]}
    assert bob["groups"]["old"] == ["dtusers", "engineers"] and "analysts" in bob["groups"]["new"]
    url = by_address["kv.warehouse-url-dev"]["changes"][0]
    assert (url["old"], url["new"]) == ("postgres://warehouse.dev.internal:5432/analytics", "postgres://elsewhere/db")

    # A plan trusts the recorded fingerprints (no secret is read); --refresh-secrets reads them
    # and puts the rotated one back. Drift is then clean apart from the object it must never touch.
    assert world.cli("apply", stack, "--yes", "--refresh-secrets").exit_code == 0
    after = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {(f["cause"], f["address"]) for f in after["findings"]} == {("unmanaged", "group.rogue-team")}


def test_prune_only_touches_owned_objects(world):
    stack = world.stack("""
    [group.keep]
    [group.drop]
    [kv.drop-me]
    value = "x"
    [kv.keep-me]
    value = "y"
    """)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    with httpx.Client(base_url=world.sandbox.url) as http:
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password))
        http.post("/api/group/add", json={"group_name": "theirs"})
        http.put("/api/kv/put", json={"key": "their-key", "value": "z"})
    (stack / "main.toml").write_text((stack / "main.toml").read_text()
                                      .replace("[group.drop]\n", "").replace('[kv.drop-me]\nvalue = "x"\n', ""))

    without = world.cli("plan", stack, "--json")
    plan = json.loads(without.stdout)
    assert sorted(plan["orphans"]) == ["group.drop", "kv.drop-me"]
    assert not [a for a in plan["actions"] if a["op"] == "delete"]
    assert world.cli("apply", stack, "--yes").exit_code == 0

    mark = world.mark()
    pruned = world.cli("apply", stack, "--yes", "--prune")
    assert pruned.exit_code == 0, pruned.stderr
    deleted = {(w["method"], w["path"]) for w in world.writes_since(mark)}
    assert deleted == {("DELETE", "/api/group/rm"), ("DELETE", "/api/kv/rm")}
    with httpx.Client(base_url=world.sandbox.url) as http:
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password))
        groups = {g["name"] for g in http.get("/api/group/ls", params={"json": "True"}).json()["result"]}
        keys = {i["key"] for i in http.get("/api/kv/ls", params={"json": "True"}).json()["result"]["items"]}
    assert {"keep", "theirs"} <= groups and "drop" not in groups
    assert keys == {"keep-me", "their-key"}
    assert world.cli("plan", stack, "--prune").exit_code == 0


def test_deleting_users_and_groups_is_prominent(world):
    stack = world.stack('[group.team]\n[user.dora]\nemail = "dora@example.com"\ngroups = ["team"]\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    (stack / "main.toml").write_text((stack / "main.toml").read_text().split("[group.team]")[0] + "[kv.x]\nvalue = \"1\"\n")
    plan = world.cli("plan", stack, "--prune")
    assert plan.exit_code == 2
    text = plan.stdout
    assert "user.dora" in text and "group.team" in text
    assert "WARNING" in text.upper() or "destroy" in text.lower()
    document = json.loads(world.cli("plan", stack, "--prune", "--json").stdout)
    deletes = [a for a in document["actions"] if a["op"] == "delete"]
    assert [a["address"] for a in deletes] == ["user.dora", "group.team"]  # reverse order
    assert all(a["destructive"] for a in deletes)


def test_a_plan_reads_no_secret_drift_and_refresh_read_each(world, monkeypatch):
    """Secrets are read live only when something needs them: drift, `plan --refresh-secrets`,
    or an object with no recorded fingerprint. A declared change is planned from the record."""
    monkeypatch.setenv("POLICY_SECRET", "one")
    stack = world.stack("".join(f'[secret.s{n}]\nvalue = {{ from_env = "POLICY_SECRET" }}\n' for n in range(5)))
    assert world.cli("apply", stack, "--yes").exit_code == 0

    def secret_reads(*command):
        mark = world.mark()
        code = world.cli(*command).exit_code
        return code, sum(1 for r in world.log_lines()[mark:] if r["path"] == "/api/kv/get")

    assert secret_reads("plan", stack) == (0, 0)
    assert secret_reads("plan", stack, "--refresh-secrets") == (0, 5)
    assert secret_reads("drift", stack) == (0, 5)
    monkeypatch.setenv("POLICY_SECRET", "two")  # a declared change: found without reading
    assert secret_reads("plan", stack) == (2, 0)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    with httpx.Client(base_url=world.sandbox.url) as http:  # rotated behind the stack's back
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password))
        assert http.put("/api/kv/put", json={"key": "s0", "value": "three", "secure": True}).status_code == 200
    assert secret_reads("plan", stack) == (0, 0)
    assert secret_reads("drift", stack)[0] == 2
    assert secret_reads("plan", stack, "--refresh-secrets")[0] == 2
