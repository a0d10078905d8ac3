"""Run the vendor's `datatailr` SDK against a sandbox, set up the way a developer's machine is
(contract §5.3): a private `HOME`, a real `datatailr login`, then `datatailr setup-cli --no-login`.

Where the `dt` shim goes: `setup-cli` writes it to `$HOME/.dt/bin` only outside a virtualenv;
inside one it writes `{sys.prefix}/bin/dt` (`cli_install.resolve_remote_cli_install_dir`). Run
from the project's venv it would therefore rewrite a file in that shared venv, racing with other
test workers that execute it. So the harness builds a throwaway venv per test session whose
only content is a `.pth` pointing at this interpreter's site-packages: the real `setup-cli`
writes its shim into that venv's `bin`, which goes first on `PATH`, and nothing outside the
session's temporary directory is touched. The CLI is invoked as `python -m datatailr` (the
console script would pin the project venv's interpreter).

Each SDK call spawns a `dt` subprocess (~0.2 s), so tests batch several calls per snippet.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SHIM_MARKER = "datatailr._remote_client.remote_cli"
NATIVE_DT = "/opt/datatailr/bin/dt"
# Printed once per HOME by the wheel's `datatailr_install_notice.pth`; harmless.
INSTALL_NOTICE = (
    "The native dt executable is not on PATH.",
    "Run 'python -m datatailr setup-cli' to install the dt CLI.",
)
PREAMBLE = (
    "import json as _json\n"
    "def emit(value):\n"
    "    print(_json.dumps(value, default=str), flush=True)\n"
)


def without_notice(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() not in INSTALL_NOTICE]
    return "\n".join(lines).strip("\n")


def _report(what: str, proc_stdout: str | bytes | None, proc_stderr: str | bytes | None) -> str:
    def text(value: str | bytes | None) -> str:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return without_notice(value or "")

    return f"{what}\n--- stdout ---\n{text(proc_stdout)}\n--- stderr ---\n{text(proc_stderr)}"


@dataclass(frozen=True)
class SdkToolchain:
    """A per-session venv layered over this interpreter's site-packages."""

    prefix: Path
    python: Path
    bin_dir: Path

    @classmethod
    def create(cls, root: Path) -> SdkToolchain:
        prefix = root / "sdk-venv"
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True, capture_output=True
        )
        bin_dir = prefix / ("Scripts" if os.name == "nt" else "bin")
        python = bin_dir / ("python.exe" if os.name == "nt" else "python")
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        spec = importlib.util.find_spec("datatailr")
        if spec is None or spec.origin is None:
            raise RuntimeError("the datatailr SDK is not installed in the test interpreter")
        parents = dict.fromkeys(
            [str(Path(spec.origin).parent.parent), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
        )
        # `site.addsitedir` (not a bare path line) so that the parent's own .pth files run too:
        # the editable platforge install and the SDK's install notice.
        lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
        (Path(purelib) / "_platforge_parent_site.pth").write_text(lines, encoding="utf-8")
        check = subprocess.run(
            [str(python), "-c", "import datatailr, sys; print(sys.prefix)"], capture_output=True, text=True
        )
        if check.returncode != 0 or check.stdout.strip() != str(prefix):
            raise RuntimeError(_report("the SDK toolchain venv cannot import datatailr", check.stdout, check.stderr))
        return cls(prefix=prefix, python=python, bin_dir=bin_dir)


def _clean_path(bin_dir: Path) -> str:
    """`bin_dir` first; no directory whose `dt` is the native CLI (it would win over the shim)."""
    keep = [str(bin_dir)]
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or entry == str(bin_dir):
            continue
        candidate = Path(entry) / "dt"
        if entry.rstrip("/") == str(Path(NATIVE_DT).parent) or (
            candidate.exists() and os.path.realpath(candidate) == NATIVE_DT
        ):
            continue
        keep.append(entry)
    return os.pathsep.join(keep)


class SdkEnv:
    """One signed-in SDK user: a HOME with the remote client's config and a working directory."""

    def __init__(
        self, toolchain: SdkToolchain, base_url: str, username: str, password: str, root: Path,
        admin: tuple[str, str] | None = None,
    ) -> None:
        self.toolchain = toolchain
        self.base_url = base_url
        self.username = username
        self.password = password
        self.root = root
        self.home = root / "home"
        self.cwd = root / "work"
        self.admin = admin or (username, password)
        self._snippets = 0

    # ── preparation ──────────────────────────────────────────────────────────────────────────

    def environ(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith("DATATAILR_") and k not in ("VIRTUAL_ENV", "PYTHONHOME")
        }
        env.update(
            HOME=str(self.home),
            USERPROFILE=str(self.home),
            PATH=_clean_path(self.toolchain.bin_dir),
            VIRTUAL_ENV=str(self.toolchain.prefix),
            DATATAILR_ALLOW_UNSAFE_SCHEDULING="true",
            NO_COLOR="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def _cli(self, *args: str, extra: dict[str, str] | None = None) -> str:
        env = self.environ() | (extra or {})
        proc = subprocess.run(
            [str(self.toolchain.python), "-m", "datatailr", *args],
            cwd=self.cwd, env=env, capture_output=True, text=True, timeout=120,
        )
        if proc.returncode != 0:
            raise AssertionError(_report(f"`datatailr {' '.join(args)}` failed ({proc.returncode})", proc.stdout, proc.stderr))
        return proc.stdout

    def prepare(self) -> SdkEnv:
        self.home.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        self._cli("login", extra={
            "DATATAILR_BASE_URL": self.base_url,
            "DATATAILR_USER_NAME": self.username,
            "DATATAILR_USER_PASSWORD": self.password,
        })
        self._cli("setup-cli", "--no-login")
        shim = self.toolchain.bin_dir / "dt"
        if SHIM_MARKER not in shim.read_text(encoding="utf-8"):
            raise AssertionError(f"setup-cli did not write the remote dt shim to {shim}")
        cfg = json.loads(self.config_path.read_text(encoding="utf-8"))
        if cfg.get("base_url") != self.base_url or not cfg.get("jwt_cookie"):
            raise AssertionError(f"login did not record the session: {cfg}")
        return self

    @property
    def config_path(self) -> Path:
        return self.home / ".dt" / "remote_client" / "remote_client.cfg"

    # ── running SDK code ─────────────────────────────────────────────────────────────────────

    def run(self, code: str, timeout: float = 180) -> Any:
        """Run `code` (with an `emit(value)` helper predefined) and return the JSON printed on
        its last non-empty stdout line."""
        self._snippets += 1
        script = self.cwd / f"snippet_{self._snippets}.py"
        script.write_text(PREAMBLE + textwrap.dedent(code), encoding="utf-8")
        try:
            proc = subprocess.run(
                [str(self.toolchain.python), str(script)],
                cwd=self.cwd, env=self.environ(), capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(_report(f"SDK snippet timed out after {timeout}s", exc.stdout, exc.stderr)) from None
        if proc.returncode != 0:
            raise AssertionError(_report(f"SDK snippet failed ({proc.returncode})", proc.stdout, proc.stderr))
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if not lines:
            raise AssertionError(_report("SDK snippet printed nothing", proc.stdout, proc.stderr))
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            raise AssertionError(_report("SDK snippet's last line is not JSON", proc.stdout, proc.stderr)) from None

    # ── other users ──────────────────────────────────────────────────────────────────────────

    @contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """An httpx client signed in as the sandbox administrator."""
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            client.post("/login", auth=self.admin).raise_for_status()
            yield client

    def add_user(self, username: str, password: str, groups: str | None = None) -> None:
        with self.api() as client:
            body = {"username": username, "password": password, "first-name": username.title(),
                    "last-name": "Test", "email": f"{username}@example.test"}
            if groups is not None:
                body["groups"] = groups
            response = client.post("/api/user/add", json=body)
            assert response.status_code == 200, response.text

    def as_user(self, username: str, password: str) -> SdkEnv:
        """A separate HOME signed in as `username` (create it first, e.g. with `add_user`)."""
        return SdkEnv(
            self.toolchain, self.base_url, username, password, self.root.parent / f"{self.root.name}-{username}",
            admin=self.admin,
        ).prepare()
