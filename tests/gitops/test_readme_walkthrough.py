"""The README's sandbox walkthrough, run as written: every command of its block, in one shell,
in a copy of the example, each exiting as its `# exit N` comment says (0 when it says nothing).
Only the port and the sandbox's database file are changed, to a free port and a temporary file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import GITOPS, make_repo

COMMENT = re.compile(r"\s{2,}#\s.*$")


def walkthrough() -> list[str]:
    readme = (GITOPS / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running it against a sandbox, without credentials", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_script(lines: list[str], port: int, db: Path) -> str:
    out = ["set -u", "SANDBOX_PID=", "trap '[ -n \"$SANDBOX_PID\" ] && kill $SANDBOX_PID' EXIT"]
    for number, line in enumerate(lines, 1):
        expected = re.search(r"#\s*exit (\d+)", line)
        command = COMMENT.sub("", line).replace("8080", str(port)).replace("/tmp/gitops-sandbox.db", str(db))
        if command.endswith("&"):
            out += [command, "SANDBOX_PID=$!"]
        elif command.startswith(("export ", "until ")):
            out.append(command)
        else:
            want = int(expected.group(1)) if expected else 0
            out.append(f'{command}\nrc=$?; [ "$rc" -eq {want} ] || '
                       f'{{ echo "README walkthrough line {number} exited $rc, not {want}" >&2; exit 1; }}')
    return "\n".join(out) + "\n"


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    lines = walkthrough()
    assert any("ci/plan.sh dev" in line and "exit 2" in line for line in lines)
    assert any(line.startswith("platforge sandbox datatailr") for line in lines)
    port = free_port()

    class Unused:
        url = f"http://127.0.0.1:{port}"
        admin_user = admin_password = "unused"
        access_log = None

    repo = make_repo(Unused(), tmp_path)
    env = {k: v for k, v in repo.env.items()
           if not k.startswith(("PLATFORGE", "DATATAILR_", "GITHUB_")) and k != "WAREHOUSE_PASSWORD"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # platforge, python3
    script = as_script(lines, port, tmp_path / "sandbox.db")
    shell = subprocess.Popen(["bash", "-c", script], cwd=repo.root, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = shell.communicate(timeout=150)
    finally:
        if shell.poll() is None:  # a hung walkthrough: stop it and the sandbox it started
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait()
    assert shell.returncode == 0, stderr[-3000:]
    assert '["dev","prod"]' in stdout
    assert "Apply complete: 7 applied." in stdout and "Apply complete: 6 applied." in stdout
    assert (repo.root / "out" / "drift-dev.html").is_file()
    assert not (repo.root / "out" / "drift-dev.md").exists()  # outside GitHub Actions: the page only
    config = (repo.root / "stacks" / "dev" / "config.toml").read_text()
    assert 'value = "postgres://elsewhere/x"' in config  # accepted in place
    assert "# Configuration in the dev environment" in config  # comments kept
