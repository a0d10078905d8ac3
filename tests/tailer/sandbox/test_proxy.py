"""The SDK API proxy (contract §2.1, D1-D10; WIRE.md §1, §5) from its documented requests."""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.tailer.sandbox.conftest import Tailer, ok, proxy_error
from tests.tailer.sandbox.docs import ACCOUNT, b64_pickle, configuration, dag_body, deploy_body, seal

PLAIN_TYPES = ["context", "storage-to-storage", "storage-to-tables", "table-to-storage", "workflow", "vm-launcher",
               "api-to-storage", "xml-conversion", "file-utilities"]


@pytest.fixture
def sealed(tailer: Tailer) -> tuple[str, dict[str, str]]:
    from platforge.provider.tailer.sandbox import public_key_pem

    plaintext = secrets.token_urlsafe(32)
    return plaintext, seal(plaintext, public_key_pem(tailer.app))


@pytest.fixture
def refusals(shared_tailer: Tailer) -> Iterator[httpx.Client]:
    """A client of the module's shared sandbox, for tests whose every request is refused: each
    checks afterwards that the sandbox still holds nothing."""
    with shared_tailer.client() as c:
        yield c
        assert ok(c.get("/_sandbox/configurations"))["configurations"] == []
        assert ok(c.get("/_sandbox/deploys"))["deploys"] == []


@pytest.fixture(scope="module")
def shared_sealed(shared_tailer: Tailer) -> dict[str, str]:
    from platforge.provider.tailer.sandbox import public_key_pem

    return seal(secrets.token_urlsafe(32), public_key_pem(shared_tailer.app))


def stored(api: httpx.Client) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["configuration_type"], c["configuration_id"]): c for c in ok(api.get("/_sandbox/configurations"))["configurations"]}


def check(api: httpx.Client, resource: Any) -> httpx.Response:
    return api.post("/configuration/v2", json={"payload": {"resource_type": "check-configuration", "resource": resource,
                                                           "uid": "sandbox-user"}})


@pytest.mark.parametrize("kind", PLAIN_TYPES)
def test_each_type_checks_and_deploys(api: httpx.Client, sealed: tuple[str, dict[str, str]], kind: str) -> None:
    plaintext, secret = sealed
    doc = configuration(kind, secret)
    assert ok(check(api, doc)) == {"payload": {"message": "The configuration is valid."}}
    answer = ok(api.put("/configuration/v2", json=deploy_body(doc)))["payload"]
    deployed = f"{ACCOUNT}_{doc['configuration_id']}" if kind == "context" else doc["configuration_id"]
    assert answer["deployed_configuration_id"] == deployed
    row = stored(api)[(kind, deployed)]
    assert row["deploys"] == 1 and row["activated"] is True and row["archived"] is False
    assert plaintext not in json.dumps(row) and secret["ciphertext"] not in json.dumps(row)
    digest = hashlib.sha256(plaintext.encode()).hexdigest()
    found = [v for v in _values(row["document"]) if isinstance(v, dict) and v.get("sealed")]
    assert found and all(f["plaintext_sha256"] == digest for f in found) or kind in ("table-to-storage", "workflow",
                                                                                       "file-utilities")


