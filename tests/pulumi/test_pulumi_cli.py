"""The one gap the harness cannot close: the real Pulumi engine. Runs the `stacks/` project with
the `pulumi` CLI against a sandbox, with a local file backend and a passphrase secrets provider.
Skipped when no `pulumi` binary is on PATH (no registry reachable from here ships it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import STACK_V1, STACKS, Api, write_stack

PULUMI = shutil.which("pulumi")

pytestmark = pytest.mark.skipif(PULUMI is None, reason="the pulumi CLI is not installed")


def test_pulumi_up_preview_refresh_destroy(sandbox, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("__main__.py", "requirements.txt"):
        shutil.copy(STACKS / name, project / name)
    # The project as committed, plus the virtualenv this test runs in (platforge is installed there).
    pulumi_yaml = (STACKS / "Pulumi.yaml").read_text()
    assert "toolchain: pip" in pulumi_yaml
    (project / "Pulumi.yaml").write_text(
        pulumi_yaml.replace("toolchain: pip", f"toolchain: pip\n    virtualenv: {sys.prefix}"))
    stack_dir = write_stack(tmp_path / "stack", STACK_V1, sandbox.url)
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "PULUMI_HOME": str(tmp_path / "home"), "PULUMI_CONFIG_PASSPHRASE": "test-passphrase",
           "PULUMI_SKIP_UPDATE_CHECK": "1", "PULUMI_PYTHON_CMD": sys.executable,
           "PP_INITIAL_PASSWORD": "initial-CLI-marker", "PP_DB_PASSWORD": "db-CLI-marker"}
    env.pop("PULUMI_ACCESS_TOKEN", None)

    def pulumi(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([PULUMI, *args, "--non-interactive"], cwd=project, env=env, capture_output=True,
                                text=True, timeout=300)
        if check:
            assert result.returncode == 0, f"pulumi {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    api = Api(sandbox)
    try:
        pulumi("login", f"file://{state}")
        pulumi("stack", "init", "ci")
        pulumi("config", "set", "platforge:endpoint", sandbox.url)
        pulumi("config", "set", "platforge:username", sandbox.admin_user)
        pulumi("config", "set", "--secret", "platforge:password", sandbox.admin_password)
        pulumi("config", "set", "platforge:stackDir", str(stack_dir))

        pulumi("up", "--yes")
        live = api.snapshot()
        assert live["users"]["alice"]["email"] == "alice@example.com"
        assert live["groups"]["engineers"] == ["bot"]
        assert live["kv"]["dev/url"]["value"] == "postgres://warehouse/v1"
        assert live["secrets"]["dev/db-password"]["value"] == "db-CLI-marker"

        outputs = json.loads(pulumi("stack", "output", "--json").stdout)
        assert outputs["addresses"] == sorted(["group.analysts", "group.engineers", "user.alice", "user.bot",
                                               "kv.url", "kv.old", "secret.db-password"])
        exported = pulumi("stack", "export").stdout
        for plaintext in ("db-CLI-marker", "initial-CLI-marker", sandbox.admin_password):
            assert plaintext not in exported  # secrets are encrypted in state

        pulumi("preview", "--expect-no-changes")
        api.put_kv("url", "changed-out-of-band")
        pulumi("refresh", "--yes")
        drifted = pulumi("preview", "--expect-no-changes", check=False)
        assert drifted.returncode != 0  # the refreshed drift is now a planned update
        pulumi("up", "--yes")
        assert api.kv("url") == "postgres://warehouse/v1"

        pulumi("destroy", "--yes")
        after = api.snapshot()
        assert "alice" not in after["users"] and "analysts" not in after["groups"]
        assert after["kv"] == {} and after["secrets"] == {}
    finally:
        api.close()
