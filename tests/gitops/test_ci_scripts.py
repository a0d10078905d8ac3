"""The ci/ scripts end to end against a Datatailr sandbox, as the workflows run them: plan
(exit 2, the comment written), apply of the saved plan, a second plan (exit 0), drift (exit 0
and an HTML page), an out-of-band change (drift exit 2, the page still written), a stale saved
plan refused, errors as exit 1 with a comment saying why."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import WAREHOUSE_PASSWORD, GitOpsRepo


def test_pull_request_merge_and_nightly_drift(repo: GitOpsRepo) -> None:
    # A pull request: changes are exit 2, the comment and the saved plan are written.
    plan = repo.run("plan.sh", "dev", env=repo.summary_env())
    assert plan.returncode == 2, plan.stderr
    comment = repo.out("plan-dev.md").read_text(encoding="utf-8")
    assert "<!-- platforge:plan:gitops-dev -->" in comment
    assert "7 to create" in comment and "user.etl-dev" in comment and "kv.warehouse-url" in comment
    assert WAREHOUSE_PASSWORD not in comment + repo.out("plan-dev.json").read_text()
    saved = json.loads(repo.out("plan-dev.json").read_text())
    assert saved["target"] == {"platform": "datatailr", "endpoint": repo.sandbox.url, "environment": "dev",
                              "stack": "gitops-dev"}  # $PLATFORGE_ENDPOINT, not the TOML's example.com
    assert repo.outputs()["changes"] == "true"
    assert "7 to create" in repo.step_summary.read_text()

    # The merge: apply exactly the saved plan.
    applied = repo.run("apply.sh", "dev")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete: 7 applied." in applied.stdout
    dt = repo.client()
    users = {u.user_id: u.name for u in dt.users.ls()}
    assert {"etl-dev", "reporting-dev"} <= set(users.values())
    members = {g.name: {users[i] for i in g.members} for g in dt.groups.ls()}
    assert members["analytics-dev-readers"] == {"etl-dev", "reporting-dev"}
    assert members["analytics-dev-writers"] == {"etl-dev"}
    assert dt.kv.get("analytics/warehouse/url", environment="dev") == "postgres://warehouse.dev.internal:5432/analytics"
    assert dt.kv.get("analytics/feature-flags", environment="dev") == '{"new_dashboard": true}'
    assert dt.secrets.get("analytics/warehouse/password", environment="dev").get_secret_value() == WAREHOUSE_PASSWORD
    # The state is on the platform, under the stack's name: no local state in the repository.
    assert not list(repo.root.rglob(".platforge"))
    assert any("platforge/stacks/gitops-dev/state.json" in str(b) for b in dt.blobs.ls("platforge/stacks/gitops-dev/"))

    # The next pull request: nothing to do.
    replan = repo.run("plan.sh", "dev")
    assert replan.returncode == 0, replan.stderr
    assert repo.outputs()["changes"] == "false"

    # Someone changes a managed value and rotates the secret on the platform: the nightly drift
    # fails (2), and the page and the job summary are still written, naming both.
    dt.kv.put("analytics/warehouse/url", "postgres://elsewhere:5432/x", environment="dev")
    dt.secrets.put("analytics/warehouse/password", "rotated-by-someone", environment="dev")
    logins = _logins(repo)
    drifted = repo.run("drift.sh", "dev", env=repo.summary_env())
    assert drifted.returncode == 2, drifted.stderr
    assert _logins(repo) == logins + 1  # the page and the summary come from one drift run
    page = repo.out("drift-dev.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "gitops-dev" in page
    assert "kv.warehouse-url" in page and "secret.warehouse-password" in page and "out_of_band" in page
    summary = repo.out("drift-dev.md").read_text()
    assert "<!-- platforge:drift:gitops-dev -->" in summary and "kv.warehouse-url" in summary
    assert "secret.warehouse-password" in repo.step_summary.read_text()
    assert WAREHOUSE_PASSWORD not in page + summary and "rotated-by-someone" not in page + summary

    # A plain plan trusts the fingerprints the last apply recorded, so putting the secret back
    # is an apply with refreshed secrets, which the apply workflow runs by hand
    # (PLATFORGE_REFRESH_SECRETS=true: the saved plan records it, and its apply reads secrets too).
    refresh = {"PLATFORGE_REFRESH_SECRETS": "true"}
    plan = repo.run("plan.sh", "dev", env=refresh)
    assert plan.returncode == 2 and "2 to update" in repo.out("plan-dev.md").read_text()
    put_back = repo.run("apply.sh", "dev")  # the saved plan says to read secrets
    assert put_back.returncode == 0, put_back.stderr
    assert dt.secrets.get("analytics/warehouse/password", environment="dev").get_secret_value() == WAREHOUSE_PASSWORD
    assert dt.kv.get("analytics/warehouse/url", environment="dev") == "postgres://warehouse.dev.internal:5432/analytics"
    assert repo.run("plan.sh", "dev", env=refresh).returncode == 0  # in sync (the README walkthrough's drift says so too)


def test_a_saved_plan_gone_stale_is_refused(repo: GitOpsRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.apply_in_process("dev", monkeypatch)  # set-up: the stack applied once
    config = repo.root / "stacks" / "dev" / "config.toml"
    config.write_text(config.read_text().replace("warehouse.dev.internal", "warehouse-2.dev.internal"))
    assert repo.run("plan.sh", "dev").returncode == 2  # saves a plan updating the URL

    # The live object changes between the plan and the apply: refused, nothing written.
    dt = repo.client()
    dt.kv.put("analytics/warehouse/url", "postgres://someone-else:5432/x", environment="dev")
    before = repo.writes()
    stale = repo.run("apply.sh", "dev")
    assert stale.returncode == 1
    assert "stale" in stale.stderr and "live platform changed" in stale.stderr
    assert repo.writes() == before
    assert dt.kv.get("analytics/warehouse/url", environment="dev") == "postgres://someone-else:5432/x"

    # The declarations change after the plan: refused too.
    assert repo.run("plan.sh", "dev").returncode == 2
    config.write_text(config.read_text().replace("warehouse-2", "warehouse-3"))
    stale = repo.run("apply.sh", "dev")
    assert stale.returncode == 1 and "declarations changed" in stale.stderr
    assert repo.writes() == before


def test_errors_are_exit_1_and_the_comment_says_why(repo: GitOpsRepo) -> None:
    repo.env.pop("WAREHOUSE_PASSWORD")
    plan = repo.run("plan.sh", "--changes-ok", "dev")
    assert plan.returncode == 1  # --changes-ok never hides an error
    assert repo.outputs()["changes"] == "error"
    body = repo.out("plan-dev.md").read_text()
    assert body.startswith("### platforge plan failed for <code>dev</code>")
    assert "WAREHOUSE_PASSWORD is not set" in body
    assert not repo.out("plan-dev.json").exists()

    drift = repo.run("drift.sh", "dev", env=repo.summary_env())
    assert drift.returncode == 1
    assert "WAREHOUSE_PASSWORD is not set" in repo.out("drift-dev.md").read_text()

    # apply.sh applies a saved plan and nothing else.
    missing = repo.run("apply.sh", "prod")
    assert missing.returncode == 1 and "run ci/plan.sh prod first" in missing.stderr
    assert repo.writes() == {}


def test_a_stack_name_is_checked_before_use(offline_repo: GitOpsRepo) -> None:
    """Matrix values are not trusted: a name that is not a stack directory is refused before
    platforge runs or a file is written."""
    repo = offline_repo
    for name in ("../dev", "dev/../prod", "-x", "nope", "a b", "$(touch x)", ""):
        for script in ("plan.sh", "apply.sh", "drift.sh"):
            result = repo.run(script, name)
            assert result.returncode == 1, (script, name)
            assert re.search(r"not a stack name|no stack", result.stderr), result.stderr
    assert not (repo.root / "out").exists() and not (repo.root / "x").exists()
    usage = repo.run("plan.sh")
    assert usage.returncode == 1 and "usage: ci/plan.sh" in usage.stderr


HOSTED, STATE_RUNNER = ["ubuntu-latest"], ["self-hosted", "platforge-state"]


def test_discover_lists_the_stacks_as_a_matrix(offline_repo: GitOpsRepo) -> None:
    """One object per stack for `matrix: include:`: its name, its [state] backend as platform.toml
    says (platforge's default, local, when it says nothing) and the runner that backend needs."""
    repo = offline_repo
    result = repo.run("discover.py")
    assert result.returncode == 0, result.stderr
    matrix = json.loads(result.stdout)
    assert matrix == [
        {"stack": "analytics-dataiku", "state": "local", "runner": STATE_RUNNER},
        {"stack": "dev", "state": "platform", "runner": HOSTED},
        {"stack": "ml-studio", "state": "local", "runner": STATE_RUNNER},
        {"stack": "prod", "state": "platform", "runner": HOSTED},
        {"stack": "retail-tailer", "state": "local", "runner": STATE_RUNNER},
        {"stack": "vision-dataloop", "state": "local", "runner": STATE_RUNNER},
    ]
    assert json.loads(repo.outputs()["stacks"]) == matrix and "\n" not in repo.outputs()["stacks"]

    stacks = repo.root / "stacks"
    for name, body in (("staging", '[state]\nbackend = "platform"\n'), ("bare", "")):
        (stacks / name).mkdir()
        (stacks / name / "platform.toml").write_text(body)
    (stacks / "notes").mkdir()  # no platform.toml: not a stack
    found = {m["stack"]: (m["state"], m["runner"]) for m in json.loads(repo.run("discover.py").stdout)}
    assert found["staging"] == ("platform", HOSTED) and found["bare"] == ("local", STATE_RUNNER)
    assert "notes" not in found
    labels = repo.run("discover.py", env={"PLATFORGE_STATE_RUNNER": "self-hosted, linux, platforge-state"})
    assert json.loads(labels.stdout)[0]["runner"] == ["self-hosted", "linux", "platforge-state"]

    (stacks / "bare" / "platform.toml").write_text('[state]\nbackend = "s3"\n')  # never guessed
    wrong = repo.run("discover.py")
    assert wrong.returncode == 1 and "bare" in wrong.stderr and "backend" in wrong.stderr
    (stacks / "bare" / "platform.toml").write_text("[state\n")
    broken = repo.run("discover.py")
    assert broken.returncode == 1 and "bare" in broken.stderr
    (stacks / "bare" / "platform.toml").unlink()
    (stacks / "bad name;rm").mkdir()
    (stacks / "bad name;rm" / "platform.toml").write_text("")
    bad = repo.run("discover.py")
    assert bad.returncode == 1 and "bad name;rm" in bad.stderr


def _logins(repo: GitOpsRepo) -> int:
    """Sign-ins in the sandbox's access log: one per platforge run."""
    with open(repo.sandbox.access_log, encoding="utf-8") as fh:
        return sum(1 for line in fh if json.loads(line).get("path") == "/login")
