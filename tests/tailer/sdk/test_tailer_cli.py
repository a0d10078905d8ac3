"""The real `tailer` CLI (tailer-sdk 1.3.19) deploys every v1 type against the sandbox, as
contract §3.2 runs it: `deploy configuration X.json --context NO_CONTEXT --no-launch </dev/null`,
a deploy through a context, `check configuration`, TTT through D10's pickles, and secrets sealed
by the SDK's own `tailer_crypto.encrypt_payload`, which the sandbox must open.

Each test reads back what the sandbox stored (`/_sandbox/`) and the access log, so a deploy the
SDK merely *printed* as done cannot pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest

from tests.tailer.sandbox.conftest import Tailer
from tests.tailer.sdk.conftest import Sdk, make_sdk

pytestmark = pytest.mark.sdk

ACCOUNT = "000099"


@pytest.fixture(scope="module")
def secret(sdk: Sdk) -> tuple[str, dict[str, str]]:
    """A per-run service-account JSON, sealed by the SDK."""
    plaintext = json.dumps({"type": "service_account", "private_key_id": secrets.token_hex(8),
                            "private_key": secrets.token_urlsafe(48)})
    return plaintext, sdk.seal(plaintext)


def configurations(box: Tailer) -> dict[tuple[str, str], dict[str, Any]]:
    with box.client() as c:
        listed = c.get("/_sandbox/configurations").json()["configurations"]
    return {(x["configuration_type"], x["configuration_id"]): x for x in listed}


def last_deploy(box: Tailer, deployed_id: str) -> dict[str, Any]:
    with box.client() as c:
        deploys = c.get("/_sandbox/deploys").json()["deploys"]
    mine = [d for d in deploys if isinstance(d.get("resource"), dict) and d["resource"].get("configuration_id") == deployed_id]
    assert mine, f"no deploy of {deployed_id} recorded"
    return mine[-1]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def common(kind: str, configuration_id: str, **fields: Any) -> dict[str, Any]:
    return {"$schema": f"http://jsonschema.tailer.ai/schema/{kind}-veditor", "configuration_type": kind,
            "configuration_id": configuration_id, "environment": "DEV", "account": ACCOUNT, "activated": True,
            "archived": False, **fields}


def documents(sdk: Sdk, suffix: str, sealed: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One configuration per plain-JSON type (contract §1.6), with its side files written."""
    (sdk.work / f"doc-{suffix}.md").write_text(f"# Doc {suffix}\n")
    (sdk.work / f"ddl-{suffix}.json").write_text(json.dumps({"bq_table_description": "sales",
                                                            "bq_table_schema": [{"name": "id", "type": "INTEGER"}]}))
    (sdk.work / f"export-{suffix}.sql").write_text(f"SELECT {len(suffix)} AS n\n")
    doc_md = f"doc-{suffix}.md"
    return {
        "context": common("context", f"context_{suffix}", doc_md=doc_md, gcp_project_id="my-project", parameters={
            "in_bucket": {"value": f"bucket-{suffix}", "type": "string", "resource": "gcs_bucket", "description": "in"},
            "retries": {"value": 3, "type": "integer", "resource": "value", "description": "n"},
            "sa": {"value": sealed, "type": "object", "resource": "gcp_credentials_secret", "description": "key"}}),
        "storage-to-storage": common(
            "storage-to-storage", f"{ACCOUNT}-sts-{suffix}", version="2", doc_md=doc_md,
            filename_templates=[{"filename_template": "stores-{{FD_DATE}}.csv", "file_description": "stores"}],
            source={"type": "gcs", "gcp_project_id": "my-project", "gcs_source_bucket": "in-bucket", "gcs_source_prefix": "in",
                    "gcp_credentials_secret": sealed},
            destinations=[{"type": "gcs", "gcs_destination_bucket": "out-bucket", "gcs_destination_prefix": "out",
                           "gcp_credentials_secret": sealed}]),
        "storage-to-tables": common(
            "storage-to-tables", f"{ACCOUNT}-stt-{suffix}", version="2", doc_md=doc_md,
            source={"type": "gcs", "gcp_project_id": "my-project", "gcs_source_bucket": "in-bucket",
                    "gcs_source_prefix": "in", "gcp_credentials_secret": sealed},
            destinations=[{"type": "bigquery", "gcp_project_id": "my-project", "gbq_dataset": "sales",
                           "tables": [{"table_name": "sales", "filename_template": "sales_{{FD_DATE}}.csv",
                                       "ddl_file": f"ddl-{suffix}.json"}]}]),
        "table-to-storage": common(
            "table-to-storage", f"{ACCOUNT}-tts-{suffix}", version="3", doc_md=doc_md, gcp_project_id="my-project",
            gcs_dest_bucket="out-bucket", gcs_dest_prefix="exports",
            tasks=[{"task_id": "export_sales", "sql_file": f"export-{suffix}.sql", "output_filename": "sales.csv"}]),
        "workflow": common(
            "workflow", f"{ACCOUNT}-wf-{suffix}", version="2", gcp_project_id="my-project",
            authorized_job_ids=[f"storage-to-tables|{ACCOUNT}|{ACCOUNT}-stt-{suffix}|DEV|sales_{{{{FD_DATE}}}}.csv"],
            target_dag={"configuration_type": "table-to-table", "configuration_id": f"{ACCOUNT}_prepare_{suffix}_DEV"},
            schedule_interval_reset="0 0 * * *"),
        "vm-launcher": common(
            "vm-launcher", f"{ACCOUNT}-vm-{suffix}", version="2", gcp_project_id="my-project", gcs_bucket="vm-bucket",
            gcs_working_directory="work", script_to_execute=["bash run.sh"], start_date="2024, 1, 1",
            schedule_interval="0 3 * * *", credentials={"key.json": {"content": sealed}}),
    }


