"""State on the platform itself (shared by CI runs), its lock, and applies that converge through
throttling and injected server errors (lessons: throttling, partial failure)."""

from __future__ import annotations

import json

import httpx
import pytest
from platforge.provider import get_platform

from platforge.core.engine import Engine, make_backend
from platforge.core.errors import LockError
from platforge.core.stack import load_stack

STATE = '[state]\nbackend = "platform"\nprefix = "platforge/stacks/team"\n'
BODY = """
[group.team]
[user.uma]
email = "uma@example.com"
groups = ["team"]
[kv.k]
value = "v"
"""


def engine_for(stack_dir) -> Engine:
    stack, platform = load_stack(stack_dir, get_platform)
    client = platform.connect(stack.platform_config)
    return Engine(stack, platform, client, make_backend(stack, platform, client))


def test_platform_state_backend_is_shared_and_locked(world, tmp_path):
    first = world.stack(BODY, name="ci-run-1", state=STATE)
    second = world.stack(BODY, name="ci-run-2", state=STATE)  # another checkout, same stack
    assert world.cli("apply", first, "--yes").exit_code == 0
    assert not (first / ".platforge").exists(), "no local state with the platform backend"

    with httpx.Client(base_url=world.sandbox.url) as http:
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password))
        listing = http.get("/api/blob/ls", params={"bucket_name": "blob://sandbox-user-data/platforge/stacks/team/",
                                                   "json": "True"}).json()["result"]
        names = {entry["name"] for entry in listing}
        assert any(name.endswith("state.json") for name in names), names
        assert not any(name.endswith("state.lock") for name in names)
        key = http.get("/api/kv/get", params={"key": "platforge/stacks/team/fingerprint-key", "secure": "True",
                                              "json": "True"})
        assert key.status_code == 200
        state_blob = http.get("/api/blob/get", params={"bucket_name": "blob://sandbox-user-data/platforge/stacks/team/state.json"})
    import base64

    state = json.loads(base64.b64decode(state_blob.json()["result"]))
    assert state["format"] == "platforge.state/v1" and "user.uma" in state["resources"]

    # The second checkout sees the same ownership: nothing to do, nothing unmanaged to report.
    plan = json.loads(world.cli("plan", second, "--json").stdout)
    assert plan["summary"]["create"] == 0 and plan["summary"]["no-op"] == 3

    engine = engine_for(first)
    with engine.backend.lock("apply"):
        (second / "main.toml").write_text((second / "main.toml").read_text() + '[kv.k2]\nvalue = "w"\n')
        blocked = world.cli("apply", second, "--yes")
        assert blocked.exit_code == 1 and "locked" in blocked.stderr
    assert world.cli("apply", second, "--yes").exit_code == 0


def test_apply_converges_through_throttling_and_server_errors(sandbox_factory, tmp_path, monkeypatch):
    from .conftest import World

    box = sandbox_factory(access_log=True, rate_limit=15, error_rate=0.2, seed=3)
    world = World(box, tmp_path, monkeypatch)
    stack = world.quickstart()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stderr
    statuses = [r["status"] for r in world.log_lines()]
    assert 429 in statuses and 503 in statuses, "the faults must actually have fired"
    assert world.cli("plan", stack).exit_code == 0


def test_lock_error_is_raised_directly(world):
    stack = world.stack(BODY)
    engine = engine_for(stack)
    with engine.backend.lock("apply"):
        with pytest.raises(LockError, match="locked"):
            engine_for(stack).apply()
