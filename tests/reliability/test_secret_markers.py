"""Issue 11: every flow runs with marker secrets, and the marker appears in no output, file,
state, plan, report, log (at debug level) or pickle.

The flows are the command line's, each in its own process as a user runs it, with
`PLATFORGE_LOG=debug`: plan (text, JSON, a saved plan, a Markdown comment), apply of the saved
plan, plan with `--refresh-secrets`, an out-of-band change of a secret, drift in every format
(to stdout and to files), the repairing apply, `lock status`. Then, in process, the loaded
stack, its plan and its state are pickled. (The Pulumi door's secrets are proven by the engine
protocol tests in tests/pulumi/test_types_secrets_adoption.py.)"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.datatailr.e2e.conftest import QUICKSTART

from .crashes import REPO

MARKER = "MARKER-9f3b-s3cr3t"


def test_no_flow_lets_a_marker_secret_out(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(access_log=True)
    stack = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, stack, ignore=shutil.ignore_patterns(".platforge"))
    platform = stack / "platform.toml"
    platform.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{sandbox.url}"', platform.read_text()))
    env = {**os.environ, "DATATAILR_USER_NAME": sandbox.admin_user, "DATATAILR_USER_PASSWORD": sandbox.admin_password,
           "QUICKSTART_INITIAL_PASSWORD": "initial-" + MARKER, "QUICKSTART_WAREHOUSE_PASSWORD_DEV": "dev-" + MARKER,
           "QUICKSTART_WAREHOUSE_PASSWORD_PROD": "prod-" + MARKER, "PLATFORGE_LOG": "debug"}
    env.pop("PLATFORGE_FINGERPRINT_KEY", None)
    outputs: list[str] = []

    def run(*args: str, expect: int | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "platforge", *args], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=300)
        outputs.append(done.stdout + done.stderr)
        if expect is not None:
            assert done.returncode == expect, (args, done.stdout, done.stderr)
        return done

    files = tmp_path / "out"
    files.mkdir()
    first = run("plan", str(stack), "--out", str(files / "plan.json"), "--markdown", str(files / "plan.md"), expect=2)
    assert re.search(r"GET /api/\S+ -> 200 \(\d+ ms\)", first.stderr), "the debug log is really on"
    run("plan", str(stack), "--json", expect=2)
    run("apply", str(stack), "--plan", str(files / "plan.json"), "--yes", expect=0)
    run("plan", str(stack), "--refresh-secrets", expect=0)

    # Someone changes a secret behind the stack's back: drift must say so without the value.
    from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin

    with DatatailrClient(sandbox.url, PasswordLogin(sandbox.admin_user, sandbox.admin_password)) as client:
        client.login()
        secret_key = json.loads((stack / ".platforge" / "state.json").read_text())["resources"][
            "secret.warehouse-password-dev"]["identity"]
        client.secrets.put(secret_key[-1], "changed-" + MARKER, environment="dev")
    for fmt in ("text", "json", "markdown", "html"):
        run("drift", str(stack), "--format", fmt, expect=2)
        run("drift", str(stack), "--format", fmt, "--output", str(files / f"drift.{fmt}"), expect=2)
    assert "warehouse-password-dev" in (files / "drift.json").read_text()
    run("plan", str(stack), "--refresh-secrets", expect=2)
    run("apply", str(stack), "--yes", "--refresh-secrets", expect=0)
    run("drift", str(stack), expect=0)
    run("lock", "status", str(stack))

    # In process: what the engine holds, pickled.
    from platforge.provider import get_platform

    from platforge.core.engine import Engine, make_backend
    from platforge.core.stack import load_stack

    os.environ.update({k: v for k, v in env.items() if k.startswith(("QUICKSTART_", "DATATAILR_"))})
    try:
        loaded, platform_impl = load_stack(stack, get_platform)
        assert any(MARKER in value for r in loaded.resources for value in r.secrets.values()), "secrets resolved"
        client = platform_impl.connect(loaded.platform_config)
        engine = Engine(loaded, platform_impl, client, make_backend(loaded, platform_impl, client))
        plan = engine.plan()
        pickles = [pickle.dumps(loaded.resources), pickle.dumps(plan), pickle.dumps(engine.backend.load())]
        client.close()
    finally:
        for key in env:
            if key.startswith("QUICKSTART_"):
                os.environ.pop(key, None)

    texts = outputs + [p.read_text(errors="replace") for p in files.iterdir()]
    texts += [p.read_text(errors="replace") for p in (stack / ".platforge").iterdir() if p.is_file()]
    texts.append(Path(sandbox.access_log).read_text())
    for n, text in enumerate(texts):
        assert MARKER not in text, f"text {n} holds the marker"
    for blob in pickles:
        assert MARKER.encode() not in blob