TYPES = ["context", "storage-to-storage", "storage-to-tables", "table-to-storage", "workflow", "vm-launcher"]


@pytest.mark.parametrize("kind", TYPES)
def test_the_cli_deploys_each_plain_json_type(sdk: Sdk, secret: tuple[str, dict[str, str]], kind: str) -> None:
    plaintext, sealed = secret
    suffix = secrets.token_hex(3)
    doc = documents(sdk, suffix, sealed)[kind]
    before = len(sdk.box.access_lines())
    out = sdk.deploy(f"{kind}-{suffix}.json", doc)
    deployed = f"{ACCOUNT}_{doc['configuration_id']}" if kind == "context" else doc["configuration_id"]
    assert f"Configuration successfully deployed with ID : {deployed}" in out, out

    # What the SDK sent, as the sandbox stored it: §2.3's transformations, and no plaintext secret.
    stored = configurations(sdk.box)[(kind, deployed)]
    assert stored["activated"] is True and stored["archived"] is False and stored["deploys"] == 1
    document = stored["document"]
    assert document["client_type"] == "tailer-sdk" and document["client_version"] == "1.3.19"
    assert document["direct_execution"] is True
    if "doc_md" in doc:
        assert base64.b64decode(document["doc_md"]).decode() == f"# Doc {suffix}\n"
    if kind == "storage-to-tables":
        ddl = json.loads(base64.b64decode(document["destinations"][0]["tables"][0]["ddl_infos"]))
        assert ddl["bq_table_description"] == "sales"
    if kind == "table-to-storage":
        assert base64.b64decode(document["tasks"][0]["sql"]).decode() == f"SELECT {len(suffix)} AS n\n"
    text = json.dumps(document)
    assert plaintext not in text and sealed["ciphertext"] not in text
    fingerprints = [v for v in _walk(document) if isinstance(v, dict) and v.get("sealed") is True]
    expected = {"context": 1, "storage-to-storage": 2, "storage-to-tables": 1, "vm-launcher": 1}.get(kind, 0)
    assert len(fingerprints) == expected
    assert all(f["plaintext_sha256"] == hashlib.sha256(plaintext.encode()).hexdigest() for f in fingerprints)

    payload = last_deploy(sdk.box, doc["configuration_id"])
    assert payload["deploy_cf"] is (kind in ("storage-to-storage", "storage-to-tables"))
    assert payload["execute_dag"] is False and payload["project_profile"] == "my-project"
    assert payload["uid"] == "sandbox-user"
    calls = [(x["method"], x["path"], x["status"]) for x in sdk.box.access_lines()[before:]]
    assert ("PUT", "/configuration/v2", 200) in calls and ("POST", "/securetoken/v1/token", 200) in calls
    assert all(status < 400 for _, _, status in calls), calls


