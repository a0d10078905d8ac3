"""Retries that know what cannot succeed (issue 7), as the Datatailr client and the CLI show
them: 4xx other than 429 are never retried, a 401 logs in again once (a new session, not a
transport retry), `https://` to the plain-HTTP sandbox fails at once, and the CLI prints one
line per retry on stderr. The transport's classification itself is tested in
`tests/kit/client/test_retry_classification.py`.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from platforge.provider._kit.client import TlsError
from platforge.provider.datatailr import AuthenticationError, DatatailrClient, PasswordLogin, PlatformError, RetryPolicy

from .conftest import err, ok

REPO = Path(__file__).resolve().parents[3]
RETRY_LINE = re.compile(
    r"^retrying (?P<method>[A-Z]+) (?P<path>\S+) after (?P<reason>.+) "
    r"\(attempt (?P<attempt>\d+) of (?P<of>\d+)\), waiting (?P<wait>\d+\.\d+) s$"
)


def retry_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "platforge.transport" and r.getMessage().startswith("retrying ")]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("status", [400, 403, 404, 409, 413, 422])
def test_datatailr_client_does_not_retry_4xx(status, make_client, server, fake_time, caplog):
    client = make_client(server)
    server.queue(*[err(status, f"status {status}")] * 8)
    with caplog.at_level(logging.DEBUG, logger="platforge"):
        with pytest.raises(PlatformError) as info:
            client.users.ls()
    assert info.value.status == status and info.value.attempts == 1
    assert len(server.api_requests) == 1 and server.logins == 1
    assert fake_time.sleeps == [] and retry_lines(caplog) == []


def test_datatailr_client_401_logs_in_again_once_without_transport_retries(make_client, server, fake_time,
                                                                            caplog):
    client = make_client(server)
    server.queue(ok([]), err(401, "expired"), ok([]))
    client.users.ls()
    with caplog.at_level(logging.DEBUG, logger="platforge"):
        client.users.ls()  # 401, one new login, the same request again
    assert server.logins == 2 and len(server.api_requests) == 3
    assert fake_time.sleeps == [] and retry_lines(caplog) == []
    server.queue(err(401, "expired"), err(401, "still expired"))
    with pytest.raises(AuthenticationError) as info:
        client.users.ls()
    assert info.value.attempts == 1 and server.logins == 3 and fake_time.sleeps == []


# ── real sockets ─────────────────────────────────────────────────────────────────────────────


def test_https_to_the_plain_http_sandbox_fails_fast_with_one_attempt(sandbox):
    url = sandbox.url.replace("http://", "https://")
    client = DatatailrClient(url, PasswordLogin(sandbox.admin_user, sandbox.admin_password))
    start = time.monotonic()
    try:
        with pytest.raises(TlsError) as info:
            client.login()
        elapsed = time.monotonic() - start
    finally:
        client.close()
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert client.stats.attempts == 1 and info.value.attempts == 1
    assert "http://" in str(info.value) and "https://" in str(info.value)
    assert sandbox.admin_password not in str(info.value)


# ── the CLI shows the retry lines ────────────────────────────────────────────────────────────


def run_cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "DATATAILR_USER_NAME": "admin", "DATATAILR_USER_PASSWORD": "pw-CLI-s3cret",
           "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("DATATAILR_JWT", None)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "platforge", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    return proc, time.monotonic() - start


def write_stack(tmp_path: Path, endpoint: str) -> Path:
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "main.toml").write_text(
        f'[platform]\ntype = "datatailr"\nendpoint = "{endpoint}"\nenvironment = "dev"\n\n'
        '[group.analysts]\nname = "analysts"\n', encoding="utf-8")
    return stack


def test_cli_plan_prints_one_line_per_retry_on_stderr(tmp_path):
    stack = write_stack(tmp_path, f"http://127.0.0.1:{closed_port()}")
    proc, elapsed = run_cli("plan", str(stack), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("retrying ")]
    assert lines, proc.stderr
    for n, line in enumerate(lines, start=2):
        assert line.startswith(f"retrying POST /login after connection refused (attempt {n} of 8), waiting "), line
        assert RETRY_LINE.match(line), line
    assert "connection refused" in proc.stderr.lower() and "Error" in proc.stderr
    assert "pw-CLI-s3cret" not in proc.stderr + proc.stdout
    assert proc.stdout == ""
    # The default refused budget plus interpreter start-up, not the minute of max_total_delay.
    assert elapsed < RetryPolicy().connect_refused_budget + 10, f"took {elapsed:.2f} s"


def test_cli_plan_with_the_wrong_scheme_fails_at_once_saying_why(sandbox, tmp_path):
    stack = write_stack(tmp_path, sandbox.url.replace("http://", "https://"))
    proc, _ = run_cli("plan", str(stack), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "retrying" not in proc.stderr
    assert "TlsError" in proc.stderr and "https://" in proc.stderr and "http://" in proc.stderr


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)


def test_setup_logging_prints_plain_warning_lines_once_even_if_called_twice():
    proc = _python(
        "import logging\n"
        "from platforge.cli._logging import setup_logging\n"
        "setup_logging(); setup_logging()\n"
        "logging.getLogger('platforge.transport').warning('retrying GET /x after y (attempt 2 of 8), waiting 0.10 s')\n"
        "logging.getLogger('platforge.transport').info('not shown')\n"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "retrying GET /x after y (attempt 2 of 8), waiting 0.10 s"
    assert "not shown" not in proc.stderr
    assert proc.stderr.count("retrying") == 1


def test_setup_logging_leaves_a_configured_logging_alone():
    proc = _python(
        "import logging\n"
        "logging.basicConfig(format='CONFIGURED %(name)s %(message)s')\n"
        "from platforge.cli._logging import setup_logging\n"
        "setup_logging()\n"
        "logging.getLogger('platforge.transport').warning('hello')\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["CONFIGURED platforge.transport hello"]


def test_importing_the_library_installs_no_handler():
    proc = _python(
        "import logging\n"
        "import platforge.cli, platforge.provider._kit.client, platforge.provider.datatailr\n"
        "assert logging.getLogger('platforge').handlers == [], logging.getLogger('platforge').handlers\n"
        "assert logging.getLogger('platforge.transport').handlers == []\n"
        "assert logging.getLogger().handlers == []\n"
    )
    assert proc.returncode == 0, proc.stderr
