"""`examples/tailer`, as a user runs it: pointed at a fresh embedded sandbox (its endpoints, the
public key under `$TAILER_HOME`, credentials and secrets generated per run in the environment), it
plans, deploys every configuration it declares (the context applied to the copy deployed with it),
converges (the plan after it is empty and sends nothing, a second apply sends nothing), and drift
exits by policy: 0 with every object `not_observable` and its last run shown, 2 once a declared
change is not applied. No secret or credential reaches the files, the state or the output."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
from pathlib import Path

import pytest

from .conftest import DEPLOY, STATUS, World, sha256

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "tailer"
DEPLOYED = {("context", "000099_retail_dev"), ("storage-to-storage", "000099_retail_dev_stores_copy"),
            ("storage-to-tables", "orders_load"), ("table-to-storage", "sales_export"),
            ("workflow", "export_after_load"), ("vm-launcher", "store_refresh")}


def example_against(world: World, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    stack = world.tmp_path / "example"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".platforge"))
    platform = stack / "platform.toml"
    text = platform.read_text()
    for key, value in (("endpoint", f"{world.url}/"), ("ops_endpoint", world.url),
                       ("securetoken_url", f"{world.url}/securetoken/v1/token")):
        text, count = re.subn(rf'^{key} = "[^"]*"', f'{key} = "{value}"', text, flags=re.M)
        assert count == 1, key
    platform.write_text(text)
    monkeypatch.setenv("TAILER_HOME", str(world.public_key.parent))  # where the SDK keeps the public key
    values = {name: json.dumps({"type": "service_account", "private_key": secrets.token_hex(24)})
              for name in ("RETAIL_LOADER_SA_JSON", "RETAIL_VM_SA_JSON")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return stack, values


def test_the_files_hold_references_and_no_secret() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(EXAMPLE.glob("*.toml")))
    assert 'refresh_token_env = "PLATFORGE_TAILER_REFRESH_TOKEN"' in text
    assert text.count("from_env") == 4 and "private_key" not in text
    assert (EXAMPLE / "README.md").is_file()


def test_the_example_deploys_converges_and_drift_exits_by_policy(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    stack, values = example_against(world, monkeypatch)
    mark = world.mark()
    first = world.cli("plan", stack)
    assert first.exit_code == 2, first.output
    assert "6 to create" in first.stdout, first.stdout
    assert world.requests_since(mark) == []  # planned from the (empty) state: nothing to read

    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.output
    assert world.count(mark, DEPLOY) == 6 and world.count(mark, STATUS) == 0
    stored = world.configurations()
    assert set(stored) == DEPLOYED
    copy = stored[("storage-to-storage", "000099_retail_dev_stores_copy")]["document"]
    assert copy["source"]["gcs_source_bucket"] == "retail-dev-landing"  # the context, applied client-side
    assert copy["context-id"] == "000099_retail_dev" and copy["configuration_name"] == "stores_copy"
    assert copy["source"]["gcp_credentials_secret"]["plaintext_sha256"] == sha256(values["RETAIL_LOADER_SA_JSON"])
    export = stored[("table-to-storage", "sales_export")]["document"]
    sql = (EXAMPLE / "sql" / "sales_per_store.sql").read_text()
    assert base64.b64decode(export["tasks"][0]["sql"]).decode() == sql
    vm = stored[("vm-launcher", "store_refresh")]["document"]
    assert vm["credentials"]["loader.json"]["content"]["plaintext_sha256"] == sha256(values["RETAIL_VM_SA_JSON"])
    assert all(c["activated"] and not c["archived"] for c in stored.values())

    mark = world.mark()
    again = world.cli("plan", stack)
    assert again.exit_code == 0 and "No changes" in again.stdout, again.output
    second = world.cli("apply", stack, "--yes")
    assert second.exit_code == 0, second.output
    assert world.requests_since(mark) == []  # not even a token exchange

    world.seed_run("vm-launcher", "store_refresh", "SUCCESS")
    drift = world.cli("drift", stack, "--format", "json")
    assert drift.exit_code == 0, drift.output  # not_observable is reported, never failed
    report = json.loads(drift.stdout)
    assert report["summary"]["not_observable"] == 6 and report["in_sync"] == []
    runs = {f["address"]: f.get("run_status", {}).get("status") for f in report["findings"]}
    assert runs["vm_launcher.store_refresh"] == "SUCCESS" and runs["workflow.export_after_load"] == "never_run"
    assert runs["context.retail_dev"] is None  # nothing runs a context: no probe

    vm_file = stack / "vm.toml"
    vm_file.write_text(vm_file.read_text().replace("activated = true", "activated = false"))
    changed = world.cli("drift", stack, "--format", "json")
    assert changed.exit_code == 2, changed.output  # a declared change not applied yet: drift by policy
    causes = {f["address"]: f["cause"] for f in json.loads(changed.stdout)["findings"]}
    assert causes["vm_launcher.store_refresh"] == "declared_change"
    mark = world.mark()
    paused = world.cli("apply", stack, "--yes")
    assert paused.exit_code == 0, paused.output
    assert world.count(mark, STATUS) == 1 and world.count(mark, DEPLOY) == 0  # a pause is one status call
    assert world.configurations()[("vm-launcher", "store_refresh")]["activated"] is False

    state = (stack / ".platforge" / "state.json").read_text(encoding="utf-8")
    for value in (*values.values(), world.refresh_token, world.api_key):
        assert value not in state
        for output in (first, applied, again, second, drift, changed, paused):
            assert value not in output.output
