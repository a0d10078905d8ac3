"""A global API key's secret is shown once, at creation. The command line hands it over where
the stack says (`shown_once_to`: a 0600 file, or one variable of a dotenv file) and nowhere
else: not in its output, the state or a plan. The key it wrote works against the platform."""

from __future__ import annotations

import os
import stat

import httpx

from .conftest import World

KEYS = """
[group.data_team]

[global_api_key.ci]
description = "CI key"
groups = ["data_team"]
shown_once_to = { file = ".secrets/ci-key" }

[global_api_key.deploy]
groups = ["data_team"]
shown_once_to = { env_file = ".env", variable = "DSS_DEPLOY_KEY" }

[global_api_key.lost]
groups = ["data_team"]
"""


def test_secrets_shown_once_are_written_where_the_stack_says_and_nowhere_else(world: World):
    stack = world.stack(KEYS)
    (stack / ".env").write_text("OTHER=kept\nDSS_DEPLOY_KEY=stale\n", encoding="utf-8")
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    key_file = stack / ".secrets" / "ci-key"
    ci_key = key_file.read_text(encoding="utf-8").strip()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600 and len(ci_key) > 16
    env_lines = (stack / ".env").read_text(encoding="utf-8").splitlines()
    assert env_lines[0] == "OTHER=kept" and len(env_lines) == 2, "the other lines stay; the variable's line is replaced"
    deploy_key = env_lines[1].split("=", 1)[1].strip("'")
    assert stat.S_IMODE(os.stat(stack / ".env").st_mode) == 0o600 and deploy_key != "stale"
    assert "global_api_key.lost" in applied.stderr and "shown_once_to" in applied.stderr

    everything = applied.stdout + applied.stderr + (stack / ".platforge" / "state.json").read_text(encoding="utf-8")
    assert ci_key not in everything and deploy_key not in everything
    assert f"written to {key_file}" in applied.stdout

    # The key works: the platform accepts it (API-key Basic auth, the key as the user name).
    answer = httpx.get(f"{world.url}/public/api/projects/", auth=(ci_key, ""))
    assert answer.status_code == 200, answer.text

    # A second apply neither writes nor touches the delivered files (the target is create-only).
    mark, before = world.mark(), key_file.stat().st_mtime_ns
    again = world.cli("apply", stack, "--yes")
    assert again.exit_code == 0 and world.writes_since(mark) == []
    assert key_file.stat().st_mtime_ns == before
