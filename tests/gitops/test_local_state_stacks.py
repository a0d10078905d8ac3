"""The stacks of the platforms without a platform state backend (Dataiku, Dataloop, DataChain
Studio, Tailer), run through the ci/ scripts as their self-hosted-runner jobs run them, each
against its platform's embedded sandbox named by $PLATFORGE_ENDPOINT: plan (exit 2, the comment
written), apply of the saved plan, a second plan (exit 0), drift (exit 0, the HTML page and the
job summary written; Tailer's objects are "not observable"), the state in $PLATFORGE_STATE_DIR
(outside the repository) and, with that variable unset, every script failing before a request
with exit 1 naming it."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from platforge.provider.sandbox import EmbeddedServer

from .conftest import GitOpsRepo, make_repo

MARKER = "gitops-MARKER-local-" + secrets.token_urlsafe(12)  # generated per run


@dataclass
class Platform:
    """One platform's sandbox, started in this process, and what its stack's jobs need."""

    stack: str               # the directory under stacks/
    name: str                # its [stack] name: names the state file
    url: str                 # what $PLATFORGE_ENDPOINT is set to
    env: dict[str, str]      # the job's credentials and secrets (the GitHub environment's)
    access_log: str
    creates: int             # objects the first plan creates
    server: EmbeddedServer = field(repr=False)
    patch: Callable[[Path], None] = lambda stack_dir: None  # changes to the copy, before any run
    check: Callable[[], None] = lambda: None                # the objects are on the platform
    admin_user = admin_password = ""  # Datatailr's credentials: empty, as a secret the environment lacks

    def requests(self) -> int:
        try:
            with open(self.access_log, encoding="utf-8") as fh:
                return sum(1 for line in fh if line.strip())
        except FileNotFoundError:
            return 0


def dataiku(tmp: Path) -> Platform:
    from platforge.provider.dataiku.client import DataikuClient
    from platforge.provider.dataiku.sandbox import SandboxConfig, create_app

    key = "ADMIN-" + secrets.token_hex(12)
    log = str(tmp / "access.jsonl")
    server = EmbeddedServer(create_app(SandboxConfig(db_path=str(tmp / "dss.db"), admin_api_key=key,
                                                     access_log=log, build_seconds=0.05))).start()

    def check() -> None:
        dss = DataikuClient(server.url, key)
        try:
            assert {"analysts", "data_engineers"} <= {g["name"] for g in dss.list_groups()}
            assert "SALES_MARTS" in {p["projectKey"] for p in dss.list_projects()}
        finally:
            dss.close()

    return Platform("analytics-dataiku", "gitops-analytics-dataiku", server.url,
                    {"DATAIKU_API_KEY": key, "DATAIKU_WAREHOUSE_PASSWORD": MARKER}, log, 5, server, check=check)


def dataloop(tmp: Path) -> Platform:
    import httpx
    from platforge.provider.dataloop.sandbox import SandboxConfig, create_app

    email, password = "admin@sandbox.local", "pw-" + secrets.token_hex(12)
    log = str(tmp / "access.jsonl")
    server = EmbeddedServer(create_app(SandboxConfig(db_path=str(tmp / "dataloop.db"), admin_password=password,
                                                     admin_email=email, access_log=log, org="acme"))).start()

    def check() -> None:
        token = httpx.post(f"{server.url}/token?default", json={"username": email, "password": password,
                                                                "type": "user_credentials"}).json()["id_token"]
        projects = httpx.get(f"{server.url}/api/v1/projects", headers={"Authorization": f"Bearer {token}"}).json()
        assert "vision-gitops" in {p["name"] for p in projects}

    return Platform("vision-dataloop", "gitops-vision-dataloop", server.url,
                    {"DATALOOP_EMAIL": email, "DATALOOP_PASSWORD": password,
                     "DATALOOP_OPENAI_OPTIONS": json.dumps({"key": "OPENAI_API_KEY", "value": MARKER})},
                    log, 5, server, check=check)


def studio(tmp: Path) -> Platform:
    import httpx
    from platforge.provider.studio.sandbox import SandboxConfig, create_app

    token = "isat_" + secrets.token_urlsafe(32)
    log = str(tmp / "access.jsonl")
    server = EmbeddedServer(create_app(SandboxConfig(db_path=str(tmp / "studio.db"), token=token, team="acme",
                                                     access_log=log))).start()

    def check() -> None:
        groups = httpx.get(f"{server.url}/api/datachain/rbac/access-groups/", params={"team_name": "acme"},
                           headers={"Authorization": f"token {token}"}).json()
        assert {"ml-engineers", "ml-reviewers"} <= {g["name"] for g in groups}

    return Platform("ml-studio", "gitops-ml-studio", server.url, {"DATACHAIN_STUDIO_TOKEN": token}, log, 4, server,
                    check=check)


def tailer(tmp: Path) -> Platform:
    import httpx
    from platforge.provider.tailer.sandbox import SandboxConfig, create_app, public_key_pem

    refresh, api_key = "rt-" + secrets.token_urlsafe(24), "key-" + secrets.token_urlsafe(24)
    log = str(tmp / "access.jsonl")
    app = create_app(SandboxConfig(db_path=str(tmp / "tailer.db"), refresh_token=refresh, firebase_api_key=api_key,
                                   access_log=log, project_profiles="retail-dev"))
    server = EmbeddedServer(app).start()
    home = tmp / "tailer-home"  # $TAILER_HOME on the runner: where the SDK keeps Tailer's public key
    home.mkdir()
    (home / "tailer_public_key.pem").write_bytes(public_key_pem(app))

    def patch(stack_dir: Path) -> None:
        # $PLATFORGE_ENDPOINT overrides `endpoint` (the SDK proxy) only: the ops API and the
        # token exchange are pointed at the sandbox in the copy.
        platform = stack_dir / "platform.toml"
        text = platform.read_text()
        for key, value in (("ops_endpoint", server.url), ("securetoken_url", f"{server.url}/securetoken/v1/token")):
            text, count = re.subn(rf'^{key} = "[^"]*"', f'{key} = "{value}"', text, flags=re.M)
            assert count == 1, key
        platform.write_text(text)

    def check() -> None:
        token = httpx.post(f"{server.url}/securetoken/v1/token", params={"key": api_key},
                           json={"grantType": "refresh_token", "refreshToken": refresh}).json()["id_token"]
        stored = httpx.get(f"{server.url}/_sandbox/configurations", headers={"Authorization": f"Bearer {token}"})
        assert {(c["configuration_type"], c["configuration_id"]) for c in stored.json()["configurations"]} == {
            ("context", "000099_retail_gitops"), ("storage-to-tables", "orders_load")}

    return Platform("retail-tailer", "gitops-retail-tailer", f"{server.url}/",
                    {"PLATFORGE_TAILER_REFRESH_TOKEN": refresh, "PLATFORGE_TAILER_FIREBASE_API_KEY": api_key,
                     "RETAIL_LOADER_SA_JSON": json.dumps({"type": "service_account", "private_key": MARKER}),
                     "TAILER_HOME": str(home)}, log, 2, server, patch=patch, check=check)


PLATFORMS = {"dataiku": dataiku, "dataloop": dataloop, "studio": studio, "tailer": tailer}


@pytest.fixture(params=sorted(PLATFORMS))
def local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[GitOpsRepo, Platform, Path]]:
    """(a copy of the example pointed at the platform's sandbox, the platform, the runner's
    state directory: outside the repository, as on the self-hosted runner's disk)."""
    box = tmp_path / "sandbox"
    box.mkdir()
    platform = PLATFORMS[request.param](box)
    try:
        repo = make_repo(platform, tmp_path)
        state_dir = tmp_path / "runner" / "platforge-state"
        repo.env.update(platform.env, PLATFORGE_ENDPOINT=platform.url, PLATFORGE_STATE_DIR=str(state_dir))
        platform.patch(repo.root / "stacks" / platform.stack)
        yield repo, platform, state_dir
    finally:
        platform.server.stop()


def test_a_local_state_stack_through_the_ci_scripts(local: tuple[GitOpsRepo, Platform, Path]) -> None:
    repo, platform, state_dir = local
    stack = platform.stack

    # Without the runner's PLATFORGE_STATE_DIR (a GitHub-hosted runner): exit 1 naming the
    # variable and the stack's file, before any request and without writing a state anywhere.
    unset = {k: v for k, v in repo.env.items() if k != "PLATFORGE_STATE_DIR"}
    result = _run(repo, unset, "plan.sh", "--changes-ok", stack)
    assert result.returncode == 1, (result.stdout, result.stderr)  # --changes-ok never hides it
    assert re.search(rf"stacks/{stack}/platform.toml:\d+ \[state.path\]: the environment variable "
                     "PLATFORGE_STATE_DIR .* is not set", result.stderr), result.stderr
    assert "PLATFORGE_STATE_DIR" in repo.out(f"plan-{stack}.md").read_text()  # the comment says why
    assert repo.outputs()["changes"] == "error"
    assert platform.requests() == 0
    assert not state_dir.exists() and not list(repo.root.rglob("*.lock"))

    # The pull request: changes (exit 2), the comment and the saved plan.
    plan = repo.run("plan.sh", stack, env=repo.summary_env())
    assert plan.returncode == 2, plan.stderr
    comment = repo.out(f"plan-{stack}.md").read_text(encoding="utf-8")
    assert f"<!-- platforge:plan:{platform.name} -->" in comment
    assert f"{platform.creates} to create" in comment, comment
    assert repo.outputs()["changes"] == "true"
    saved = json.loads(repo.out(f"plan-{stack}.json").read_text())
    assert saved["target"]["endpoint"].rstrip("/") == platform.url.rstrip("/")  # $PLATFORGE_ENDPOINT

    # The merge: apply exactly the saved plan; the state is in the runner's directory.
    applied = repo.run("apply.sh", stack)
    assert applied.returncode == 0, applied.stderr
    assert f"Apply complete: {platform.creates} applied." in applied.stdout, applied.stdout
    platform.check()
    assert platform.requests() > 0  # the access log counts: the "no request" check above is not vacuous
    state = state_dir / platform.name / "state.json"
    assert state.is_file() and json.loads(state.read_text())
    assert (state_dir / platform.name / "fingerprint.key").is_file()  # its own key: no stack shares one
    assert not list(repo.root.rglob(".platforge")) and not list(repo.root.rglob("state.json*"))

    # The next pull request: nothing to do.
    replan = repo.run("plan.sh", stack)
    assert replan.returncode == 0, replan.stderr
    assert repo.outputs()["changes"] == "false"

    # The nightly drift: in sync (Tailer: nothing observable, which is not drift), the page and
    # the job summary from the same run.
    drift = repo.run("drift.sh", stack, env=repo.summary_env())
    assert drift.returncode == 0, drift.stdout + drift.stderr
    page = repo.out(f"drift-{stack}.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and platform.name in page
    summary = repo.out(f"drift-{stack}.md").read_text(encoding="utf-8")
    assert f"<!-- platforge:drift:{platform.name} -->" in summary
    if stack == "retail-tailer":
        assert "not_observable" in page or "not observable" in page
        assert "not observable" in summary.lower()

    # No secret value reaches the comment, the plan, the reports or the state.
    written = [repo.out(name).read_text() for name in (f"plan-{stack}.md", f"plan-{stack}.json",
                                                       f"drift-{stack}.html", f"drift-{stack}.md")]
    assert all(MARKER not in text for text in [*written, state.read_text(), repo.step_summary.read_text()])


def _run(repo: GitOpsRepo, env: dict[str, str], *args: str):
    """A script with exactly `env` (repo.run merges into the repository's environment)."""
    saved = repo.env
    repo.env = env
    try:
        return repo.run(*args)
    finally:
        repo.env = saved
