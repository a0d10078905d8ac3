"""The GitOps front door end to end against the sandbox: exit codes, idempotence measured in
the sandbox's access log, saved plans, Markdown comments, and secrets kept out of every output."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import SECRET_MARKER


def test_exit_codes_plan_apply_drift(world):
    stack = world.quickstart()
    first = world.cli("plan", stack)
    assert first.exit_code == 2, first.stdout + first.stderr
    assert "14 to create" in first.stdout

    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    again = world.cli("plan", stack)
    assert again.exit_code == 0 and "No changes" in again.stdout
    assert world.cli("drift", stack).exit_code == 0

    (stack / "broken.toml").write_text("[user.zed\n")
    for command in (("plan", stack), ("apply", stack, "--yes"), ("drift", stack)):
        result = world.cli(*command)
        assert result.exit_code == 1 and "invalid TOML" in result.stderr and "broken.toml" in result.stderr


def test_second_apply_makes_zero_writes(world):
    stack = world.quickstart()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    writes_first = world.writes_since(0)
    assert len(writes_first) >= 12
    mark = world.mark()
    second = world.cli("apply", stack, "--yes")
    assert second.exit_code == 0
    assert world.writes_since(mark) == []
    reads = [r for r in world.log_lines()[mark:] if r["method"] == "GET"]
    # Live state comes from list calls (one per kind per page), plus one read per managed secret.
    per_object_gets = [r for r in reads if r["path"] in ("/api/user/get", "/api/group/get")]
    assert per_object_gets == []


def test_apply_without_yes_refuses_off_a_terminal(world):
    stack = world.quickstart()
    mark = world.mark()
    result = world.cli("apply", stack)
    assert result.exit_code == 1
    assert "--yes" in result.stderr
    assert world.writes_since(mark) == []


def test_saved_plan_applies_and_a_stale_one_is_refused(world, tmp_path):
    stack = world.quickstart()
    plan_file = tmp_path / "plan.json"
    assert world.cli("plan", stack, "--out", plan_file).exit_code == 2
    assert json.loads(plan_file.read_text())["format"] == "platforge.plan/v2"
    assert world.cli("apply", stack, "--plan", plan_file, "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0

    # A plan is made, then a managed object changes on the platform: the plan is refused.
    (stack / "extra.toml").write_text('[group.late]\n')
    assert world.cli("plan", stack, "--out", plan_file).exit_code == 2
    import httpx

    with httpx.Client(base_url=world.sandbox.url) as http:
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password))
        # An unrelated, unmanaged object does not make the plan stale ...
        assert http.post("/api/group/add", json={"group_name": "intruder"}).status_code == 200
        unrelated = world.cli("apply", stack, "--plan", plan_file, "--yes")
        assert unrelated.exit_code == 0, unrelated.stderr
        assert world.cli("plan", stack, "--out", plan_file).exit_code == 0
        (stack / "extra.toml").write_text('[group.later]\n')
        assert world.cli("plan", stack, "--out", plan_file).exit_code == 2
        # ... but a change to a managed object does.
        modified = http.put("/api/user/modify", json={"username": "alice", "email": "oob@example.com"})
        assert modified.status_code == 200
    mark = world.mark()
    stale = world.cli("apply", stack, "--plan", plan_file, "--yes")
    assert stale.exit_code == 1 and "stale" in stale.stderr
    assert world.writes_since(mark) == []


def test_markdown_comment_is_written_and_bounded(world, tmp_path):
    stack = world.quickstart()
    md = tmp_path / "plan.md"
    assert world.cli("plan", stack, "--markdown", md).exit_code == 2
    text = md.read_text()
    assert len(text) <= 65536 and "user.alice" in text and "<!--" in text


def test_secret_marker_never_leaves_the_process(world, tmp_path):
    stack = world.quickstart()
    outputs = []
    plan_file, md = tmp_path / "p.json", tmp_path / "p.md"
    outputs.append(world.cli("plan", stack, "--out", plan_file, "--markdown", md))
    outputs.append(world.cli("apply", stack, "--yes"))
    outputs.append(world.cli("plan", stack, "--json"))
    for fmt in ("text", "json", "markdown", "html"):
        outputs.append(world.cli("drift", stack, "--format", fmt))
    texts = [o.stdout + o.stderr for o in outputs]
    texts += [plan_file.read_text(), md.read_text(), Path(world.sandbox.access_log).read_text()]
    texts += [p.read_text() for p in (stack / ".platforge").iterdir() if p.suffix == ".json"]
    for text in texts:
        assert SECRET_MARKER not in text
    state = json.loads((stack / ".platforge/state.json").read_text())
    secret = state["resources"]["secret.warehouse-password-dev"]
    assert secret["applied"]["value"] == {"from_env": "QUICKSTART_WAREHOUSE_PASSWORD_DEV"}
    assert secret["fingerprints"]["value"].startswith("hmac-sha256:")


def test_drift_reports_are_written_to_files(world, tmp_path):
    stack = world.quickstart()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    for fmt, check in (("text", "No drift"), ("json", '"drifted": false'), ("markdown", "<!--"), ("html", "<!DOCTYPE html>")):
        target = tmp_path / f"drift.{fmt}"
        result = world.cli("drift", stack, "--format", fmt, "--output", target)
        assert result.exit_code == 0 and result.stdout == ""
        assert check in target.read_text()


def test_a_saved_plan_made_with_refresh_secrets_is_applied_with_it(world, tmp_path):
    """A secret rotated on the platform is seen only by a plan that reads secret values
    (`--refresh-secrets`). The saved plan records that it did, so `apply --plan` reads them too:
    it used to plan without them, saw no change, and refused the saved plan as stale."""
    import httpx

    stack = world.quickstart()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    with httpx.Client(base_url=world.sandbox.url) as http:
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password)).raise_for_status()
        http.put("/api/kv/put", json={"key": "warehouse/password", "value": "rotated-by-hand", "secure": True,
                                      "environment": "dev"}).raise_for_status()
    plan_file = tmp_path / "plan.json"
    assert world.cli("plan", stack, "--out", plan_file).exit_code == 0  # the fingerprints say nothing changed
    assert world.cli("plan", stack, "--refresh-secrets", "--out", plan_file).exit_code == 2
    saved = json.loads(plan_file.read_text())
    assert saved["refresh_secrets"] is True
    assert [a["address"] for a in saved["actions"] if a["op"] == "update"] == ["secret.warehouse-password-dev"]
    applied = world.cli("apply", stack, "--plan", plan_file, "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert world.cli("plan", stack, "--refresh-secrets").exit_code == 0  # the stack's value is back


def test_a_stale_saved_plan_is_refused_before_any_plan_is_shown(world, tmp_path):
    stack = world.quickstart()
    plan_file = tmp_path / "plan.json"
    assert world.cli("plan", stack, "--out", plan_file).exit_code == 2
    assert world.cli("apply", stack, "--yes").exit_code == 0  # another run applied it meanwhile
    stale = world.cli("apply", stack, "--plan", plan_file, "--yes")
    assert stale.exit_code == 1 and "stale" in stale.stderr
    assert stale.stdout == ""  # no "No changes" above the refusal


def test_the_endpoint_can_come_from_the_environment(world, monkeypatch):
    """`PLATFORGE_ENDPOINT` stands for `--endpoint` (a CI job pointed at a sandbox)."""
    stack = world.quickstart()
    platform = stack / "platform.toml"
    platform.write_text(platform.read_text().replace(world.sandbox.url, "http://127.0.0.1:9"), encoding="utf-8")
    assert world.cli("plan", stack).exit_code == 1  # nothing listens there
    monkeypatch.setenv("PLATFORGE_ENDPOINT", world.sandbox.url)
    assert world.cli("plan", stack).exit_code == 2


def test_a_local_state_path_may_name_the_runners_state_directory(world, monkeypatch, tmp_path):
    """`[state] path = "${VAR}/..."`: a CI runner's persistent directory, set per machine; an
    unset variable is a stack problem with the file and line, before any request."""
    keep = tmp_path / "runner-state"
    stack = world.stack('[group.ops]\n', state='[state]\nbackend = "local"\npath = "${PLATFORGE_TEST_STATE_DIR}/ops.json"\n')
    monkeypatch.delenv("PLATFORGE_TEST_STATE_DIR", raising=False)
    mark = world.mark()
    unset = world.cli("plan", stack)
    line = next(n for n, text in enumerate((stack / "main.toml").read_text().splitlines(), 1) if text.startswith("path ="))
    assert unset.exit_code == 1 and f"main.toml:{line} [state.path]" in unset.stderr, unset.stderr
    assert "PLATFORGE_TEST_STATE_DIR" in unset.stderr and world.log_lines()[mark:] == []
    monkeypatch.setenv("PLATFORGE_TEST_STATE_DIR", str(keep))
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert (keep / "ops.json").is_file() and not (stack / ".platforge" / "state.json").exists()
    assert world.cli("plan", stack).exit_code == 0
