"""Request counts at scale: a no-op plan of 500 configurations makes zero requests (no read API:
planned from the state; the login is lazy), and an apply of one changed configuration among
them makes exactly one deploy."""

from __future__ import annotations

import json
import time

from .conftest import DEPLOY, World

COUNT = 500


def workflows(tag: str = "a") -> str:
    return "".join(f'''
[workflow.wf{i:03d}]
account = "000099"
environment = "DEV"
version = "2"
gcp_project_id = "sandbox-project"
authorized_job_ids = ["storage-to-tables|000099|stt{i}|DEV|x_{{{{FD_DATE}}}}.csv"]
target_dag = {{ configuration_type = "table-to-table", configuration_id = "000099_t{i}_DEV" }}
short_description = "{tag if i == 250 else 'a'}"
''' for i in range(COUNT))


def test_a_no_op_plan_of_500_makes_no_request_and_one_change_is_one_deploy(world: World) -> None:
    stack = world.stack(workflows(), extra="parallelism = 16")
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    assert world.count(mark, DEPLOY) == COUNT
    mark = world.mark()
    started = time.monotonic()
    plan = world.cli("plan", stack, "--json")
    elapsed = time.monotonic() - started
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["summary"]["no-op"] == COUNT
    assert world.requests_since(mark) == []
    print(f"no-op plan of {COUNT}: 0 requests, {elapsed:.2f} s")
    world.stack(workflows(tag="changed"), extra="parallelism = 16")
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    assert world.count(mark, DEPLOY) == 1
    deploys = world.deploys()
    assert deploys[-1]["resource"]["configuration_id"] == "wf250"
    assert deploys[-1]["resource"]["short_description"] == "changed"
