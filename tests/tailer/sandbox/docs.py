"""Configurations for the route tests, as the SDK sends them after §2.3's transformations
(base64 `doc_md`, `ddl_infos`, task `sql`), with secrets sealed as `tailer_crypto` seals them."""

from __future__ import annotations

import base64
import json
import pickle
import secrets
from typing import Any

from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.PublicKey import RSA
from Crypto.Random import get_random_bytes

ACCOUNT = "000099"


def seal(plaintext: str, public_pem: bytes) -> dict[str, str]:
    """`tailer_crypto.encrypt_payload`, step for step (contract §1.4)."""
    cipher_rsa = PKCS1_OAEP.new(RSA.import_key(public_pem))
    session_key = get_random_bytes(16)
    cipher_aes = AES.new(session_key, AES.MODE_EAX)
    ciphertext, tag = cipher_aes.encrypt_and_digest(base64.b64encode(plaintext.encode()))
    return {"cipher_aes": cipher_aes.nonce.hex(), "tag": tag.hex(), "ciphertext": ciphertext.hex(),
            "enc_session_key": cipher_rsa.encrypt(session_key).hex()}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def common(kind: str, configuration_id: str, **fields: Any) -> dict[str, Any]:
    return {"configuration_type": kind, "configuration_id": configuration_id, "environment": "DEV", "account": ACCOUNT,
            "activated": True, "archived": False, "doc_md": b64("# doc"), "direct_execution": True, **fields}


def configuration(kind: str, sealed: dict[str, str], configuration_id: str | None = None) -> dict[str, Any]:
    cid = configuration_id or f"{ACCOUNT}-{kind}-{secrets.token_hex(3)}"
    docs: dict[str, dict[str, Any]] = {
        "context": common("context", cid, gcp_project_id="my-project", parameters={
            "bucket": {"value": "b", "type": "string", "resource": "gcs_bucket", "description": "d"},
            "sa": {"value": sealed, "type": "object", "resource": "gcp_credentials_secret", "description": "d"}}),
        "storage-to-storage": common("storage-to-storage", cid, filename_templates=[{"filename_template": "a-{{FD_DATE}}.csv"}],
                                     source={"type": "gcs", "gcp_project_id": "src-project", "gcs_source_bucket": "in",
                                             "gcs_source_prefix": "in", "gcp_credentials_secret": sealed},
                                     destinations=[{"type": "sftp", "sftp_destination_dir": "/in", "sftp_destination_dir_create": True,
                                                    "sftp_host": "h", "sftp_port": 22, "sftp_userid": "u",
                                                    "sftp_password_secret": sealed}]),
        "storage-to-tables": common("storage-to-tables", cid, version="2",
                                    source={"type": "gcs", "gcp_project_id": "p", "gcs_source_bucket": "in",
                                            "gcs_source_prefix": "in", "gcp_credentials_secret": sealed},
                                    destinations=[{"type": "bigquery", "tables": [{
                                        "table_name": "t", "filename_template": "t.csv",
                                        "ddl_infos": b64(json.dumps({"bq_table_schema": []}))}]}]),
        "table-to-storage": common("table-to-storage", cid, version="3", gcp_project_id="p", gcs_dest_bucket="b",
                                   gcs_dest_prefix="x", tasks=[{"task_id": "t1", "sql": b64("SELECT 1"), "output_filename": "o.csv"}]),
        "workflow": common("workflow", cid, version="2", gcp_project_id="p", authorized_job_ids=["gbq-to-gbq|x_DEV"],
                           target_dag={"configuration_type": "table-to-table", "configuration_id": "x_DEV"}),
        "vm-launcher": common("vm-launcher", cid, version="2", gcp_project_id="p", gcs_bucket="b", gcs_working_directory="w",
                              script_to_execute=["run.sh"], credentials={"k.json": {"content": sealed}}),
        "api-to-storage": common("api-to-storage", cid, source={"type": "pubsub", "gcp_project_id": "p", "pubsub_topic_suffix": "s"},
                                 destinations=[{"type": "gcs", "gcs_destination_bucket": "b", "gcs_destination_prefix": "p",
                                                "gcp_credentials_secret": sealed, "gcs_filename_template": "f"}]),
        "xml-conversion": common("xml-conversion", cid, gcp_project_id="p", gcs_bucket="b", gcs_working_directory="w",
                                 gcp_credentials_secret=sealed, filename_templates=[
                                     {"filename_template": "f.xml", "file_description": "d", "xsd_schema_file": "f.xsd"}]),
        "file-utilities": common("file-utilities", cid, task_type="pgp"),
    }
    return docs[kind]


def deploy_body(resource: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"payload": {"resource": {**resource, "client_type": "tailer-sdk", "client_version": "1.3.19"},
                        "project_profile": "my-project", "uid": "sandbox-user", "deploy_cf": False, "execute_dag": False,
                        **extra}}


def b64_pickle(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value, protocol=4)).decode()


def dag_body(name: str, *, tasks: tuple[str, ...] = ("prep_sales", "agg_sales"), code: Any = "# generated DAG\n",
             **overrides: Any) -> dict[str, Any]:
    """A D10 payload as `sql_dag_generator` builds one (plain-data pickles, protocol 4)."""
    conf = {"configuration_type": "table-to-table", "configuration_id": name.rsplit("_", 1)[0], "environment": "DEV",
            "account": ACCOUNT, "short_description": "s", "start_date": "2024, 1, 1", "schedule_interval": "None",
            "workflow": [{"id": t, "sql_file": f"{t}.sql"} for t in tasks], "task_dependencies": [" >> ".join(tasks)]}
    resource = {"sql": {t: b64(f"SELECT '{t}'").encode() for t in tasks}, "short_descriptions": {t: t for t in tasks},
                "doc_md": b64("doc"), "account": ACCOUNT, "environment": "DEV", "configuration": conf,
                "configuration_type": "gbq-to-gbq", "configuration_id": name, "client_type": "tailer-sdk",
                "client_version": "1.3.19", **overrides}
    data = b64_pickle(code)
    return {"payload": {"resource": b64_pickle(resource), "dag_file": {"name": f"{name}.py", "data": data},
                        "python_script": {"name": f"{name}.py", "data": data}, "project_profile": "my-project",
                        "uid": "sandbox-user", "client_type": "tailer-sdk", "client_version": "1.3.19", "execute_dag": False}}
