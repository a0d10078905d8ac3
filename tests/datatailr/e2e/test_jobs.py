"""Datatailr jobs end to end against the sandbox: workflows with schedules, services, apps and
Excel add-ins saved only when needed, changed in place where the platform allows, promoted dev →
pre → prod, and every out-of-band change found under its cause."""

from __future__ import annotations

import json

import pytest

JOBS = """
[user.svc-pricing]
email = "svc@example.com"
[group.analysts]

[service.price-server]
display_name = "Price Server"
entrypoint = "pricing.server:main"
memory = "256m"
cpus = 0.5
env = { MODE = "fast" }
state = "running"
[service.price-server.image]
python_version = "3.12"
requirements = ["flask"]
[service.price-server.acl]
read = { groups = ["analysts"] }
write = { users = ["svc-pricing"] }

[app.dashboard]
entrypoint = "dash.app:main"
framework = "streamlit"
app_section = "analytics"
memory = "1g"
cpus = 1
state = "running"

[excel_addin.pricer]
entrypoint = "pricing.excel:addin"

[workflow.nightly]
display_name = "Nightly ETL"
state = "scheduled"
memory = "512m"
[workflow.nightly.schedule]
at_hours = [8, 16]
weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"]
timezone = "Europe/Berlin"
[workflow.nightly.tasks.extract]
entrypoint = "etl.tasks:extract"
env = { SOURCE = "s3" }
[workflow.nightly.tasks.load]
entrypoint = "etl.tasks:load"
depends_on = ["extract"]
memory = "2g"

[promotion.price-server]
job = "service.price-server"
pre = "promoted"
prod = "promoted"
"""


def saves(world, mark):
    return [r for r in world.writes_since(mark) if r["path"] == "/api/job/save"]


def plan_json(world, stack, *args):
    result = world.cli("plan", stack, "--json", *args)
    assert result.exit_code in (0, 2), result.stderr
    return json.loads(result.stdout)


def test_jobs_apply_then_plan_is_empty_and_a_second_apply_writes_nothing(world):
    stack = world.stack(JOBS)
    first = world.cli("apply", stack, "--yes")
    assert first.exit_code == 0, first.stdout + first.stderr
    plan = world.cli("plan", stack)
    assert plan.exit_code == 0, plan.stdout
    mark = world.mark()
    again = world.cli("apply", stack, "--yes")
    assert again.exit_code == 0
    assert world.writes_since(mark) == []


@pytest.fixture
def applied(world):
    stack = world.stack(JOBS)
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    return stack


def edit(stack, old, new):
    main = stack / "main.toml"
    text = main.read_text()
    assert old in text
    main.write_text(text.replace(old, new, 1))


def action_of(plan, address):
    return next(a for a in plan["actions"] if a["address"] == address)


def versions(world, name, env="dev"):
    return world.sandbox_client().jobs.versions(name, environment=env)


# (description, old, new, address, op, changed top-level fields)
JOB_MATRIX = [
    ("memory in place", 'memory = "256m"', 'memory = "512m"', "service.price-server", "update", ["memory"]),
    ("same memory other spelling", 'memory = "256m"', "memory = 268435456", "service.price-server", "no-op", []),
    ("cpus in place", "cpus = 0.5", "cpus = 0.75", "service.price-server", "update", ["cpus"]),
    ("display name in place", 'display_name = "Price Server"', 'display_name = "PRICE  server"',
     "service.price-server", "update", ["display_name"]),
    ("acl in place", 'read = { groups = ["analysts"] }', 'read = { groups = ["analysts"], users = ["svc-pricing"] }',
     "service.price-server", "update", ["acl"]),
    ("entrypoint is a new version", 'entrypoint = "pricing.server:main"', 'entrypoint = "pricing.server:serve"',
     "service.price-server", "save", ["entrypoint"]),
    ("env is a new version", 'env = { MODE = "fast" }', 'env = { MODE = "slow" }', "service.price-server", "save",
     ["env"]),
    ("requirements are a new version", 'requirements = ["flask"]', 'requirements = ["flask", "numpy"]',
     "service.price-server", "save", ["image"]),
    ("stopping a service", 'cpus = 0.5\nenv = { MODE = "fast" }\nstate = "running"',
     'cpus = 0.5\nenv = { MODE = "fast" }\nstate = "stopped"', "service.price-server", "update", ["state"]),
    ("run-as in place", "cpus = 0.5\n", 'cpus = 0.5\nrun_as = "svc-pricing"\n', "service.price-server", "update",
     ["run_as"]),
    ("app section in place", 'app_section = "analytics"', 'app_section = "risk"', "app.dashboard", "update",
     ["app_section"]),
    ("framework is a new version", 'framework = "streamlit"', 'framework = "dash"', "app.dashboard", "save",
     ["framework"]),
    ("schedule in place", "at_hours = [8, 16]", "at_hours = [9, 17]", "workflow.nightly", "update", ["schedule"]),
    ("same schedule as raw cron", 'at_hours = [8, 16]\nweekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"]',
     'cron = "0 0 8,16 * * 1,2,3,4,5"', "workflow.nightly", "no-op", []),
    ("same schedule, long weekday names", 'weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"]',
     'weekdays = ["monday", "TUESDAY", "Wednesday", "thu", "fri"]', "workflow.nightly", "no-op", []),
    ("timezone is a new version", 'timezone = "Europe/Berlin"', 'timezone = "Europe/London"', "workflow.nightly",
     "save", ["timezone"]),
    ("a task's entrypoint is a new version", 'entrypoint = "etl.tasks:load"', 'entrypoint = "etl.tasks:load2"',
     "workflow.nightly", "save", ["tasks"]),
]


