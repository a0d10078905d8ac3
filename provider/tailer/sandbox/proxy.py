"""The SDK API proxy (contract §2.1, D1-D10), at the root of the port as `tailer_api_endpoint`.

Bodies are `{"payload": {...}}` both ways; errors `{"payload": {"message": ...}}`. The SDK reads
only the statuses and keys listed in the contract, so every answer keeps exactly those.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..._kit.sandbox.body import check_json, json_body
from .configurations import record_deploy, upsert
from .crypto import Keys, SealedError
from .errors import BadRequest, NotFound
from .rules import (
    LAUNCHABLE,
    TTT,
    canonical_type,
    check_configuration,
    deployed_id,
    valid_account,
    valid_environment,
    valid_id,
)
from .runs import launch
from .store import Db, store_of
from .unpickle import jsonable, load_b64

__all__ = ["router"]

router = APIRouter(tags=["SDK API proxy (D1-D10)"])

_DAG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\.py")
_TASK_ID = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+[a-zA-Z0-9]")
_PROFILE = re.compile(r"[a-z][a-z0-9-]{4,61}[a-z0-9]")
HELP = {
    "deploy_help": "tailer deploy configuration <file.json> [--context <id>|NO_CONTEXT] [--no-launch]: deploys a "
                   "configuration to the Tailer sandbox (an upsert keyed on account, environment, type and id).",
    "check_help": "tailer check configuration <file.json>: checks a configuration against its type's required fields.",
    "create_help": "tailer create configuration <type> <file.json>: writes a template of the type.",
}


def reply(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"payload": payload}, status_code=status)


async def payload_of(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        raise BadRequest("the request body must be {\"payload\": {...}}")
    payload: dict[str, Any] = body["payload"]
    uid = payload.get("uid")
    if uid is not None and (not isinstance(uid, str) or len(uid) > 256):
        raise BadRequest("uid must be a string")
    return payload


def _keys(request: Request) -> Keys:
    keys: Keys = request.app.state.keys
    return keys


def _profile(payload: dict[str, Any]) -> str | None:
    value = payload.get("project_profile")
    if value is None:
        return None
    if not isinstance(value, str) or not _PROFILE.fullmatch(value):
        raise BadRequest("project_profile must be a GCP project id")
    return value


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


def _project_of(resource: dict[str, Any], fallback: str) -> str:
    for value in (resource.get("gcp_project_id"), (resource.get("source") or {}).get("gcp_project_id")
                  if isinstance(resource.get("source"), dict) else None, resource.get("default_gcp_project_id")):
        if isinstance(value, str) and value and "{{" not in value:
            return value
    return fallback


# ── POST /configuration/v2: D1-D5 ───────────────────────────────────────────────────────────


def _contexts(db: Db) -> dict[str, Any]:
    rows = db.all("SELECT account, configuration_id, document FROM tl_configurations "
                  "WHERE configuration_type = 'context' AND archived = 0 ORDER BY seq")
    return {r["configuration_id"]: {"account": r["account"], "configuration_id": _bare(r["account"], r["configuration_id"])}
            for r in rows}


def _bare(account: str, deployed: str) -> str:
    prefix = account + "_"
    return deployed[len(prefix):] if deployed.startswith(prefix) else deployed


def _template(kind: str) -> dict[str, Any]:
    """D5's template of a type: the common fields and the type's required ones, to fill in."""
    authoring = "table-to-table" if kind == TTT else kind
    doc: dict[str, Any] = {"$schema": f"http://jsonschema.tailer.ai/schema/{authoring}-veditor",
                           "configuration_type": authoring, "configuration_id": f"my-{authoring}", "environment": "DEV",
                           "account": "000099", "activated": True, "archived": False, "short_description": "",
                           "doc_md": "README.md"}
    secret = {"cipher_aes": "", "tag": "", "ciphertext": "", "enc_session_key": ""}
    extra: dict[str, dict[str, Any]] = {
        "context": {"gcp_project_id": "my-project", "parameters": {"my_param": {
            "value": "x", "type": "string", "resource": "value", "description": "an example"}}},
        "storage-to-storage": {"filename_templates": [{"filename_template": "{{FD_DATE}}-file.csv"}],
                               "source": {"type": "gcs", "gcp_project_id": "my-project", "gcs_source_bucket": "in",
                                          "gcs_source_prefix": "in", "gcp_credentials_secret": secret},
                               "destinations": [{"type": "gcs", "gcs_destination_bucket": "out",
                                                 "gcs_destination_prefix": "out", "gcp_credentials_secret": secret}]},
        "storage-to-tables": {"version": "2", "source": {"type": "gcs", "gcp_project_id": "my-project",
                                                          "gcs_source_bucket": "in", "gcs_source_prefix": "in",
                                                          "gcp_credentials_secret": secret},
                              "destinations": [{"type": "bigquery", "gcp_project_id": "my-project", "gbq_dataset": "ds",
                                                "tables": [{"table_name": "t", "filename_template": "t-{{FD_DATE}}.csv",
                                                            "ddl_file": "t.json"}]}]},
        TTT: {"start_date": "2024, 1, 1", "schedule_interval": "None", "default_gcp_project_id": "my-project",
              "default_bq_dataset": "ds", "default_write_disposition": "WRITE_TRUNCATE",
              "task_dependencies": ["first_task"], "workflow": [{"id": "first_task", "sql_file": "first_task.sql"}]},
        "table-to-storage": {"version": "3", "gcp_project_id": "my-project", "gcs_dest_bucket": "out",
                             "gcs_dest_prefix": "out", "tasks": [{"task_id": "export", "sql_file": "export.sql",
                                                                  "output_filename": "export.csv"}]},
        "workflow": {"version": "2", "gcp_project_id": "my-project", "authorized_job_ids": [],
                     "target_dag": {"configuration_type": "table-to-table", "configuration_id": "my-table-to-table_DEV"}},
        "vm-launcher": {"gcp_project_id": "my-project", "gcs_bucket": "b", "gcs_working_directory": "w",
                        "script_to_execute": ["run.sh"], "credentials": {"key.json": {"content": secret}}},
        "api-to-storage": {"source": {"type": "pubsub", "gcp_project_id": "my-project", "pubsub_topic_suffix": "in"},
                           "destinations": [{"type": "gcs", "gcs_destination_bucket": "out", "gcs_destination_prefix": "out",
                                             "gcp_credentials_secret": secret, "gcs_filename_template": "f.json"}]},
        "xml-conversion": {"gcp_project_id": "my-project", "gcs_bucket": "b", "gcs_working_directory": "w",
                           "gcp_credentials_secret": secret,
                           "filename_templates": [{"filename_template": "f.xml", "file_description": "",
                                                   "xsd_schema_file": "f.xsd"}]},
        "file-utilities": {"task_type": "pgp"},
    }
    doc.update(extra[kind])
    return doc


@router.post("/configuration/v2")
async def configuration_post(request: Request) -> JSONResponse:
    payload = await payload_of(request)
    kind = payload.get("resource_type")
    resource = payload.get("resource")
    config = request.app.state.config
    if kind == "check-configuration":  # D1
        check_configuration(resource, _keys(request), deploy=False)
        return reply({"message": "The configuration is valid."})
    if kind == "get-gcp-project-id":  # D2
        check_configuration(resource, _keys(request), deploy=False)
        assert isinstance(resource, dict)
        return reply({"message": _project_of(resource, config.profiles[0])})
    if kind == "get-context-for-user":  # D3
        with store_of(request).read() as db:
            contexts = _contexts(db)
        if not contexts:
            raise NotFound("No context available for this user")
        return reply({"message": contexts})
    if kind == "retrieve-context":  # D4
        context_id = valid_id(resource, "resource")
        with store_of(request).read() as db:
            row = db.one("SELECT * FROM tl_configurations WHERE configuration_type = 'context' AND configuration_id = ? "
                         "AND archived = 0 ORDER BY updated DESC, seq DESC LIMIT 1", (context_id,))
        if row is None:
            raise NotFound(f"Context {context_id} not found")
        document = json.loads(row["document"])
        return reply({"message": {"account": row["account"], "configuration_id": _bare(row["account"], context_id),
                                  "environment": row["environment"], "version": str(row["deploys"]),
                                  "parameters": document.get("parameters") or {}}})
    if kind == "configuration-type":  # D5
        if not isinstance(resource, str):
            raise BadRequest("resource must name a configuration type")
        name = canonical_type(resource, "resource")
        content = base64.b64encode(json.dumps(_template(name), indent=4).encode()).decode("ascii")
        return reply({"content": content})
    if kind is None:
        raise BadRequest("resource_type is mandatory")
    raise BadRequest("resource_type must be check-configuration, get-gcp-project-id, get-context-for-user, "
                     "retrieve-context or configuration-type")


@router.post("/configuration/v2/help")
async def configuration_help(request: Request) -> JSONResponse:  # D7
    payload = await payload_of(request)
    topic = payload.get("resource")
    if payload.get("resource_type", "help") != "help" or not isinstance(topic, str) or topic not in HELP:
        raise NotFound(f"help is available for {', '.join(HELP)}")
    return reply({"help": HELP[topic]})


@router.post("/project-profile")
async def project_profile(request: Request) -> JSONResponse:  # D6
    await payload_of(request)
    return reply({"message": list(request.app.state.config.profiles)})


# ── PUT /configuration/v2: D8 ────────────────────────────────────────────────────────────────


@router.put("/configuration/v2")
async def deploy(request: Request) -> JSONResponse:
    payload = await payload_of(request)
    resource = payload.get("resource")
    keys = _keys(request)
    account, environment, kind, configuration_id = check_configuration(resource, keys, deploy=True)
    assert isinstance(resource, dict)
    profile = _profile(payload)
    _flag(payload, "deploy_cf")
    execute = _flag(payload, "execute_dag")
    deployed = deployed_id(kind, account, configuration_id)
    config = request.app.state.config
    with store_of(request).tx() as db:
        context_id = resource.get("context-id")
        if context_id is not None:
            valid_id(context_id, "context-id")
            if db.scalar("SELECT 1 FROM tl_configurations WHERE configuration_type = 'context' AND configuration_id = ? "
                         "AND archived = 0", (context_id,)) is None:
                raise BadRequest(f"context-id {context_id}: no such context is deployed")
        row_id = upsert(db, account=account, environment=environment, kind=kind, configuration_id=deployed,
                        document=resource, project_profile=profile)
        record_deploy(db, "configuration/v2", row_id, payload, keys)
        _maybe_launch(db, row_id, execute, config.run_seconds)
    return reply({"message": f"Configuration {deployed} deployed.", "deployed_configuration_id": deployed})


def _maybe_launch(db: Db, row_id: int, execute: bool, run_seconds: float) -> None:
    if not execute:
        return
    row = db.one("SELECT * FROM tl_configurations WHERE id = ?", (row_id,))
    if row is not None and row["configuration_type"] in LAUNCHABLE and row["activated"] and not row["archived"]:
        launch(db, row, execution_date=None, run_seconds=run_seconds)


# ── PUT /dag-generator-v2: D9, D10 ───────────────────────────────────────────────────────────


def _dag_name(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    dag_file = payload.get("dag_file")
    if not isinstance(dag_file, dict):
        raise BadRequest("dag_file is mandatory")
    name = dag_file.get("name")
    if not isinstance(name, str) or not _DAG_NAME.fullmatch(name) or ".." in name:
        raise BadRequest("dag_file.name must be a file name such as <configuration_id>.py (no directories)")
    return dag_file, name[: -len(".py")]


def _check_ttt(configuration: Any, account: str, environment: str) -> None:
    """What the platform can check of a TTT the SDK generated: its identity and its tasks."""
    if not isinstance(configuration, dict):
        raise BadRequest("resource.configuration must be an object")
    if canonical_type(configuration.get("configuration_type"), "configuration.configuration_type") != TTT:
        raise BadRequest("configuration.configuration_type must be table-to-table")
    if configuration.get("account", account) != account or configuration.get("environment", environment) != environment:
        raise BadRequest("configuration.account and configuration.environment must match the resource")
    workflow = configuration.get("workflow")
    if not isinstance(workflow, list) or not workflow:
        raise BadRequest("configuration.workflow is mandatory")
    for i, task in enumerate(workflow):
        task_id = task.get("id") if isinstance(task, dict) else None
        if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
            raise BadRequest(f"configuration.workflow[{i}].id is malformed")
    for name in ("activated", "archived"):
        if name in configuration and not isinstance(configuration[name], bool):
            raise BadRequest(f"configuration.{name} must be true or false")


@router.put("/dag-generator-v2")
async def dag_generator(request: Request) -> JSONResponse:
    payload = await payload_of(request)
    resource = payload.get("resource")
    if resource == "check_dag_exists":  # D9
        _, dag = _dag_name(payload)
        with store_of(request).read() as db:
            exists = db.scalar("SELECT 1 FROM tl_configurations WHERE configuration_type = ? AND configuration_id = ? "
                               "AND archived = 0", (TTT, dag))
        if exists is None:
            raise NotFound("DAG not found")
        return reply({"message": f"DAG {dag} exists"})
    # D10
    dag_file, dag = _dag_name(payload)
    value = load_b64(resource, "resource")
    if not isinstance(value, dict):
        raise BadRequest("resource must be a pickled dict")
    code = load_b64(dag_file.get("data"), "dag_file.data")
    if not isinstance(code, str):
        raise BadRequest("dag_file.data must be a pickled string")
    script = payload.get("python_script")
    if script is not None:
        if not isinstance(script, dict) or script.get("name") != dag_file.get("name"):
            raise BadRequest("python_script.name must be dag_file.name")
        if not isinstance(load_b64(script.get("data"), "python_script.data"), str):
            raise BadRequest("python_script.data must be a pickled string")
    kind = canonical_type(value.get("configuration_type"), "resource.configuration_type")
    if kind != TTT:
        raise BadRequest("resource.configuration_type must be gbq-to-gbq")
    if valid_id(value.get("configuration_id"), "resource.configuration_id") != dag:
        raise BadRequest("dag_file.name must be <resource.configuration_id>.py")
    account = valid_account(value.get("account"))
    environment = valid_environment(value.get("environment"))
    _check_ttt(value.get("configuration"), account, environment)
    document = jsonable(value["configuration"])
    check_json(document)
    keys = _keys(request)
    try:
        keys.check_all(document)
    except SealedError as exc:
        raise BadRequest(str(exc)) from exc
    profile = _profile(payload)
    execute = _flag(payload, "execute_dag")
    config = request.app.state.config
    with store_of(request).tx() as db:
        row_id = upsert(db, account=account, environment=environment, kind=TTT, configuration_id=dag, document=document,
                        project_profile=profile)
        record_deploy(db, "dag-generator-v2", row_id, payload, keys)
        _maybe_launch(db, row_id, execute, config.run_seconds)
    return reply({"message": f"DAG {dag} deployed.", "deployed_configuration_id": dag})

