"""The README's sandbox walkthroughs, run as written: every command of a block, in one shell, in
a copy of the example, each exiting as its `# exit N` comment says (0 when it says nothing). Only
the port, the sandbox's database file (and the runner's state directory) are changed, to a free
port and temporary paths. Two blocks: the Datatailr flow, and a local-state stack's (Dataiku)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import CREDENTIAL_PREFIXES, GITOPS, make_repo

COMMENT = re.compile(r"\s{2,}#\s.*$")


def walkthrough(heading: str = "## Running it against a sandbox, without credentials") -> list[str]:
    readme = (GITOPS / "README.md").read_text(encoding="utf-8")
    section = readme.split(heading + "\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_script(lines: list[str], port: int, db: Path, replace: dict[str, str] | None = None) -> str:
    replace = {"8080": str(port), "/tmp/gitops-sandbox.db": str(db), **(replace or {})}
    out = ["set -u", "SANDBOX_PID=", "trap '[ -n \"$SANDBOX_PID\" ] && kill $SANDBOX_PID' EXIT"]
    for number, line in enumerate(lines, 1):
        expected = re.search(r"#\s*exit (\d+)", line)
        command = COMMENT.sub("", line)
        for old, new in replace.items():
            command = command.replace(old, new)
        if command.endswith("&"):
            out += [command, "SANDBOX_PID=$!"]
        elif command.startswith(("export ", "until ")):
            out.append(command)
        else:
            want = int(expected.group(1)) if expected else 0
            out.append(f'{command}\nrc=$?; [ "$rc" -eq {want} ] || '
                       f'{{ echo "README walkthrough line {number} exited $rc, not {want}" >&2; exit 1; }}')
    return "\n".join(out) + "\n"


def run_walkthrough(lines: list[str], tmp_path: Path, replace: dict[str, str] | None = None,
                    port: int | None = None) -> tuple[Path, str]:
    """Run the block in a copy of the example with no credentials in the environment:
    (the copy's root, the shell's stdout); fails the test unless every line exits as it says."""
    port = port or free_port()

    class Unused:
        url = f"http://127.0.0.1:{port}"
        admin_user = admin_password = "unused"
        access_log = None

    repo = make_repo(Unused(), tmp_path)
    env = {k: v for k, v in repo.env.items()
           if not k.startswith(CREDENTIAL_PREFIXES) and k != "WAREHOUSE_PASSWORD"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # platforge, python3
    script = as_script(lines, port, tmp_path / "sandbox.db", replace)
    shell = subprocess.Popen(["bash", "-c", script], cwd=repo.root, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = shell.communicate(timeout=150)
    finally:
        if shell.poll() is None:  # a hung walkthrough: stop it and the sandbox it started
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    assert shell.returncode == 0, stderr[-3000:]
    return repo.root, stdout


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    lines = walkthrough()
    assert any("ci/plan.sh dev" in line and "exit 2" in line for line in lines)
    assert any(line.startswith("platforge sandbox datatailr") for line in lines)
    root, stdout = run_walkthrough(lines, tmp_path)

    matrix = json.loads(stdout.splitlines()[0])  # ci/discover.py's line
    assert {m["stack"]: m["runner"] for m in matrix if m["state"] == "platform"} == {
        "dev": ["ubuntu-latest"], "prod": ["ubuntu-latest"]}
    assert "Apply complete: 7 applied." in stdout and "Apply complete: 6 applied." in stdout
    assert (root / "out" / "drift-dev.html").is_file()
    assert not (root / "out" / "drift-dev.md").exists()  # outside GitHub Actions: the page only
    config = (root / "stacks" / "dev" / "config.toml").read_text()
    assert 'value = "postgres://elsewhere/x"' in config  # accepted in place
    assert "# Configuration in the dev environment" in config  # comments kept


def test_the_local_state_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """The Dataiku block: the state lands in the runner's directory, never in the repository,
    and without that directory's variable the plan fails naming it."""
    lines = walkthrough("### A local-state stack: Dataiku")
    assert any(line.startswith("platforge sandbox dataiku") for line in lines)
    assert any("unset PLATFORGE_STATE_DIR" in line and "exit 1" in line for line in lines)
    state_dir, port = tmp_path / "runner-state", free_port()
    root, stdout = run_walkthrough(lines, tmp_path, {"8081": str(port), "/tmp/gitops-dataiku.db": str(tmp_path / "dss.db"),
                                                     "/tmp/gitops-runner-state": str(state_dir)}, port=port)
    assert "Apply complete: 5 applied." in stdout and "drift: analytics-dataiku is in sync" in stdout
    own = state_dir / "gitops-analytics-dataiku"
    assert (own / "state.json").is_file() and (own / "fingerprint.key").is_file()
    assert not list(root.rglob(".platforge")) and not list(root.rglob("state.json*"))
    assert (root / "out" / "drift-analytics-dataiku.html").is_file()
