"""What a Tailer configuration must hold (contract §1.2, §1.3, §1.6, §5), checked alike by D1
(check) and D8 (deploy): the identity fields and their formats, the fields each type requires
(`<field> is mandatory`, the message the SDK prints raw), sealed credentials, and the deployed
id the platform gives the configuration.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .crypto import Keys, SealedError, is_sealed
from .errors import BadRequest

__all__ = ["ENVIRONMENTS", "LAUNCHABLE", "TYPES", "canonical_type", "check_configuration", "deployed_id", "job_id",
           "mandatory", "valid_id"]

ENVIRONMENTS = ("PROD", "PREPROD", "STAGING", "DEV")
TTT = "gbq-to-gbq"
#: Every configuration type the sandbox stores, by the name it is stored under.
TYPES = ("context", "storage-to-storage", "storage-to-tables", TTT, "table-to-storage", "workflow", "vm-launcher",
         "api-to-storage", "xml-conversion", "file-utilities")
#: Other names for the same types (§5 #3): authoring TTT, the WF `target_dag` list's singular STT.
ALIASES = {"table-to-table": TTT, "storage-to-table": "storage-to-tables"}
#: T1 launches only these (contract §5 #14).
LAUNCHABLE = (TTT, "table-to-storage")
_ACCOUNT = re.compile(r"[0-9]{6}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_PARAMETER = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_PARAMETER_TYPES = ("integer", "string", "float", "object", "boolean")
_RESERVED = ("TEMPLATE_CURRENT_DATE",)


def canonical_type(value: Any, where: str = "configuration_type") -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{where} is mandatory")
    name = ALIASES.get(value, value)
    if name not in TYPES:
        raise BadRequest(f"{where} {value[:60]!r} is not a Tailer configuration type")
    return name


def valid_id(value: Any, where: str = "configuration_id") -> str:
    if value is None or value == "":
        raise BadRequest(f"{where} is mandatory")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadRequest(f"{where} must be 1-255 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return value


def valid_account(value: Any) -> str:
    if value is None or value == "":
        raise BadRequest("account is mandatory")
    if not isinstance(value, str) or not _ACCOUNT.fullmatch(value):
        raise BadRequest("account must be a 6-digit string such as \"000099\"")
    return value


def valid_environment(value: Any) -> str:
    if value is None or value == "":
        raise BadRequest("environment is mandatory")
    if value not in ENVIRONMENTS:
        raise BadRequest(f"environment must be one of {', '.join(ENVIRONMENTS)}")
    return str(value)


def mandatory(doc: dict[str, Any], name: str, where: str = "") -> Any:
    """A field that must be there, not null and not empty."""
    value = doc.get(name)
    if value is None or value == "" or value == [] or value == {}:
        raise BadRequest(f"{where}{name} is mandatory")
    return value


def _obj(doc: dict[str, Any], name: str, where: str = "") -> dict[str, Any]:
    value = mandatory(doc, name, where)
    if not isinstance(value, dict):
        raise BadRequest(f"{where}{name} must be an object")
    return value


def _list(doc: dict[str, Any], name: str, where: str = "", *, of: type = dict) -> list[Any]:
    value = mandatory(doc, name, where)
    if not isinstance(value, list):
        raise BadRequest(f"{where}{name} must be an array")
    for i, item in enumerate(value):
        if not isinstance(item, of):
            raise BadRequest(f"{where}{name}[{i}] must be {'an object' if of is dict else 'a string'}")
    return value


def _fields(doc: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    for name in names:
        mandatory(doc, name, where)


def _version(doc: dict[str, Any], required: str | None) -> str:
    value = doc.get("version")
    if value is None:
        if required is not None:
            raise BadRequest("version is mandatory")
        return "1"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRequest("version must be a string such as \"2\"")
    return str(value)


def _base64_json(value: Any, where: str) -> None:
    try:
        json.loads(base64.b64decode(value, validate=True))
    except (TypeError, ValueError, binascii.Error) as exc:
        raise BadRequest(f"{where} must be the base64 of a JSON document") from exc


def _base64(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a base64 string")
    try:
        base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise BadRequest(f"{where} must be a base64 string") from exc


_STS_SOURCE = {
    "gcs": ("gcp_project_id", "gcs_source_bucket", "gcs_source_prefix", "gcp_credentials_secret"),
    "s3": ("s3_source_bucket", "s3_source_prefix", "aws_access_key", "aws_access_key_secret"),
    "azure": ("azure_source_storage", "azure_source_prefix", "azure_connection_string_secret"),
    "sftp": ("sftp_source_directory", "sftp_source_filename", "sftp_host", "sftp_port", "sftp_userid"),
}
_STS_DESTINATION = {
    "gcs": ("gcs_destination_bucket", "gcs_destination_prefix", "gcp_credentials_secret"),
    "s3": ("s3_bucket", "s3_destination_prefix", "aws_access_key", "aws_access_key_secret"),
    "azure": ("azure_destination_prefix", "azure_connection_string_secret"),
    "sftp": ("sftp_destination_dir", "sftp_destination_dir_create", "sftp_host", "sftp_port", "sftp_userid"),
}


def _typed(doc: dict[str, Any], where: str, table: dict[str, tuple[str, ...]]) -> None:
    kind = mandatory(doc, "type", where)
    if not isinstance(kind, str) or kind not in table:
        raise BadRequest(f"{where}type must be one of {', '.join(table)}")
    _fields(doc, table[kind], where)
    if kind == "sftp":
        method = doc.get("sftp_authentication_method", "USERNAME_PASSWORD")
        if method not in ("USERNAME_PASSWORD", "PRIVATE_KEY"):
            raise BadRequest(f"{where}sftp_authentication_method must be USERNAME_PASSWORD or PRIVATE_KEY")
        mandatory(doc, "sftp_password_secret" if method == "USERNAME_PASSWORD" else "sftp_private_key_secret", where)


def _sts(doc: dict[str, Any]) -> None:
    for i, template in enumerate(_list(doc, "filename_templates")):
        mandatory(template, "filename_template", f"filename_templates[{i}].")
    _typed(_obj(doc, "source"), "source.", _STS_SOURCE)
    for i, destination in enumerate(_list(doc, "destinations")):
        _typed(destination, f"destinations[{i}].", _STS_DESTINATION)
    policy = doc.get("empty_file_policy")
    if policy is not None and policy not in ("NONE", "PROCESS", "TRIGGER_FAILED_STATUS", "TRIGGER_SUCCESS_STATUS"):
        raise BadRequest("empty_file_policy must be NONE, PROCESS, TRIGGER_FAILED_STATUS or TRIGGER_SUCCESS_STATUS")


def _stt(doc: dict[str, Any]) -> None:
    if _version(doc, "2") != "2":
        raise BadRequest("version must be \"2\" for storage-to-tables")
    source = _obj(doc, "source")
    if mandatory(source, "type", "source.") != "gcs":
        raise BadRequest("source.type must be gcs")
    _fields(source, ("gcp_project_id", "gcs_source_bucket", "gcs_source_prefix", "gcp_credentials_secret"), "source.")
    for i, destination in enumerate(_list(doc, "destinations")):
        where = f"destinations[{i}]."
        if mandatory(destination, "type", where) != "bigquery":
            raise BadRequest(f"{where}type must be bigquery")
        for j, table in enumerate(_list(destination, "tables", where)):
            at = f"{where}tables[{j}]."
            _fields(table, ("table_name", "filename_template"), at)
            mode = table.get("ddl_mode", destination.get("ddl_mode", "file"))
            if mode not in ("file", "header", "file_template"):
                raise BadRequest(f"{at}ddl_mode must be file, header or file_template")
            if mode == "file":
                _base64_json(mandatory(table, "ddl_infos", at), f"{at}ddl_infos")


def _tts(doc: dict[str, Any]) -> None:
    version = _version(doc, "3")
    _fields(doc, ("gcs_dest_bucket", "gcs_dest_prefix", "gcp_project_id"), "")
    if version == "3":
        for i, task in enumerate(_list(doc, "tasks")):
            _fields(task, ("task_id", "output_filename"), f"tasks[{i}].")
            _base64(mandatory(task, "sql", f"tasks[{i}]."), f"tasks[{i}].sql")
    else:
        _base64(mandatory(doc, "sql"), "sql")
    fmt = doc.get("destination_format")
    if fmt is not None and fmt not in ("CSV", "NEWLINE_DELIMITED_JSON", "AVRO", "PARQUET"):
        raise BadRequest("destination_format must be CSV, NEWLINE_DELIMITED_JSON, AVRO or PARQUET")


def _workflow(doc: dict[str, Any]) -> None:
    if _version(doc, "2") != "2":
        raise BadRequest("version must be \"2\" for workflow")
    mandatory(doc, "gcp_project_id")
    _list(doc, "authorized_job_ids", of=str)
    target = _obj(doc, "target_dag")
    canonical_type(target.get("configuration_type"), "target_dag.configuration_type")
    valid_id(target.get("configuration_id"), "target_dag.configuration_id")


def _vm(doc: dict[str, Any]) -> None:
    _fields(doc, ("gcp_project_id", "gcs_bucket", "gcs_working_directory"), "")
    _list(doc, "script_to_execute", of=str)
    if not doc.get("credentials") and not doc.get("gcp_credentials_secret"):
        raise BadRequest("credentials is mandatory")
    credentials = doc.get("credentials")
    if credentials is not None:
        if not isinstance(credentials, dict):
            raise BadRequest("credentials must be an object")
        for name, entry in credentials.items():
            if not isinstance(entry, dict) or not is_sealed(entry.get("content")):
                raise BadRequest(f"credentials.{name}.content must be a sealed secret")


def _ats(doc: dict[str, Any]) -> None:
    source = _obj(doc, "source")
    if mandatory(source, "type", "source.") != "pubsub":
        raise BadRequest("source.type must be pubsub")
    _fields(source, ("gcp_project_id", "pubsub_topic_suffix"), "source.")
    for i, destination in enumerate(_list(doc, "destinations")):
        where = f"destinations[{i}]."
        if mandatory(destination, "type", where) != "gcs":
            raise BadRequest(f"{where}type must be gcs")
        _fields(destination, ("gcs_destination_bucket", "gcs_destination_prefix", "gcp_credentials_secret",
                              "gcs_filename_template"), where)


def _xml(doc: dict[str, Any]) -> None:
    _fields(doc, ("gcp_project_id", "gcs_bucket", "gcs_working_directory", "gcp_credentials_secret"), "")
    for i, template in enumerate(_list(doc, "filename_templates")):
        _fields(template, ("filename_template", "file_description", "xsd_schema_file"), f"filename_templates[{i}].")


def _context(doc: dict[str, Any]) -> None:
    _fields(doc, ("doc_md", "gcp_project_id"), "")
    parameters = _obj(doc, "parameters")
    if len(parameters) > 10_000:
        raise BadRequest("parameters: at most 10000 entries")
    for name, entry in parameters.items():
        if not _PARAMETER.fullmatch(name) or name.startswith("FD_") or name in _RESERVED:
            raise BadRequest(f"parameters.{name[:60]}: a name of letters, digits, '_', '.', '-' that is not reserved "
                             "(FD_*, TEMPLATE_CURRENT_DATE) is required")
        if not isinstance(entry, dict):
            raise BadRequest(f"parameters.{name} must be an object")
        if "value" not in entry:
            raise BadRequest(f"parameters.{name}.value is mandatory")
        if mandatory(entry, "type", f"parameters.{name}.") not in _PARAMETER_TYPES:
            raise BadRequest(f"parameters.{name}.type must be one of {', '.join(_PARAMETER_TYPES)}")


def _none(doc: dict[str, Any]) -> None:
    return None


_BY_TYPE = {"context": _context, "storage-to-storage": _sts, "storage-to-tables": _stt, "table-to-storage": _tts,
            "workflow": _workflow, "vm-launcher": _vm, "api-to-storage": _ats, "xml-conversion": _xml,
            "file-utilities": _none}
#: Secret-named fields whose value must be sealed (contract §1.4), wherever they appear.
_SECRET_FIELD = re.compile(r".+_secret")


def _secret_fields(value: Any, where: str, *, templates: bool) -> None:
    """Every `*_secret` field sealed; on D1 a `{{parameter}}` a context will fill is allowed too."""
    stack = [(where, value)]
    while stack:
        at, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if _SECRET_FIELD.fullmatch(key) and child is not None and not is_sealed(child) and not (
                        templates and isinstance(child, str) and "{{" in child):
                    raise BadRequest(f"{at}.{key} must be a sealed secret (see tailer encrypt)")
                stack.append((f"{at}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{at}[{i}]", child) for i, child in enumerate(item))


def check_configuration(doc: Any, keys: Keys, *, deploy: bool) -> tuple[str, str, str, str]:
    """Check a configuration as D1 and D8 do; (account, environment, type, authoring id).

    TTT goes through `dag-generator-v2` (D10), never through D8."""
    if not isinstance(doc, dict):
        raise BadRequest("resource must be a configuration object")
    kind = canonical_type(doc.get("configuration_type"))
    configuration_id = valid_id(doc.get("configuration_id"))
    environment = valid_environment(doc.get("environment"))
    account = valid_account(doc.get("account"))
    if kind == TTT and deploy:
        raise BadRequest("table-to-table configurations are deployed through dag-generator-v2 (tailer deploy)")
    for name in ("activated", "archived", "direct_execution"):
        if name in doc and not isinstance(doc[name], bool):
            raise BadRequest(f"{name} must be true or false")
    if kind != TTT:
        _BY_TYPE[kind](doc)
    _secret_fields(doc, "resource", templates=not deploy)
    try:
        keys.check_all(doc)
    except SealedError as exc:
        raise BadRequest(str(exc)) from exc
    return account, environment, kind, configuration_id


def deployed_id(kind: str, account: str, configuration_id: str) -> str:
    """Contract §1.2, WIRE.md §5: a context gets its account as a prefix (unless it has it); every
    other type keeps the id it was sent with (a client applying a context rewrote it already)."""
    if kind == "context" and not configuration_id.startswith(account + "_"):
        return f"{account}_{configuration_id}"
    return configuration_id


def job_id(kind: str, account: str, environment: str, configuration_id: str) -> str:
    """The run stream's name as the docs write it (§1.2)."""
    if kind == TTT:
        return f"{TTT}|{configuration_id}"
    return f"{kind}|{account}|{configuration_id}|{environment}"