def _values(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for item in value.values():
            out += _values(item)
    elif isinstance(value, list):
        for item in value:
            out += _values(item)
    return out


MISSING = [
    ("storage-to-storage", ("source",), "source is mandatory"),
    ("storage-to-storage", ("source", "gcs_source_bucket"), "source.gcs_source_bucket is mandatory"),
    ("storage-to-storage", ("filename_templates",), "filename_templates is mandatory"),
    ("storage-to-storage", ("destinations", 0, "sftp_password_secret"), "destinations[0].sftp_password_secret is mandatory"),
    ("storage-to-tables", ("destinations", 0, "tables", 0, "ddl_infos"), "destinations[0].tables[0].ddl_infos is mandatory"),
    ("storage-to-tables", ("version",), "version is mandatory"),
    ("table-to-storage", ("tasks", 0, "sql"), "tasks[0].sql is mandatory"),
    ("table-to-storage", ("gcs_dest_bucket",), "gcs_dest_bucket is mandatory"),
    ("workflow", ("target_dag",), "target_dag is mandatory"),
    ("workflow", ("authorized_job_ids",), "authorized_job_ids is mandatory"),
    ("vm-launcher", ("script_to_execute",), "script_to_execute is mandatory"),
    ("vm-launcher", ("credentials",), "credentials is mandatory"),
    ("context", ("parameters",), "parameters is mandatory"),
    ("context", ("gcp_project_id",), "gcp_project_id is mandatory"),
    ("context", ("account",), "account is mandatory"),
    ("xml-conversion", ("filename_templates", 0, "xsd_schema_file"), "filename_templates[0].xsd_schema_file is mandatory"),
    ("api-to-storage", ("source", "pubsub_topic_suffix"), "source.pubsub_topic_suffix is mandatory"),
]


@pytest.mark.parametrize("kind,path,message", MISSING)
def test_a_missing_required_field_is_named(refusals: httpx.Client, shared_sealed: dict[str, str], kind: str,
                                           path: tuple[Any, ...], message: str) -> None:
    api = refusals
    doc = configuration(kind, shared_sealed)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    assert proxy_error(check(api, doc), 400) == message
    assert proxy_error(api.put("/configuration/v2", json=deploy_body(doc)), 400) == message


BAD = [
    ({"account": "99"}, "account must be a 6-digit string"),
    ({"environment": "QA"}, "environment must be one of PROD, PREPROD, STAGING, DEV"),
    ({"configuration_type": "nope"}, "configuration_type 'nope' is not a Tailer configuration type"),
    ({"configuration_id": "../etc"}, "configuration_id must be"),
    ({"activated": "yes"}, "activated must be true or false"),
    ({"configuration_type": "table-to-table"}, "table-to-table configurations are deployed through dag-generator-v2"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_bad_identity_fields_are_refused(refusals: httpx.Client, shared_sealed: dict[str, str], change: dict[str, Any],
                                         message: str) -> None:
    doc = {**configuration("workflow", shared_sealed), **change}
    assert proxy_error(refusals.put("/configuration/v2", json=deploy_body(doc)), 400).startswith(message)


def test_secrets_must_be_sealed_with_the_sandbox_key(api: httpx.Client, sealed: tuple[str, dict[str, str]]) -> None:
    from Crypto.PublicKey import RSA

    doc = configuration("storage-to-storage", sealed[1])
    doc["source"]["gcp_credentials_secret"] = '{"type": "service_account"}'
    assert "source.gcp_credentials_secret must be a sealed secret" in proxy_error(api.put("/configuration/v2", json=deploy_body(doc)), 400)
    doc["source"]["gcp_credentials_secret"] = seal(secrets.token_urlsafe(16), RSA.generate(1024).publickey().export_key())  # any key but the sandbox's
    assert "cannot be opened with this sandbox's key" in proxy_error(api.put("/configuration/v2", json=deploy_body(doc)), 400)
    tampered = dict(sealed[1])
    tampered["ciphertext"] = ("00" if tampered["ciphertext"][:2] != "00" else "11") + tampered["ciphertext"][2:]
    doc["source"]["gcp_credentials_secret"] = tampered
    assert "cannot be opened" in proxy_error(api.put("/configuration/v2", json=deploy_body(doc)), 400)
    doc["source"]["gcp_credentials_secret"] = {**sealed[1], "tag": "zz"}
    assert "cannot be opened" in proxy_error(api.put("/configuration/v2", json=deploy_body(doc)), 400)
    # On D1 a `{{parameter}}` a context will fill in is fine.
    doc["source"]["gcp_credentials_secret"] = "{{sa}}"
    assert check(api, doc).status_code == 200
    assert stored(api) == {}


def test_deploy_is_an_upsert_and_the_document_wins(api: httpx.Client, tailer: Tailer, sealed: tuple[str, dict[str, str]]) -> None:
    doc = configuration("table-to-storage", sealed[1])
    key = ("table-to-storage", doc["configuration_id"])
    ok(api.put("/configuration/v2", json=deploy_body(doc)))
    ok(api.post("/v1/configuration/status", json={"action": "set_configuration_status", "activated": False, "archived": True,
                                                   "account": ACCOUNT, "environment": "DEV", "configuration_type": key[0],
                                                   "configuration_id": key[1]}))
    assert stored(api)[key]["archived"] is True
    doc["gcs_dest_prefix"] = "v2"
    doc["activated"] = False
    ok(api.put("/configuration/v2", json=deploy_body(doc)))
    row = stored(api)[key]
    assert (row["deploys"], row["archived"], row["activated"], row["document"]["gcs_dest_prefix"]) == (2, False, False, "v2")
    # Another environment is another configuration.
    ok(api.put("/configuration/v2", json=deploy_body({**doc, "environment": "PROD"})))
    rows = ok(api.get("/_sandbox/configurations"))["configurations"]
    assert sorted((r["environment"], r["deploys"]) for r in rows) == [("DEV", 2), ("PROD", 1)]
    deploys = ok(api.get("/_sandbox/deploys"))["deploys"]
    assert [d["resource"]["environment"] for d in deploys] == ["DEV", "DEV", "PROD"]
    writes = [x for x in tailer.access_lines() if x["method"] == "PUT" and x["path"] == "/configuration/v2"]
    assert len(writes) == 3


def test_a_context_gets_its_account_prefix_once(api: httpx.Client, sealed: tuple[str, dict[str, str]]) -> None:
    bare = configuration("context", sealed[1], "context_dev")
    assert ok(api.put("/configuration/v2", json=deploy_body(bare)))["payload"]["deployed_configuration_id"] == "000099_context_dev"
    prefixed = configuration("context", sealed[1], "000099_context_dev")
    assert ok(api.put("/configuration/v2", json=deploy_body(prefixed)))["payload"]["deployed_configuration_id"] == "000099_context_dev"
    assert stored(api)[("context", "000099_context_dev")]["deploys"] == 2


def test_contexts_for_the_sdk(api: httpx.Client, sealed: tuple[str, dict[str, str]]) -> None:
    """D3 lists what D4 answers, and a deploy naming a context needs it deployed."""
    def post(payload: dict[str, Any]) -> httpx.Response:
        return api.post("/configuration/v2", json={"payload": {**payload, "uid": "sandbox-user"}})

    assert proxy_error(post({"resource_type": "get-context-for-user"}), 404)
    assert proxy_error(post({"resource_type": "retrieve-context", "resource": "000099_context_dev"}), 404)
    sts = configuration("storage-to-storage", sealed[1], "000099_context_dev_copy")
    sts.update({"configuration_name": "copy", "context-id": "000099_context_dev", "context-version": "1"})
    assert "no such context" in proxy_error(api.put("/configuration/v2", json=deploy_body(sts)), 400)

    ok(api.put("/configuration/v2", json=deploy_body(configuration("context", sealed[1], "context_dev"))))
    ok(api.put("/configuration/v2", json=deploy_body(configuration("context", sealed[1], "context_dev"))))
    listed = ok(post({"resource_type": "get-context-for-user"}))["payload"]["message"]
    assert listed == {"000099_context_dev": {"account": ACCOUNT, "configuration_id": "context_dev"}}
    context = ok(post({"resource_type": "retrieve-context", "resource": "000099_context_dev"}))["payload"]["message"]
    assert (context["account"], context["configuration_id"], context["environment"], context["version"]) == (
        ACCOUNT, "context_dev", "DEV", "2")
    assert context["parameters"]["bucket"]["value"] == "b"
    assert ok(api.put("/configuration/v2", json=deploy_body(sts)))["payload"]["deployed_configuration_id"] == "000099_context_dev_copy"
    ok(api.post("/v1/configuration/status", json={"action": "set_configuration_status", "activated": False, "archived": True,
                                                   "account": ACCOUNT, "environment": "DEV", "configuration_type": "context",
                                                   "configuration_id": "000099_context_dev"}))
    assert proxy_error(post({"resource_type": "get-context-for-user"}), 404)


def test_project_help_and_templates(api: httpx.Client, sealed: tuple[str, dict[str, str]]) -> None:
    assert ok(api.post("/project-profile", json={"payload": {"uid": "u"}})) == {"payload": {"message": ["sandbox-project"]}}
    for topic in ("deploy_help", "check_help", "create_help"):
        assert "tailer" in ok(api.post("/configuration/v2/help", json={"payload": {"resource_type": "help", "resource": topic}}))["payload"]["help"]
    assert proxy_error(api.post("/configuration/v2/help", json={"payload": {"resource_type": "help", "resource": "x"}}), 404)
    for kind in ("storage-to-storage", "table-to-table", "context"):
        answer = ok(api.post("/configuration/v2", json={"payload": {"resource_type": "configuration-type", "resource": kind}}))
        template = json.loads(base64.b64decode(answer["payload"]["content"]))
        assert template["configuration_type"] == kind
    assert proxy_error(api.post("/configuration/v2", json={"payload": {"resource_type": "configuration-type", "resource": "x"}}), 400)
    # D2: the configuration's own project first, the first profile otherwise.
    sts = configuration("storage-to-storage", sealed[1])
    d2 = {"resource_type": "get-gcp-project-id", "resource": sts}
    assert ok(api.post("/configuration/v2", json={"payload": d2}))["payload"]["message"] == "src-project"
    fu = configuration("file-utilities", sealed[1])
    d2 = {"resource_type": "get-gcp-project-id", "resource": fu}
    assert ok(api.post("/configuration/v2", json={"payload": d2}))["payload"]["message"] == "sandbox-project"


@pytest.mark.parametrize("body", [None, [], {"payload": []}, {"payload": {"resource_type": 3}}, {"nope": {}}])
def test_malformed_bodies_are_400s(refusals: httpx.Client, body: Any) -> None:
    for method in ("POST", "PUT"):
        response = refusals.request(method, "/configuration/v2", json=body)
        assert proxy_error(response, 400)


def test_dag_generator_deploys_plain_pickles(api: httpx.Client) -> None:
    name = f"{ACCOUNT}_prep_{secrets.token_hex(3)}_DEV"
    assert proxy_error(api.put("/dag-generator-v2", json={"payload": {"resource": "check_dag_exists",
                                                                       "dag_file": {"name": f"{name}.py"}}}), 404) == "DAG not found"
    answer = ok(api.put("/dag-generator-v2", json=dag_body(name)))
    assert answer["payload"]["message"] == f"DAG {name} deployed."
    row = stored(api)[("gbq-to-gbq", name)]
    assert [t["id"] for t in row["document"]["workflow"]] == ["prep_sales", "agg_sales"]
    assert ok(api.put("/dag-generator-v2", json={"payload": {"resource": "check_dag_exists", "dag_file": {"name": f"{name}.py"}}}))
    ok(api.put("/dag-generator-v2", json=dag_body(name)))
    assert stored(api)[("gbq-to-gbq", name)]["deploys"] == 2


class _Boom:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (Path(self.marker),))


def test_pickles_can_never_run_code(api: httpx.Client, tmp_path: Path) -> None:
    name = f"{ACCOUNT}_evil_DEV"
    marker = tmp_path / "pwned"
    evil = base64.b64encode(pickle.dumps(_Boom(str(marker)))).decode()
    body = dag_body(name)
    for where in ("resource", "dag"):
        attempt = json.loads(json.dumps(body))
        if where == "resource":
            attempt["payload"]["resource"] = evil
        else:
            attempt["payload"]["dag_file"]["data"] = evil
        message = proxy_error(api.put("/dag-generator-v2", json=attempt), 400)
        assert "is not a pickle of plain data" in message
    # A global reached through the protocol-0 opcodes, and one through an extension code.
    for raw in (b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.", b"\x80\x02\x82\x01."):
        attempt = json.loads(json.dumps(body))
        attempt["payload"]["resource"] = base64.b64encode(raw).decode()
        assert proxy_error(api.put("/dag-generator-v2", json=attempt), 400)
    assert not marker.exists()
    assert stored(api) == {}


def test_pickles_are_bounded(api: httpx.Client) -> None:
    name = f"{ACCOUNT}_big_DEV"
    # Shared references: 30 levels of a list holding the previous level twice, a small pickle
    # (pickle memoizes the shared lists) of 2**30 values when walked.
    nested: Any = []
    for _ in range(30):
        nested = [nested, nested]
    attempt = dag_body(name)
    attempt["payload"]["resource"] = b64_pickle({"configuration": nested})
    assert len(attempt["payload"]["resource"]) < 2000
    assert "holds more than" in proxy_error(api.put("/dag-generator-v2", json=attempt), 400)
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    attempt["payload"]["resource"] = b64_pickle({"configuration": deep})
    assert "nests deeper" in proxy_error(api.put("/dag-generator-v2", json=attempt), 400)
    attempt["payload"]["resource"] = base64.b64encode(b"\x80\x04\x95").decode()
    assert "not a pickle of plain data" in proxy_error(api.put("/dag-generator-v2", json=attempt), 400)
    attempt["payload"]["resource"] = "not base64!"
    assert proxy_error(api.put("/dag-generator-v2", json=attempt), 400) == "resource must be a base64 pickle"
    assert stored(api) == {}


@pytest.mark.parametrize("name", ["../x_DEV.py", "a/b.py", "x.txt", ".hidden.py", "x..py", "", "a\\b.py", "%2e%2e.py"])
def test_dag_file_names_cannot_escape(refusals: httpx.Client, name: str) -> None:
    body = dag_body(f"{ACCOUNT}_x_DEV")
    body["payload"]["dag_file"]["name"] = name
    assert "dag_file.name" in proxy_error(refusals.put("/dag-generator-v2", json=body), 400)
    check = {"payload": {"resource": "check_dag_exists", "dag_file": {"name": name}}}
    assert "dag_file.name" in proxy_error(refusals.put("/dag-generator-v2", json=check), 400)


def test_a_dag_must_agree_with_its_file_and_tasks(api: httpx.Client) -> None:
    body = dag_body(f"{ACCOUNT}_x_DEV")
    body["payload"]["dag_file"]["name"] = f"{ACCOUNT}_y_DEV.py"
    body["payload"]["python_script"]["name"] = f"{ACCOUNT}_y_DEV.py"
    assert proxy_error(api.put("/dag-generator-v2", json=body), 400) == "dag_file.name must be <resource.configuration_id>.py"
    bad_task = dag_body(f"{ACCOUNT}_x_DEV", tasks=("q1",))
    assert proxy_error(api.put("/dag-generator-v2", json=bad_task), 400) == "configuration.workflow[0].id is malformed"
    not_code = dag_body(f"{ACCOUNT}_x_DEV", code={"not": "a string"})
    assert proxy_error(api.put("/dag-generator-v2", json=not_code), 400) == "dag_file.data must be a pickled string"
    assert stored(api) == {}
