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
