"""A change of identity deploys the new configuration, then archives the old one (create before
delete, read from the access log); a context is applied client-side, as `tailer deploy
--context` does, and a change to it redeploys what uses it."""

from __future__ import annotations

import json
import secrets

import pytest

from .cases import CASES, SECRET_ENV
from .conftest import DEPLOY, STATUS, World, sha256
from .test_lifecycle import sealed_hashes


def test_an_identity_change_creates_the_new_one_then_archives_the_old(world: World,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES["storage_to_storage"]
    monkeypatch.setenv(SECRET_ENV, "s-" + secrets.token_hex(12))
    stack = world.stack(case.body)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    renamed = case.body.replace('version = "2"', 'version = "2"\n        configuration_id = "sts-v2"', 1)
    world.stack(renamed)
    plan = world.cli("plan", stack, "--json")
    assert plan.exit_code == 2, plan.output
    (action,) = json.loads(plan.stdout)["actions"]
    assert action["op"] == "replace" and action["replaces"]["platform_id"] == "sts"
    assert action["delete_as"]["verb"] == "archive"
    assert "the old object's delete is an archive" in world.cli("plan", stack).output
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    writes = world.writes_since(mark)
    assert writes == [DEPLOY, STATUS]  # the new one exists before the old one is archived
    stored = world.configurations()
    assert stored[("storage-to-storage", "sts-v2")]["archived"] is False
    assert stored[("storage-to-storage", "sts")]["archived"] is True
    state = json.loads((stack / ".platforge" / "state.json").read_text())
    assert state["resources"]["storage_to_storage.sts"]["platform_id"] == "sts-v2"
    assert world.cli("plan", stack).exit_code == 0


CONTEXT = '''
[context.ctx]
account = "000099"
environment = "DEV"
gcp_project_id = "sandbox-project"
doc_md = "ctx.md"
[context.ctx.parameters.bucket]
value = "{bucket}"
type = "string"
resource = "gcs_bucket"
description = "the landing bucket"
[context.ctx.parameters.sa]
value = {{ from_env = "CTX_SECRET" }}
type = "object"
resource = "gcp_credentials_secret"
description = "shared credentials"
'''

CONSUMER = '''
[storage_to_storage.copy]
account = "000099"
environment = "DEV"
{context}
filename_templates = [{{ filename_template = "{{{{FD_ENV}}}}-stores.csv" }}]
source = {{ type = "gcs", gcp_project_id = "sandbox-project", gcs_source_bucket = "{{{{bucket}}}}", gcs_source_prefix = "in/{{{{bucket}}}}", gcp_credentials_secret = "{{{{sa}}}}" }}
destinations = [{{ type = "gcs", gcs_destination_bucket = "out", gcs_destination_prefix = "out", gcp_credentials_secret = {{ from_env = "OWN_SECRET" }} }}]
'''


def test_a_context_is_applied_client_side_and_its_changes_redeploy_the_users(world: World,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    shared, own = "ctx-" + secrets.token_hex(10), "own-" + secrets.token_hex(10)
    monkeypatch.setenv("CTX_SECRET", shared)
    monkeypatch.setenv("OWN_SECRET", own)
    files = {"ctx.md": "# ctx\n"}
    stack = world.stack(CONTEXT.format(bucket="landing") + CONSUMER.format(context='context = "ctx"'), files=files)
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    stored = world.configurations()
    assert ("context", "000099_ctx") in stored
    document = stored[("storage-to-storage", "000099_ctx_copy")]["document"]
    assert document["configuration_name"] == "copy" and document["context-id"] == "000099_ctx"
    assert document["source"]["gcs_source_bucket"] == "landing"
    assert document["source"]["gcs_source_prefix"] == "in/landing"
    assert document["filename_templates"][0]["filename_template"] == "DEV-stores.csv"
    assert document["source"]["gcp_credentials_secret"]["plaintext_sha256"] == sha256(shared)
    assert document["destinations"][0]["gcp_credentials_secret"]["plaintext_sha256"] == sha256(own)
    assert world.cli("plan", stack).exit_code == 0
    # a changed parameter redeploys the context and what is deployed with it
    world.stack(CONTEXT.format(bucket="landing-2") + CONSUMER.format(context='context = "ctx"'), files=files)
    plan = json.loads(world.cli("plan", stack, "--json").stdout)
    assert {a["address"]: a["op"] for a in plan["actions"]} == {"context.ctx": "update",
                                                                "storage_to_storage.copy": "update"}
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.count(mark, DEPLOY) == 2
    document = world.configurations()[("storage-to-storage", "000099_ctx_copy")]["document"]
    assert document["source"]["gcs_source_bucket"] == "landing-2"
    # a changed shared secret redeploys the user too (the fingerprint covers the context's secrets)
    monkeypatch.setenv("CTX_SECRET", shared + "-rotated")
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.count(mark, DEPLOY) == 2
    document = world.configurations()[("storage-to-storage", "000099_ctx_copy")]["document"]
    assert document["source"]["gcp_credentials_secret"]["plaintext_sha256"] == sha256(shared + "-rotated")
    # leaving the context changes the deployed id: deploy the new one, then archive the old one
    no_context = CONSUMER.format(context="").replace('"{{sa}}"', '{ from_env = "OWN_SECRET" }') \
        .replace("{{bucket}}", "plain").replace("{{FD_ENV}}", "DEV")
    world.stack(CONTEXT.format(bucket="landing-2") + no_context, files=files)
    plan = json.loads(world.cli("plan", stack, "--json").stdout)
    (copy,) = [a for a in plan["actions"] if a["address"] == "storage_to_storage.copy"]
    assert copy["op"] == "replace" and copy["delete_as"]["verb"] == "archive"
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.writes_since(mark) == [DEPLOY, STATUS]
    stored = world.configurations()
    assert stored[("storage-to-storage", "copy")]["archived"] is False
    assert stored[("storage-to-storage", "000099_ctx_copy")]["archived"] is True
    assert set(sealed_hashes(stored[("storage-to-storage", "copy")]["document"])) == {sha256(own)}


def test_an_unknown_context_parameter_is_a_plan_error_before_any_request(world: World,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTX_SECRET", "c-" + secrets.token_hex(8))
    monkeypatch.setenv("OWN_SECRET", "o-" + secrets.token_hex(8))
    body = CONTEXT.format(bucket="x") + CONSUMER.format(context='context = "ctx"').replace("in/{{bucket}}", "in/{{nope}}")
    stack = world.stack(body, files={"ctx.md": "# ctx\n"})
    mark = world.mark()
    result = world.cli("plan", stack)
    assert result.exit_code == 1, result.output
    assert "nope" in result.output and "storage_to_storage.copy" in result.output
    assert world.requests_since(mark) == []
