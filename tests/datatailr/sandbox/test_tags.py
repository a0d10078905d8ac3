"""Node tags (contract §2.8): the three the SDK reads come from the configuration."""

from __future__ import annotations

import httpx

from tests.conftest import SandboxFactory
from tests.datatailr.sandbox.conftest import UserFactory, result, signed_in


def test_config_tags_are_served(admin: httpx.Client) -> None:
    tag = lambda name: result(admin.get("/api/tag/get", params={"tag": name}))  # noqa: E731
    assert (tag("blob_storage_prefix"), tag("public_hostname"), tag("public_domain")) == ("sandbox-", "sandbox", "localhost")
    assert result(admin.get("/api/tag/ls", params={"json": "True"})) == {
        "blob_storage_prefix": "sandbox-", "public_domain": "localhost", "public_hostname": "sandbox"}
    assert "not found" in result(admin.get("/api/tag/get", params={"tag": "nope"}), 404)
    assert "tag" in result(admin.get("/api/tag/get"), 400)


def test_tags_are_read_only_for_non_admins(admin: httpx.Client, make_user: UserFactory) -> None:
    bob = make_user("bob")
    assert result(bob.get("/api/tag/get", params={"tag": "public_domain"})) == "localhost"
    assert "Permission denied" in result(bob.post("/api/tag/set", json={"key": "team", "value": "x"}), 403)
    assert "Permission denied" in result(bob.request("DELETE", "/api/tag/rm", json={"tag": "public_domain"}), 403)
    result(admin.post("/api/tag/set", json={"key": "team", "value": "data-eng"}))
    assert result(bob.get("/api/tag/get", params={"tag": "team"})) == "data-eng"
    result(admin.request("DELETE", "/api/tag/rm", json={"tag": "team"}))
    assert "not found" in result(admin.request("DELETE", "/api/tag/rm", json={"tag": "team"}), 404)
    for key in ("blob_storage_prefix", "public_hostname", "public_domain"):
        assert "read-only" in result(admin.post("/api/tag/set", json={"key": key, "value": "x"}), 409)
        assert "read-only" in result(admin.request("DELETE", "/api/tag/rm", json={"tag": key}), 409)
    assert result(bob.get("/api/tag/ls"))["public_domain"] == "localhost"


def test_config_tags_follow_the_configuration_across_restarts(sandbox_factory: SandboxFactory) -> None:
    first = sandbox_factory(public_hostname="alpha", public_domain="example.test", admin_password="pw-1")
    first.stop()
    second = sandbox_factory(db_path=first.db_path, admin_password="pw-1", public_hostname="beta")
    with signed_in(second.url, second.admin_user, "pw-1") as client:
        tags = result(client.get("/api/tag/ls"))
    assert (tags["public_hostname"], tags["public_domain"]) == ("beta", "localhost")
