"""The deploy body platforge sends for each type equals what tailer-sdk 1.3.19 sends for the same
authoring JSON. The expected body is derived here from the SDK's own steps, transcribed from its
source (`tailer_configuration_manager.process_configuration_file` and `deploy_configuration`,
`tailer_misc.read_file_as_utf_8`), independently of platforge's code; the fixtures under
tests/tailer/fixtures/authoring are the shared authoring JSON (the sandbox helper replays them
through the real SDK CLI)."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import PROJECT, World, sha256

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "authoring"
TABLE = {"context": "context", "storage-to-storage": "storage_to_storage", "storage-to-tables": "storage_to_tables",
         "table-to-storage": "table_to_storage", "workflow": "workflow", "vm-launcher": "vm_launcher"}
PLACEHOLDER = "__SECRET__"
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# ---- the SDK's steps, transcribed ---------------------------------------------------------

def _read_file_as_utf_8(path: str) -> bytes | None:
    with open(path, encoding="utf-8") as fh:  # text mode: universal newlines, as the SDK reads
        data = fh.read()
    return data.encode("utf-8") if data else None


def sdk_process_configuration_file(conf_file: str) -> dict[str, Any]:
    conf: dict[str, Any] = json.loads(Path(conf_file).read_text(encoding="utf-8"))
    version = conf.get("version", "1")
    if not isinstance(conf.get("direct_execution", None), bool):
        conf["direct_execution"] = True
    base = os.path.dirname(conf_file) + "/"
    if conf["configuration_type"] == "table-to-storage" and int(version) >= 3:
        for job in conf["tasks"]:
            if "sql_file" in job:
                job["sql"] = str(base64.b64encode(_read_file_as_utf_8(base + job["sql_file"]) or b""), "utf-8")
        if "sql_file" in conf:
            conf["sql"] = str(base64.b64encode(_read_file_as_utf_8(base + conf["sql_file"]) or b""), "utf-8")
    elif conf["configuration_type"] == "storage-to-tables":
        for destination in conf["destinations"]:
            for table in destination["tables"]:
                if "ddl_mode" not in table or table["ddl_mode"] == "file":
                    payload = _read_file_as_utf_8(base + table["ddl_file"])
                    json.loads(payload or b"")
                    table["ddl_infos"] = str(base64.b64encode(payload or b""), "utf-8")
                if "doc_md" in table:
                    table["doc_md"] = str(base64.b64encode(_read_file_as_utf_8(base + table["doc_md"]) or b""), "utf-8")
    try:
        conf["doc_md"] = str(base64.b64encode(_read_file_as_utf_8(base + conf["doc_md"])), "utf-8")  # type: ignore[arg-type]
    except Exception:
        conf["doc_md"] = str(base64.b64encode(bytes("No documentation provided.", "utf-8")), "utf-8")
    return conf


def sdk_deploy_payload(conf: dict[str, Any], project_profile: str, uid: str) -> dict[str, Any]:
    conf = copy.deepcopy(conf)
    conf["client_type"] = "tailer-sdk"
    conf["client_version"] = "1.3.19"
    deploy_cf = conf["configuration_type"] in ("storage-to-storage", "storage-to-tables", "xml-conversion")
    return {"resource": conf, "project_profile": project_profile, "uid": uid, "deploy_cf": deploy_cf,
            "execute_dag": False}


# ---- authoring JSON as a stack --------------------------------------------------------------

def toml_value(value: Any) -> str:
    if value == PLACEHOLDER:
        return '{ from_env = "T_SECRET" }'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_key(key: str) -> str:
    return key if BARE_KEY.match(key) else json.dumps(key)


def as_stack_table(conf: dict[str, Any]) -> str:
    table = TABLE[conf["configuration_type"]]
    lines = [f"[{table}.fixture]"] + [f"{toml_key(k)} = {toml_value(v)}" for k, v in conf.items()]
    return "\n".join(lines) + "\n"


def expected_secrets(value: Any, plaintext: str) -> Any:
    if value == PLACEHOLDER:
        return {"sealed": True, "plaintext_sha256": sha256(plaintext)}
    if isinstance(value, dict):
        return {k: expected_secrets(v, plaintext) for k, v in value.items()}
    if isinstance(value, list):
        return [expected_secrets(v, plaintext) for v in value]
    return value


def without_ciphertext(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_ciphertext(v) for k, v in value.items() if k != "ciphertext_sha256"}
    if isinstance(value, list):
        return [without_ciphertext(v) for v in value]
    return value


@pytest.mark.parametrize("configuration_type", sorted(TABLE))
def test_platforge_sends_what_the_sdk_sends(world: World, configuration_type: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    plaintext = "s-" + secrets.token_hex(12)
    monkeypatch.setenv("T_SECRET", plaintext)
    stack = world.tmp_path / "stack"
    shutil.copytree(FIXTURES, stack)
    conf_file = stack / f"{configuration_type}.json"
    conf = json.loads(conf_file.read_text(encoding="utf-8"))
    (stack / "main.toml").write_text(world.platform_table() + as_stack_table(conf), encoding="utf-8")
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    sent = without_ciphertext(world.deploys()[-1])
    expected = expected_secrets(sdk_deploy_payload(sdk_process_configuration_file(str(conf_file)), PROJECT,
                                                   "sandbox-user"), plaintext)
    assert sent == expected