def _walk(value: Any) -> list[Any]:
    found = [value]
    if isinstance(value, dict):
        for item in value.values():
            found.extend(_walk(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_walk(item))
    return found


def test_a_redeploy_is_an_upsert_and_revives_an_archived_configuration(sdk: Sdk, secret: tuple[str, dict[str, str]]) -> None:
    suffix = secrets.token_hex(3)
    doc = documents(sdk, suffix, secret[1])["table-to-storage"]
    sdk.deploy(f"tts-{suffix}.json", doc)
    with sdk.box.client() as ops:
        response = ops.post("/v1/configuration/status", json={
            "action": "set_configuration_status", "activated": False, "archived": True, "account": ACCOUNT,
            "environment": "DEV", "configuration_type": "table-to-storage", "configuration_id": doc["configuration_id"]})
        assert response.json() == {"message": "ok"}
    assert configurations(sdk.box)[("table-to-storage", doc["configuration_id"])]["archived"] is True
    doc["gcs_dest_prefix"] = "exports-v2"
    sdk.deploy(f"tts-{suffix}.json", doc)
    stored = configurations(sdk.box)[("table-to-storage", doc["configuration_id"])]
    assert stored["deploys"] == 2 and stored["archived"] is False and stored["activated"] is True
    assert stored["document"]["gcs_dest_prefix"] == "exports-v2"


def test_a_deploy_through_a_context(sdk: Sdk, secret: tuple[str, dict[str, str]]) -> None:
    """D4 answers the context; the SDK applies it client-side and rewrites the id (§1.2)."""
    plaintext, sealed = secret
    suffix = secrets.token_hex(3)
    docs = documents(sdk, suffix, sealed)
    sdk.deploy(f"ctx-{suffix}.json", docs["context"])
    context_id = f"{ACCOUNT}_context_{suffix}"
    sts = docs["storage-to-storage"]
    sts["source"]["gcs_source_bucket"] = "{{in_bucket}}"
    sts["destinations"][0]["gcp_credentials_secret"] = "{{sa}}"
    out = sdk.deploy(f"sts-ctx-{suffix}.json", sts, context=context_id)
    deployed = f"{ACCOUNT}_context_{suffix}_{sts['configuration_id']}"
    assert f"Configuration successfully deployed with ID : {deployed}" in out, out
    stored = configurations(sdk.box)[("storage-to-storage", deployed)]["document"]
    assert stored["source"]["gcs_source_bucket"] == f"bucket-{suffix}"
    assert stored["configuration_name"] == sts["configuration_id"]
    assert stored["context-id"] == context_id and stored["context-version"] == "1"
    assert stored["destinations"][0]["gcp_credentials_secret"]["plaintext_sha256"] == hashlib.sha256(plaintext.encode()).hexdigest()


def test_a_deploy_naming_an_unknown_context_fails(sdk: Sdk, secret: tuple[str, dict[str, str]]) -> None:
    suffix = secrets.token_hex(3)
    sts = documents(sdk, suffix, secret[1])["storage-to-storage"]
    (sdk.work / f"sts-{suffix}.json").write_text(json.dumps(sts))
    result = sdk.run("deploy", "configuration", f"sts-{suffix}.json", "--context", f"{ACCOUNT}_nope_{suffix}", "--no-launch")
    assert result.returncode != 0 or "successfully deployed" not in result.stdout
    assert "The context requested is not available." in result.stdout
    assert ("storage-to-storage", f"{ACCOUNT}_nope_{suffix}_{sts['configuration_id']}") not in configurations(sdk.box)


def test_check_configuration(sdk: Sdk, secret: tuple[str, dict[str, str]]) -> None:
    suffix = secrets.token_hex(3)
    stt = documents(sdk, suffix, secret[1])["storage-to-tables"]
    (sdk.work / f"check-{suffix}.json").write_text(json.dumps(stt))
    assert "The configuration is valid." in sdk.ok("check", "configuration", f"check-{suffix}.json")
    del stt["source"]["gcs_source_bucket"]
    (sdk.work / f"bad-{suffix}.json").write_text(json.dumps(stt))
    result = sdk.run("check", "configuration", f"bad-{suffix}.json")
    assert "source.gcs_source_bucket is mandatory" in result.stdout, result.stdout
    assert ("storage-to-tables", stt["configuration_id"]) not in configurations(sdk.box)


def test_a_deploy_missing_a_required_field_fails_with_the_sandbox_message(sdk: Sdk, secret: tuple[str, dict[str, str]]) -> None:
    suffix = secrets.token_hex(3)
    wf = documents(sdk, suffix, secret[1])["workflow"]
    del wf["target_dag"]
    (sdk.work / f"wf-{suffix}.json").write_text(json.dumps(wf))
    result = sdk.run("deploy", "configuration", f"wf-{suffix}.json", "--context", "NO_CONTEXT", "--no-launch")
    assert result.returncode != 0
    assert "target_dag is mandatory" in result.stdout + result.stderr
    assert ("workflow", wf["configuration_id"]) not in configurations(sdk.box)


def test_a_secret_sealed_with_another_key_is_refused(sdk: Sdk, tmp_path: Any, secret: tuple[str, dict[str, str]]) -> None:
    from Crypto.PublicKey import RSA

    other = make_sdk(sdk.python, sdk.box, tmp_path / "other")
    (other.home / "tailer_public_key.pem").write_bytes(RSA.generate(1024).publickey().export_key())  # any key but the sandbox's
    foreign = other.seal(secrets.token_urlsafe(16))
    suffix = secrets.token_hex(3)
    sts = documents(sdk, suffix, foreign)["storage-to-storage"]
    (sdk.work / f"foreign-{suffix}.json").write_text(json.dumps(sts))
    result = sdk.run("deploy", "configuration", f"foreign-{suffix}.json", "--context", "NO_CONTEXT", "--no-launch")
    assert result.returncode != 0
    assert "cannot be opened with this sandbox's key" in result.stdout
    assert ("storage-to-storage", sts["configuration_id"]) not in configurations(sdk.box)


def test_table_to_table_through_the_dag_generator(sdk: Sdk) -> None:
    """D10: the SDK's pickled configuration and generated DAG, loaded without running code."""
    suffix = secrets.token_hex(3)
    (sdk.work / f"prep-{suffix}.sql").write_text("SELECT 1 AS x\n")
    (sdk.work / f"agg-{suffix}.sql").write_text("SELECT 2 AS y\n")
    ttt = common("table-to-table", f"{ACCOUNT}_prepare_{suffix}", short_description="Prepare sales",
                 start_date="2024, 1, 1", schedule_interval="None", default_gcp_project_id="my-project",
                 default_bq_dataset="sales", default_write_disposition="WRITE_TRUNCATE",
                 task_dependencies=["prep_sales >> agg_sales"],
                 workflow=[{"id": "prep_sales", "short_description": "prep", "sql_file": f"prep-{suffix}.sql", "table_name": "prep"},
                           {"id": "agg_sales", "short_description": "agg", "sql_file": f"agg-{suffix}.sql", "table_name": "agg"}])
    before = len(sdk.box.access_lines())
    out = sdk.deploy(f"ttt-{suffix}.json", ttt)
    dag = f"{ACCOUNT}_prepare_{suffix}_DEV"
    assert f"DAG {dag} deployed." in out, out
    stored = configurations(sdk.box)[("gbq-to-gbq", dag)]
    assert [t["id"] for t in stored["document"]["workflow"]] == ["prep_sales", "agg_sales"]
    assert stored["document"]["short_description"] == "Prepare sales"
    calls = [(x["method"], x["path"], x["status"]) for x in sdk.box.access_lines()[before:]]
    assert ("PUT", "/dag-generator-v2", 200) in calls
    # The ops API names it by either type name.
    with sdk.box.client() as ops:
        for kind in ("table-to-table", "gbq-to-gbq"):
            launched = ops.post("/v1/dag/launch", json={"action": "launch_job", "account": ACCOUNT, "environment": "DEV",
                                                         "configuration_type": kind, "configuration_id": dag})
            assert launched.status_code == 200 and launched.json()["run_id"].count("-") == 6, launched.text
        runs = ops.post("/v1/dag/status", json={"action": "get_last_status", "account": ACCOUNT, "environment": "DEV",
                                                "configuration_type": "table-to-table", "configuration_id": dag}).json()
        assert [r["job_id"] for r in runs["results"]] == [f"gbq-to-gbq|{dag}"] * 2


def test_a_ttt_without_direct_execution_asks_d9_first(sdk: Sdk) -> None:
    """`direct_execution: false`: the SDK asks D9 whether the DAG exists; 404 lets it deploy, 200
    makes it ask before overwriting (stdin is /dev/null, so it does not)."""
    suffix = secrets.token_hex(3)
    (sdk.work / f"one-{suffix}.sql").write_text("SELECT 1 AS x\n")
    ttt = common("table-to-table", f"{ACCOUNT}_d9_{suffix}", short_description="d9", direct_execution=False,
                 start_date="2024, 1, 1", schedule_interval="None", default_gcp_project_id="my-project",
                 default_bq_dataset="sales", default_write_disposition="WRITE_TRUNCATE", task_dependencies=["only_task"],
                 workflow=[{"id": "only_task", "short_description": "one", "sql_file": f"one-{suffix}.sql", "table_name": "t"}])
    dag = f"{ACCOUNT}_d9_{suffix}_DEV"
    before = len(sdk.box.access_lines())
    assert f"DAG {dag} deployed." in sdk.deploy(f"d9-{suffix}.json", ttt)
    calls = [(x["method"], x["path"], x["status"]) for x in sdk.box.access_lines()[before:]]
    assert calls.count(("PUT", "/dag-generator-v2", 404)) == 1 and calls.count(("PUT", "/dag-generator-v2", 200)) == 1
    again = sdk.run("deploy", "configuration", f"d9-{suffix}.json", "--context", "NO_CONTEXT", "--no-launch")
    assert f"The DAG {dag} already exists" in again.stdout
    assert configurations(sdk.box)[("gbq-to-gbq", dag)]["deploys"] == 1


def test_a_wrong_refresh_token_stops_the_cli(tailer_python: Any, sdk_box: Tailer, tmp_path: Any) -> None:
    intruder = make_sdk(tailer_python, sdk_box, tmp_path, refresh_token=secrets.token_urlsafe(32))
    (intruder.work / "ctx.json").write_text(json.dumps(common("context", "context_x", doc_md="x.md", gcp_project_id="my-project",
                                                              parameters={})))
    before = len(sdk_box.access_lines())
    result = intruder.run("deploy", "configuration", "ctx.json", "--context", "NO_CONTEXT", "--no-launch")
    assert "successfully deployed" not in result.stdout
    calls = [(x["method"], x["path"], x["status"]) for x in sdk_box.access_lines()[before:]]
    assert ("POST", "/securetoken/v1/token", 400) in calls
    assert not any(method == "PUT" and status == 200 for method, _, status in calls), calls


def test_the_token_the_sdk_prints_works_on_the_ops_api(sdk: Sdk, secret: tuple[str, dict[str, str]]) -> None:
    """The docs' recipe: `tailer auth get-token | awk '/User token :/ {print $4}'`, then curl T7."""
    out = sdk.ok("auth", "get-token")
    token = next(line.split()[3] for line in out.splitlines() if line.startswith("User token :"))
    suffix = secrets.token_hex(3)
    doc = documents(sdk, suffix, secret[1])["workflow"]
    sdk.deploy(f"wf-token-{suffix}.json", doc)
    with sdk.box.client(token) as ops:
        body = {"action": "set_configuration_status", "activated": False, "archived": False, "account": ACCOUNT,
                "environment": "DEV", "configuration_type": "workflow", "configuration_id": doc["configuration_id"]}
        assert ops.post("/v1/configuration/status", json=body).json() == {"message": "ok"}
        reset = {"action": "reset_workflow_status", "account": ACCOUNT, "environment": "DEV",
                 "configuration_type": "workflow", "configuration_id": doc["configuration_id"]}
        assert ops.post("/v1/workflow/status", json=reset).json() == {"code": 200, "data": {}, "message": "ok"}
    stored = configurations(sdk.box)[("workflow", doc["configuration_id"])]
    assert stored["activated"] is False and stored["resets"] == 1


def test_create_configuration_writes_the_sandbox_template(sdk: Sdk) -> None:
    name = f"new-{secrets.token_hex(3)}.json"
    sdk.ok("create", "configuration", "storage-to-storage", name)
    template = json.loads((sdk.work / name).read_text())
    assert template["configuration_type"] == "storage-to-storage"
    assert {"source", "destinations", "filename_templates"} <= set(template)
