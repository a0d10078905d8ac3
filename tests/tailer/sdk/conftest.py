"""The vendor's own CLI (`tailer-sdk==1.3.19`) against a Tailer sandbox, as contract §3.2 points
it at 127.0.0.1: `$TAILER_HOME/tailer-configuration.json` with `tailer_api_endpoint` set to the
sandbox, the sandbox's refresh token and API key, and its public key as
`$TAILER_HOME/tailer_public_key.pem`; `run_tailer.py` adds the three shims of §3.2.

tailer-sdk cannot live in the test venv (it hard-pins urllib3==1.26.17, dtlpy needs >=2.3), so
the first test that needs it builds a venv of its own from `requirements.txt`, at
`<repo>/.platforge/venv-tailer-sdk` (or `$PLATFORGE_TAILER_SDK_VENV`), and later runs reuse it while the
requirements file is unchanged (its SHA-256, and the Python version, are kept in a marker file).
The build is guarded by an exclusive file lock, since `pytest -n` workers start together. A
build that fails fails the tests (it never skips them): CI installs from the package registries.
The build's duration is printed and kept in the venv (`.build-seconds`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.tailer.sandbox.conftest import Tailer, start_tailer

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
RUNNER = HERE / "run_tailer.py"
#: Under `.platforge/` (local state: out of Git, and skipped by the repository and packaging
#: tests, which would otherwise walk a venv's thousands of files).
VENV = Path(os.environ.get("PLATFORGE_TAILER_SDK_VENV") or REPO / ".platforge" / "venv-tailer-sdk")
MARKER = ".requirements-sha256"
INSTALL_TIMEOUT = 1200
CLI_TIMEOUT = 120


def _wanted() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()


def _python() -> Path:
    return VENV / "bin" / "python"


def _build() -> float:
    started = time.monotonic()
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(_python()), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q", "-r", str(REQUIREMENTS)],
        [str(_python()), "-W", "ignore", "-c", "import chardet.universaldetector, firebase, tailer_sdk.tailersdk, tailer_sdk.tailer_crypto"],
    ]
    for step in steps:
        try:
            result = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(VENV, ignore_errors=True)
            pytest.fail(f"building the tailer-sdk venv timed out after {INSTALL_TIMEOUT}s: {' '.join(step)}", pytrace=False)
            raise AssertionError from exc  # unreachable
        if result.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            pytest.fail(f"building the tailer-sdk venv from {REQUIREMENTS} failed ({' '.join(step[:4])} ...):\n"
                        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}", pytrace=False)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def tailer_python() -> Path:
    """The SDK venv's interpreter, built on first use (one build across `-n` workers)."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    wanted = _wanted()
    with open(VENV.parent / (VENV.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            marker = VENV / MARKER
            if not (_python().exists() and marker.exists() and marker.read_text().strip() == wanted):
                seconds = _build()
                (VENV / ".build-seconds").write_text(f"{seconds:.1f}\n")
                marker.write_text(wanted + "\n")
                print(f"\nbuilt the tailer-sdk venv at {VENV} in {seconds:.1f}s", file=sys.stderr)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _python()


@dataclass
class Sdk:
    python: Path
    box: Tailer
    home: Path
    work: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        with open(os.devnull) as devnull:
            return subprocess.run([str(self.python), "-W", "ignore", str(RUNNER), *args], stdin=devnull, env=self.env,
                                  cwd=self.work, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"tailer {' '.join(args)}: exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        return result.stdout

    def deploy(self, name: str, doc: dict[str, Any], *, context: str = "NO_CONTEXT") -> str:
        path = self.work / name
        path.write_text(json.dumps(doc, indent=2))
        return self.ok("deploy", "configuration", name, "--context", context, "--no-launch")

    def seal(self, plaintext: str) -> dict[str, str]:
        """A secret sealed by the SDK's own `tailer_crypto.encrypt_payload`."""
        out = self.ok("encrypt", plaintext)
        line = next(line for line in out.splitlines() if line.startswith("{") and "enc_session_key" in line)
        sealed: dict[str, str] = json.loads(line)
        return sealed


def tailer_home(home: Path, box: Tailer, *, refresh_token: str | None = None) -> None:
    """`$TAILER_HOME` as `tailer auth login` and `tailer encrypt` leave it, aimed at `box`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "tailer-configuration.json").write_text(json.dumps({
        "user_email": "alice@example.com", "tailer_firebase_api_key": box.api_key,
        "tailer_firebase_auth_domain": "sandbox.firebaseapp.com", "tailer_api_endpoint": box.url + "/",
        "perform_ssl_verification": False, "client_ssl_certificate": "", "cf_deploy_auto_sts_stt": True,
        "firebase_user": {"userId": "sandbox-user", "idToken": "stale", "refreshToken": refresh_token or box.refresh_token},
    }))
    from platforge.provider.tailer.sandbox import public_key_pem

    (home / "tailer_public_key.pem").write_bytes(public_key_pem(box.app))


@pytest.fixture(scope="module")
def sdk_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tailer]:
    """One sandbox per module, with its own generated RSA key (the SDK seals with it)."""
    box = start_tailer(tmp_path_factory.mktemp("tailer-sdk"), 0, rsa_key=None, access_log=True)
    yield box
    box.stop()


def make_sdk(python: Path, box: Tailer, root: Path, **home: Any) -> Sdk:
    for name in ("home", "work", "user"):
        (root / name).mkdir(parents=True, exist_ok=True)
    tailer_home(root / "home", box, **home)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "user"), "TAILER_HOME": str(root / "home"),
           "TAILER_SECURETOKEN_URL": box.url + "/securetoken/v1/token", "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost", "PYTHONWARNINGS": "ignore", "LANG": "C.UTF-8"}
    return Sdk(python, box, root / "home", root / "work", env)


@pytest.fixture(scope="module")
def sdk(tailer_python: Path, sdk_box: Tailer, tmp_path_factory: pytest.TempPathFactory) -> Sdk:
    """The CLI with one `$TAILER_HOME` and working folder per module (file names differ per test)."""
    return make_sdk(tailer_python, sdk_box, tmp_path_factory.mktemp("tailer-cli"))