@pytest.mark.parametrize("case", JOB_MATRIX, ids=[c[0] for c in JOB_MATRIX])
def test_job_field_matrix_then_converge_with_the_versions_it_says(world, applied, case):
    _, old, new, address, op, fields = case
    name = {"service.price-server": "price-server", "app.dashboard": "dashboard",
            "workflow.nightly": "nightly-etl"}[address]
    before = versions(world, name)
    edit(applied, old, new)
    plan = plan_json(world, applied)
    action = action_of(plan, address)
    assert action["op"] == op, action
    assert sorted({c["path"].split(".")[0] for c in action["changes"]}) == fields
    assert all(c.get("new_version", False) == (op == "save") for c in action["changes"]), action["changes"]
    others = [a["address"] for a in plan["actions"] if a["op"] != "no-op" and a["address"] != address]
    # a new version of the promoted service moves pre and prod along ("promoted")
    assert others == (["promotion.price-server"] if op == "save" and address == "service.price-server" else [])
    mark = world.mark()
    result = world.cli("apply", applied, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    expected_saves = 1 if op == "save" else 0
    assert len(saves(world, mark)) == expected_saves
    assert len(versions(world, name)) == len(before) + expected_saves
    assert world.cli("plan", applied).exit_code == 0


def test_task_order_in_the_file_does_not_matter(world, applied):
    main = applied / "main.toml"
    text = main.read_text()
    extract = '[workflow.nightly.tasks.extract]\nentrypoint = "etl.tasks:extract"\nenv = { SOURCE = "s3" }\n'
    assert extract in text
    text = text.replace(extract, "")
    text = text.replace("[promotion.price-server]", extract + "\n[promotion.price-server]")
    main.write_text(text)
    assert world.cli("plan", applied).exit_code == 0


def drift_json(world, stack):
    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code in (0, 2), result.stderr
    return json.loads(result.stdout)


def finding(report, address):
    found = [f for f in report["findings"] if f["address"] == address]
    assert found, report["findings"]
    return found[0]


def test_out_of_band_changes_are_found_under_their_cause(world, applied):
    api = world.sandbox_client().jobs
    assert drift_json(world, applied)["drifted"] is False
    api.modify("nightly-etl", schedule="0 0 3 * * *")            # a schedule modified behind our back
    api.stop("price-server")                                      # a job stopped
    api.rm("dashboard", all_versions=True)                        # a job deleted
    raw = world.sandbox_client().call("GET", "job/get", {"job_name": "price-server", "json": True})[0]
    api.save({**raw, "entrypoint": "pricing.server:other"})      # a new version nobody declared
    report = drift_json(world, applied)
    assert report["drifted"] is True
    nightly = finding(report, "workflow.nightly")
    assert (nightly["cause"], nightly["detail"]) == ("out_of_band", "schedule changed")
    service = finding(report, "service.price-server")
    assert service["cause"] == "out_of_band"
    assert "job stopped" in service["detail"] and "entrypoint" in service["detail"], service
    assert finding(report, "app.dashboard")["cause"] == "missing"
    result = world.cli("apply", applied, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert world.cli("plan", applied).exit_code == 0
    assert api.get("price-server").state == "running"


def test_prod_promoted_to_another_version_is_drift_and_apply_puts_it_back(world, applied):
    api = world.sandbox_client().jobs
    edit(applied, 'entrypoint = "pricing.server:main"', 'entrypoint = "pricing.server:v2"')
    edit(applied, 'prod = "promoted"', "prod = 1")
    assert world.cli("apply", applied, "--yes").exit_code == 0
    assert (api.get("price-server", environment="pre").version, api.get("price-server", environment="prod").version) \
        == (2, 1)
    api.promote("price-server", 2, "pre")                          # someone promotes 2 to prod by hand
    report = drift_json(world, applied)
    promo = finding(report, "promotion.price-server")
    assert (promo["cause"], promo["detail"]) == ("out_of_band", "prod runs version 2, declared 1")
    plan = plan_json(world, applied)
    assert action_of(plan, "promotion.price-server")["op"] == "update"
    mark = world.mark()
    assert world.cli("apply", applied, "--yes").exit_code == 0
    # rolled back by soft-deleting version 2 in prod; nothing was saved
    writes = [(r["method"], r["path"]) for r in world.writes_since(mark)]
    assert writes == [("DELETE", "/api/job/rm")], writes
    assert api.get("price-server", environment="prod").version == 1
    assert api.versions("price-server", environment="prod") == [1]
    assert world.cli("plan", applied).exit_code == 0


def test_a_new_version_is_saved_built_and_promoted_in_one_apply(world, applied):
    api = world.sandbox_client().jobs
    edit(applied, 'requirements = ["flask"]', 'requirements = ["flask", "gunicorn"]')
    plan = plan_json(world, applied)
    promo = action_of(plan, "promotion.price-server")
    assert {c["path"]: c["new"] for c in promo["changes"]} == {"pre": "(known after apply)",
                                                                "prod": "(known after apply)"}
    assert action_of(plan, "service.price-server")["op"] == "save"
    assert world.cli("apply", applied, "--yes").exit_code == 0
    assert [api.get("price-server", environment=e).version for e in ("dev", "pre", "prod")] == [2, 2, 2]
    assert world.cli("plan", applied).exit_code == 0


def test_removing_a_promotion_deletes_in_prod_only_with_its_own_confirmation(world, applied):
    api = world.sandbox_client().jobs
    main = applied / "main.toml"
    text = main.read_text()
    main.write_text(text[:text.index("[promotion.price-server]")])
    plan = plan_json(world, applied, "--prune")
    delete = action_of(plan, "promotion.price-server")
    assert delete["op"] == "delete" and delete["confirm"] and delete["confirmed"] is False
    shown = world.cli("plan", applied, "--prune")
    assert "APPLY WILL REFUSE THIS PLAN" in shown.stdout and "--confirm-delete promotion.price-server" in shown.stdout
    mark = world.mark()
    refused = world.cli("apply", applied, "--yes", "--prune")
    assert refused.exit_code == 1
    assert "--confirm-delete promotion.price-server" in refused.stderr + refused.stdout
    assert world.writes_since(mark) == []
    assert api.get("price-server", environment="prod") is not None
    done = world.cli("apply", applied, "--yes", "--prune", "--confirm-delete", "promotion.price-server")
    assert done.exit_code == 0, done.stdout + done.stderr
    assert api.get("price-server", environment="prod") is None
    api.restore("price-server", environment="prod", all_versions=True)  # a soft delete: it can come back
    assert api.get("price-server", environment="prod").version == 1


def test_a_new_name_or_another_type_is_a_replace_shown_as_such(world, applied):
    api = world.sandbox_client().jobs
    edit(applied, 'display_name = "Nightly ETL"', 'display_name = "Nightly Load"')
    plan = plan_json(world, applied)
    action = action_of(plan, "workflow.nightly")
    assert action["op"] == "replace" and action["replaces"]["identity"] == ["nightly-etl"], action
    assert world.cli("apply", applied, "--yes").exit_code == 0
    assert api.get("nightly-etl") is None and api.get("nightly-load") is not None
    assert world.cli("plan", applied).exit_code == 0
    # the excel add-in becomes a service of the same name: the add-in is replaced, not left beside it
    edit(applied, "[excel_addin.pricer]", "[service.pricer]")
    plan = plan_json(world, applied)
    action = action_of(plan, "service.pricer")
    assert action["op"] == "replace" and action["replaces"]["address"] == "excel_addin.pricer", action
    assert plan["orphans"] == []
    assert world.cli("apply", applied, "--yes").exit_code == 0
    assert api.get("pricer").type == "service"
    assert world.cli("plan", applied).exit_code == 0


def test_apply_waits_for_the_build_and_reports_a_failed_one_with_its_log(sandbox_factory, tmp_path, monkeypatch):
    from .conftest import World

    world = World(sandbox_factory(access_log=True, build_seconds=0.6), tmp_path, monkeypatch)
    api = world.sandbox_client().jobs
    stack = world.stack(JOBS)
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    # started only once built (the sandbox refuses to start a version that is still building)
    assert api.get("price-server").state == "running"
    assert api.get("price-server", environment="prod").version == 1
    assert world.cli("plan", stack).exit_code == 0

    edit(stack, 'requirements = ["flask"]', 'requirements = ["flask", "platforge-sandbox:fail-build"]')
    failed = world.cli("apply", stack, "--yes")
    assert failed.exit_code == 1
    output = failed.stdout + failed.stderr
    assert "the build of job price-server version 2 failed" in output
    assert "No matching distribution found for platforge-sandbox:fail-build" in output
    # the promotion depended on that version: not attempted, pre and prod still run version 1
    assert [api.get("price-server", environment=e).version for e in ("pre", "prod")] == [1, 1]


def test_the_jobs_example_applies_promotes_to_prod_and_rebuilds_only_changed_code(world):
    import re
    import shutil

    from .conftest import REPO

    stack = world.tmp_path / "jobs"
    shutil.copytree(REPO / "examples" / "jobs", stack, ignore=shutil.ignore_patterns(".platforge", "__pycache__"))
    platform = stack / "platform.toml"
    platform.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{world.sandbox.url}"', platform.read_text()))
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    api = world.sandbox_client().jobs
    assert [api.get("nightly-prices", environment=e).version for e in ("dev", "pre", "prod")] == [1, 1, 1]
    assert api.get("nightly-prices").schedule == "0 30 6 * * 1,2,3,4,5"
    assert world.cli("plan", stack).exit_code == 0
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.writes_since(mark) == []

    # the same code, touched and copied afresh: the same bundle, so no version
    server = stack / "src" / "pricing" / "server.py"
    server.write_text(server.read_text())
    assert world.cli("plan", stack).exit_code == 0
    # changed code: a new version of both jobs built from it, promoted along; the workflow is untouched
    server.write_text(server.read_text() + "\n# v2\n")
    plan = plan_json(world, stack)
    changed = {a["address"]: a["op"] for a in plan["actions"] if a["op"] != "no-op"}
    assert changed == {"service.price-server": "save", "app.risk-dashboard": "save",
                       "promotion.price-server": "update"}, changed
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert len(saves(world, mark)) == 2
    assert [api.get("price-server", environment=e).version for e in ("dev", "pre", "prod")] == [2, 2, 2]
    assert world.cli("plan", stack).exit_code == 0


@pytest.mark.parametrize("seed", [3, 11])
def test_apply_under_faults_converges_with_no_extra_version(sandbox_factory, tmp_path, monkeypatch, seed):
    from .conftest import World

    world = World(sandbox_factory(access_log=True, error_rate=0.15, drop_rate=0.1, seed=seed), tmp_path, monkeypatch)
    stack = world.stack(JOBS)
    for _ in range(6):
        if world.cli("apply", stack, "--yes").exit_code == 0:
            break
    else:
        pytest.fail("apply did not converge under faults in 6 runs")
    assert world.cli("plan", stack).exit_code == 0
    # The platform's own count: one version per job, so no save landed twice. (The access log
    # cannot count landed saves: a dropped connection is logged with the 200 it promised.)
    api = world.sandbox_client().jobs
    assert [api.versions(n) for n in ("price-server", "dashboard", "pricer", "nightly-etl")] == [[1]] * 4


@pytest.mark.parametrize("killed_at", ["first save", "second save"])
def test_an_apply_killed_during_a_save_converges_with_no_extra_version(sandbox_factory, tmp_path, killed_at):
    """SIGKILL while a saved version builds (the apply is waiting to start it): the rerun finds
    the version on the platform and finishes it (builds, starts, promotes) without saving again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    box = sandbox_factory(access_log=True, build_seconds=1.5)
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "main.toml").write_text(
        f'[platform]\ntype = "datatailr"\nendpoint = "{box.url}"\n' + JOBS.split("[promotion.")[0]
        + '[promotion.price-server]\njob = "service.price-server"\npre = "promoted"\nprod = "promoted"\n')
    env = {**os.environ, "DATATAILR_USER_NAME": box.admin_user, "DATATAILR_USER_PASSWORD": box.admin_password}
    command = [sys.executable, "-m", "platforge", "apply", str(stack), "--yes", "--parallelism", "1"]

    def saved() -> int:
        with open(box.access_log, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        return sum(1 for r in records if r["path"] == "/api/job/save" and r["status"] == 200)

    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wanted = 1 if killed_at == "first save" else 2
    deadline = time.monotonic() + 60
    while saved() < wanted and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.02)
    assert saved() == wanted, "the apply never reached the save"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert saved() == 4  # one save per job in all: the killed run's save was not sent again
    check = subprocess.run([sys.executable, "-m", "platforge", "plan", str(stack)], env=env, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, check.stdout


def test_requirements_from_a_file_and_code_from_a_repository(world):
    stack = world.stack("""
[service.reqs]
entrypoint = "svc.main:run"
[service.reqs.image]
requirements_file = "requirements.txt"

[app.from-git]
entrypoint = "dash.app:main"
[app.from-git.image]
source = { repository = "https://git.example.com/team/dash.git", commit = "25b10656e5bc6c28fa33f420a61a30f466a8e45a", module = "dash" }
""")
    (stack / "requirements.txt").write_text("flask==3.0\nnumpy\n")
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    raw = world.sandbox_client().call("GET", "job/get", {"job_name": "from-git", "json": True})[0]
    assert (raw["image"]["path_to_repo"], raw["image"]["commit_hash"], raw["image"]["path_to_module"]) == (
        "https://git.example.com/team/dash.git", "25b10656e5bc6c28fa33f420a61a30f466a8e45a", "dash")
    reqs = world.sandbox_client().call("GET", "job/get", {"job_name": "reqs", "json": True})[0]
    assert reqs["image"]["python_requirements"] == "flask==3.0\nnumpy"
    assert world.cli("plan", stack).exit_code == 0
    (stack / "requirements.txt").write_text("flask==3.0\nnumpy\npandas\n")
    edit(stack, 'commit = "25b10656e5bc6c28fa33f420a61a30f466a8e45a"', 'commit = "0123456789abcdef0123456789abcdef01234567"')
    plan = plan_json(world, stack)
    assert {a["address"]: a["op"] for a in plan["actions"]} == {"service.reqs": "save", "app.from-git": "save"}
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0


def test_a_missing_requirements_file_or_source_folder_fails_before_any_request(world):
    stack = world.stack("""
[service.reqs]
entrypoint = "svc.main:run"
[service.reqs.image]
requirements_file = "nope.txt"

[service.code]
entrypoint = "svc.main:run"
[service.code.image]
source = { path = "src/missing" }
""")
    mark = world.mark()
    result = world.cli("plan", stack)
    assert result.exit_code == 1
    assert "nope.txt" in result.stderr and "src/missing" in result.stderr, result.stderr
    assert world.mark() == mark  # not even a login


def test_a_no_op_plan_lists_jobs_by_page_and_never_gets_one(world):
    """Live state costs one `job ls` per page (tasks included), never one `job get` per job."""
    parts = []
    for n in range(30):
        if n % 5 == 0:
            parts.append(f'[workflow.flow-{n}]\n[workflow.flow-{n}.schedule]\ncron = "0 0 {n % 24} * * *"\n'
                         f'[workflow.flow-{n}.tasks.a]\nentrypoint = "etl.t:a"\n'
                         f'[workflow.flow-{n}.tasks.b]\nentrypoint = "etl.t:b"\ndepends_on = ["a"]\n')
        else:
            parts.append(f'[service.svc-{n}]\nentrypoint = "svc.main:run"\nmemory = "256m"\n')
    stack = world.stack("\n".join(parts))
    assert world.cli("apply", stack, "--yes").exit_code == 0
    mark = world.mark()
    assert world.cli("plan", stack).exit_code == 0
    paths = [r["path"] for r in world.log_lines()[mark:]]
    assert paths.count("/api/job/get") == 0
    assert paths.count("/api/job/ls") == 1  # 30 jobs: one page
