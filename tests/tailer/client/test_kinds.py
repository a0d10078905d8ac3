"""The kinds without a server: declarations (secrets at their natural places, files, field
rules), context application exactly as the SDK's `apply_context`, and the deploy document."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from platforge.provider.tailer.client import is_sealed
from platforge.provider.tailer.kinds.common import CONTEXTS, apply_context
from platforge.provider.tailer.platform import PLATFORM
from pydantic import ValidationError

from platforge.core.fingerprint import Fingerprinter
from platforge.core.kind import Context
from platforge.core.model import SourceLocation

STS = {"account": "000099", "environment": "DEV", "project_profile": "p",
       "filename_templates": [{"filename_template": "a.csv"}],
       "source": {"type": "gcs", "gcp_project_id": "p", "gcs_source_bucket": "b", "gcs_source_prefix": "in",
                  "gcp_credentials_secret": {"from_env": "T_A"}},
       "destinations": [{"type": "s3", "s3_bucket": "s", "s3_destination_prefix": "o", "aws_access_key": "AK",
                         "aws_access_key_secret": {"from_env": "T_B"}}]}


def kind(name: str) -> Any:
    return PLATFORM.kinds[name]


def declare(name: str, raw: dict[str, Any], tmp_path: Path, **kw: Any) -> Any:
    return kind(name).declare("x", json.loads(json.dumps(raw)), SourceLocation(str(tmp_path / "main.toml"), 1),
                              str(tmp_path), **kw)


def test_secrets_are_references_in_the_spec_and_one_fingerprinted_map_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = "a-" + secrets.token_hex(8), "b-" + secrets.token_hex(8)
    monkeypatch.setenv("T_A", a)
    monkeypatch.setenv("T_B", b)
    resource = declare("storage_to_storage", STS, tmp_path)
    assert resource.spec["secrets"] == {"destinations.0.aws_access_key_secret": {"from_env": "T_B"},
                                        "source.gcp_credentials_secret": {"from_env": "T_A"}}
    assert resource.spec["source"]["gcp_credentials_secret"] == {"from_env": "T_A"}
    assert json.loads(resource.secrets["secrets"]) == {"destinations.0.aws_access_key_secret": b,
                                                       "source.gcp_credentials_secret": a}
    assert kind("storage_to_storage").sensitive_fields == frozenset({"secrets"})
    assert a not in json.dumps(resource.spec) and resource.identity == ("000099", "DEV", "x")


def test_a_front_door_passes_values_by_path(tmp_path: Path) -> None:
    given = {"source.gcp_credentials_secret": "g-" + secrets.token_hex(6),
             "destinations.0.aws_access_key_secret": "h-" + secrets.token_hex(6)}
    raw = json.loads(json.dumps(STS))
    del raw["source"]["gcp_credentials_secret"]
    raw["destinations"][0]["aws_access_key_secret"] = {"from_env": "UNSET_" + secrets.token_hex(4)}
    with pytest.raises(ValidationError):  # a missing secret is a missing required field
        declare("storage_to_storage", raw, tmp_path, secret_values={"destinations.0.aws_access_key_secret": "v"})
    resource = declare("storage_to_storage", STS, tmp_path, secret_values=given)
    assert json.loads(resource.secrets["secrets"]) == given
    assert resource.spec["secrets"] == {k: {"from_program": "secret"} for k in given}


def test_a_sealed_value_passes_through_and_a_template_needs_a_context(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_B", "b")
    sealed = {"cipher_aes": "00ff", "tag": "ab", "ciphertext": "cd", "enc_session_key": "ef"}
    raw = json.loads(json.dumps(STS))
    raw["source"]["gcp_credentials_secret"] = sealed
    resource = declare("storage_to_storage", raw, tmp_path)
    assert is_sealed(resource.spec["source"]["gcp_credentials_secret"])
    assert list(resource.spec["secrets"]) == ["destinations.0.aws_access_key_secret"]
    raw["source"]["gcp_credentials_secret"] = "{{sa}}"
    with pytest.raises(ValidationError, match="sets no context"):
        declare("storage_to_storage", raw, tmp_path)
    raw["context"] = "ctx"
    assert declare("storage_to_storage", raw, tmp_path).spec["source"]["gcp_credentials_secret"] == "{{sa}}"


def test_a_files_content_is_in_the_spec_by_digest(tmp_path: Path) -> None:
    raw = {"account": "000099", "environment": "DEV", "version": "3", "gcp_project_id": "p", "gcs_dest_bucket": "b",
           "gcs_dest_prefix": "o", "doc_md": "d.md", "tasks": [{"task_id": "t1", "sql_file": "q.sql",
                                                                "output_filename": "o.csv"}]}
    (tmp_path / "d.md").write_text("# doc\n")
    (tmp_path / "q.sql").write_text("SELECT 1\n")
    first = declare("table_to_storage", raw, tmp_path)
    assert first.spec["tasks"][0]["sql_file"]["file"] == "q.sql"
    (tmp_path / "q.sql").write_text("SELECT 2\n")
    second = declare("table_to_storage", raw, tmp_path)
    assert first.spec["tasks"][0]["sql_file"]["sha256"] != second.spec["tasks"][0]["sql_file"]["sha256"]
    assert first.spec["doc_md"] == second.spec["doc_md"]
    (tmp_path / "q.sql").write_text("")
    with pytest.raises(ValidationError, match="is empty"):
        declare("table_to_storage", raw, tmp_path)


def test_context_parameters_are_checked(tmp_path: Path) -> None:
    (tmp_path / "c.md").write_text("# c\n")
    base = {"account": "000099", "environment": "DEV", "gcp_project_id": "p", "doc_md": "c.md"}
    good = {"n": {"value": 3, "type": "integer", "resource": "value", "description": "d"}}
    assert declare("context", {**base, "parameters": good}, tmp_path).spec["parameters"]["n"]["value"] == 3
    for parameters, message in [
        ({"n": {"value": "3", "type": "integer", "resource": "value", "description": "d"}}, "of type integer"),
        ({"FD_X": {"value": "3", "type": "string", "resource": "value", "description": "d"}}, "reserved"),
        ({"n": {"value": "3", "type": "string", "resource": "value"}}, "description"),
        ({"n": {"value": "plain", "type": "object", "resource": "gcp_credentials_secret", "description": "d"}},
         "inline secret"),
    ]:
        with pytest.raises(ValidationError, match=message):
            declare("context", {**base, "parameters": parameters}, tmp_path)


CONTEXT = {"account": "000099", "configuration_id": "context_dev", "environment": "DEV", "version": "3",
           "parameters": {"bucket": {"value": "b-1", "type": "string"}, "n": {"value": 5, "type": "integer"},
                          "sa": {"value": {"cipher_aes": "aa"}, "type": "object"},
                          "flag": {"value": True, "type": "boolean"}}}


@pytest.mark.parametrize(("text", "expected"), [
    ('{"x": "{{FD_ENV}}-{{FD_ACCOUNT}}-{{FD_CONTEXT}}"}', '{"x": "DEV-000099-000099_context_dev"}'),
    ('{"x": "{{sa}}"}', '{"x": {\n    "cipher_aes": "aa"\n}}'),
    ('{"x": "gs://{{bucket}}/{{n}}"}', '{"x": "gs://b-1/5"}'),
    ('{"x": "{{n}}"}', '{"x": 5}'),
    ('{"x": "a{{flag}}"}', '{"x": "aVARIABLE_TYPE_NOT_SUPPORTED_PLEASE_CHECK_CONTEXT"}'),
    ('{"x": "{{TEMPLATE_CURRENT_DATE}} {{FD_DATE}}"}', '{"x": "{{TEMPLATE_CURRENT_DATE}} {{FD_DATE}}"}'),
])
def test_apply_context_is_the_sdks(text: str, expected: str) -> None:
    assert apply_context(text, CONTEXT) == expected


def test_an_unknown_embedded_variable_is_an_error() -> None:
    with pytest.raises(ValueError, match="nope"):
        apply_context('{"x": "a-{{nope}}"}', CONTEXT)


def test_the_document_with_a_context_gets_the_sdks_id_and_names(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_A", "a")
    monkeypatch.setenv("T_B", "b")
    monkeypatch.setenv("T_C", "shared")
    (tmp_path / "c.md").write_text("# c\n")
    context = declare("context", {"account": "000099", "environment": "DEV", "gcp_project_id": "p",
                                  "doc_md": "c.md", "configuration_id": "context_dev",
                                  "parameters": {"sa": {"value": {"from_env": "T_C"}, "type": "object",
                                                        "resource": "gcp_credentials_secret", "description": "d"}}},
                      tmp_path)
    raw = json.loads(json.dumps(STS))
    raw["context"] = "ctx"
    raw["source"]["gcp_credentials_secret"] = "{{sa}}"
    consumer = declare("storage_to_storage", raw, tmp_path)
    ctx = Context(None, Fingerprinter(secrets.token_bytes(32)), {CONTEXTS: {"ctx": context}})
    sts = kind("storage_to_storage")
    target = sts.desired(ctx, consumer)
    assert target.spec["deployed_id"] == "000099_context_dev_x"
    assert json.loads(target.secrets["secrets"])["context.parameters.sa.value"] == "shared"
    sealed: list[str] = []
    doc = sts.document(target, target.spec, lambda p: sealed.append(p) or {"sealed": p})
    assert doc["configuration_id"] == "000099_context_dev_x" and doc["configuration_name"] == "x"
    assert doc["context-id"] == "000099_context_dev" and doc["context-version"] == "1"
    assert doc["source"]["gcp_credentials_secret"] == {"sealed": "shared"}
    assert sorted(sealed) == ["b", "shared"]
    assert "context" not in doc and "secrets" not in doc and "deployed_id" not in doc


def test_the_sensitive_field_itself_may_carry_the_map(tmp_path: Path) -> None:
    given = {"source.gcp_credentials_secret": "g-" + secrets.token_hex(6),
             "destinations.0.aws_access_key_secret": "h-" + secrets.token_hex(6)}
    resource = declare("storage_to_storage", STS, tmp_path, secret_values={"secrets": json.dumps(given)})
    assert json.loads(resource.secrets["secrets"]) == given


def test_validation_errors_never_echo_an_inline_secret() -> None:
    plaintext = "p-" + secrets.token_hex(10)
    raw = json.loads(json.dumps(STS))
    raw["source"]["gcp_credentials_secret"] = plaintext
    errors = kind("storage_to_storage").validation_errors("x", raw)
    assert [e["loc"] for e in errors] == [("source", "gcp_credentials_secret")]
    assert plaintext not in repr(errors)


def test_sts_and_stt_need_a_project_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_A", "a")
    monkeypatch.setenv("T_B", "b")
    raw = {k: v for k, v in STS.items() if k != "project_profile"}
    with pytest.raises(ValidationError, match="project_profile"):
        declare("storage_to_storage", raw, tmp_path)
    from platforge.provider.tailer.platform import TailerConfig

    config = TailerConfig(type="tailer", endpoint="https://p.example/", ops_endpoint="https://o.example",
                          project_profile="from-platform")
    assert PLATFORM.declaration_defaults(kind("storage_to_storage"), config) == {"project_profile": "from-platform"}
    assert PLATFORM.declaration_defaults(kind("workflow"), config) == {}  # its gcp_project_id comes first
