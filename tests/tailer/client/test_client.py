"""`TailerClient` on a scripted transport: lazy login, one renewal on a 401, the D8/T7/T3 wire
shapes, sealing as the SDK seals, and error classification."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.PublicKey import RSA
from platforge.provider.tailer import (
    CLIENT_TYPE,
    CLIENT_VERSION,
    AuthenticationError,
    BadRequest,
    NotFound,
    ServerError,
    TailerClient,
    seal,
)
from platforge.provider.tailer.platform import PLATFORM

Handler = Callable[[httpx.Request], httpx.Response]
KEY = RSA.generate(2048)


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'HS256'})}.{part(claims)}.{secrets.token_urlsafe(16)}"


class Fake:
    """Records every request; answers with `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


def client(fake: Fake, **kwargs: Any) -> TailerClient:
    kwargs.setdefault("public_key_pem", KEY.publickey().export_key())
    return TailerClient("https://proxy.example/", "https://ops.example", http_transport=httpx.MockTransport(fake),
                        sleep=lambda _: None, **kwargs)


def deployed(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)["payload"]["resource"]
    return httpx.Response(200, json={"payload": {"message": "ok", "deployed_configuration_id": body["configuration_id"]}})


def test_building_a_client_sends_nothing_and_the_uid_comes_from_the_token() -> None:
    fake = Fake(deployed)
    user = "u-" + secrets.token_hex(4)
    c = client(fake, id_token=jwt({"user_id": user, "sub": "other"}))
    assert fake.requests == []
    assert c.deploy({"configuration_id": "x", "account": "000099"}, project_profile="p", deploy_cf=True) == "x"
    (request,) = fake.requests
    assert request.method == "PUT" and request.url.path == "/configuration/v2"
    assert request.headers["Authorization"].startswith("Bearer ")
    payload = json.loads(request.content)["payload"]
    assert payload == {"resource": {"configuration_id": "x", "account": "000099", "client_type": CLIENT_TYPE,
                                    "client_version": CLIENT_VERSION},
                       "project_profile": "p", "uid": user, "deploy_cf": True, "execute_dag": False}


def test_a_refresh_token_is_exchanged_lazily_once_and_a_401_renews_it_once() -> None:
    refresh, key = "rt-" + secrets.token_hex(8), "k-" + secrets.token_hex(8)
    tokens = iter([jwt({"user_id": "u1", "n": 1}), jwt({"user_id": "u1", "n": 2})])
    issued: list[str] = []
    rejected = {"count": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/token":
            assert request.headers["x-goog-api-key"] == key and "key" not in request.url.params
            assert json.loads(request.content) == {"grantType": "refresh_token", "refreshToken": refresh}
            issued.append(next(tokens))
            return httpx.Response(200, json={"id_token": issued[-1], "user_id": "u1", "refresh_token": refresh})
        if request.headers["Authorization"] == f"Bearer {issued[0]}" and rejected["count"] == 0:
            rejected["count"] += 1
            return httpx.Response(401, json={"payload": {"message": "invalid token"}})
        return deployed(request)

    fake = Fake(handler)
    c = client(fake, refresh_token=refresh, firebase_api_key=key, securetoken_url="https://token.example/v1/token")
    assert fake.requests == []
    c.deploy({"configuration_id": "a"}, project_profile="p", deploy_cf=False)
    assert fake.paths() == ["POST /v1/token", "PUT /configuration/v2", "POST /v1/token", "PUT /configuration/v2"]
    c.deploy({"configuration_id": "b"}, project_profile="p", deploy_cf=False)
    assert fake.paths()[4:] == ["PUT /configuration/v2"]
    assert c.token_requests == 2
    assert refresh not in repr(c) and key not in repr(c)


def test_a_token_rejected_twice_is_an_authentication_error_not_a_retry_loop() -> None:
    fake = Fake(lambda r: httpx.Response(200, json={"id_token": jwt({"user_id": "u"})}) if r.url.path == "/v1/token"
                else httpx.Response(401, json={"payload": {"message": "invalid token"}}))
    c = client(fake, refresh_token="rt-" + secrets.token_hex(8), firebase_api_key="k-" + secrets.token_hex(8),
               securetoken_url="https://token.example/v1/token")
    with pytest.raises(AuthenticationError):
        c.set_status(account="000099", environment="DEV", configuration_type="workflow", configuration_id="w",
                     activated=False, archived=True)
    assert fake.paths().count("POST /v1/configuration/status") == 2


def test_a_bad_refresh_token_says_what_the_token_service_said_without_the_token() -> None:
    refresh = "rt-" + secrets.token_hex(8)
    fake = Fake(lambda r: httpx.Response(400, json={"error": {"code": 400, "message": "INVALID_REFRESH_TOKEN"}}))
    c = client(fake, refresh_token=refresh, firebase_api_key="k-" + secrets.token_hex(8),
               securetoken_url="https://token.example/v1/token")
    with pytest.raises(AuthenticationError) as caught:
        c.deploy({"configuration_id": "a"}, project_profile="p", deploy_cf=False)
    assert "INVALID_REFRESH_TOKEN" in str(caught.value) and refresh not in str(caught.value)


def test_status_and_last_run_bodies_and_answers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/dag/status":
            return httpx.Response(200, json={"results": [{"status": "SUCCESS", "run_id": "20240101-abc",
                                                          "start_execution_date": "2024-01-01T00:00:00+00:00"}]})
        return httpx.Response(200, json={"message": "ok"})

    fake = Fake(handler)
    c = client(fake, id_token=jwt({"user_id": "u"}))
    c.set_status(account="000099", environment="DEV", configuration_type="workflow", configuration_id="w",
                 activated=False, archived=True)
    run = c.last_run(account="000099", environment="DEV", configuration_type="workflow", configuration_id="w")
    assert run is not None and (run.status, run.run_id, run.at) == ("SUCCESS", "20240101-abc",
                                                                     "2024-01-01T00:00:00+00:00")
    status, last = (json.loads(r.content) for r in fake.requests)
    assert {r.url.host for r in fake.requests} == {"ops.example"}
    assert status == {"action": "set_configuration_status", "activated": False, "archived": True, "account": "000099",
                      "environment": "DEV", "configuration_type": "workflow", "configuration_id": "w"}
    assert last == {"action": "get_last_status", "account": "000099", "environment": "DEV",
                    "configuration_type": "workflow", "configuration_id": "w", "limit": 1}


def test_no_run_is_none() -> None:
    c = client(Fake(lambda r: httpx.Response(200, json={"results": []})), id_token=jwt({"user_id": "u"}))
    assert c.last_run(account="000099", environment="DEV", configuration_type="vm-launcher", configuration_id="v") is None


@pytest.mark.parametrize(("status", "body", "error", "transient"), [
    (400, {"payload": {"message": "source is mandatory"}}, BadRequest, False),
    (404, {"code": 404, "data": {}, "message": "configuration not found"}, NotFound, False),
    (503, {"payload": {"message": "unavailable"}}, ServerError, True),
    (500, {"payload": {"message": "boom"}}, ServerError, False),
])
def test_errors_are_typed_with_the_services_message_and_classified(status: int, body: dict[str, Any],
                                                                   error: type[Exception], transient: bool) -> None:
    c = client(Fake(lambda r: httpx.Response(status, json=body)), id_token=jwt({"user_id": "u"}),
               retry=None)
    with pytest.raises(error) as caught:
        c.deploy({"configuration_id": "x"}, project_profile="p", deploy_cf=False)
    message = body.get("message") or body["payload"]["message"]
    assert message in str(caught.value)
    assert PLATFORM.is_transient(caught.value) is transient


def unseal(sealed: dict[str, str]) -> bytes:
    session_key = PKCS1_OAEP.new(KEY).decrypt(bytes.fromhex(sealed["enc_session_key"]))
    cipher = AES.new(session_key, AES.MODE_EAX, nonce=bytes.fromhex(sealed["cipher_aes"]))
    return cipher.decrypt_and_verify(bytes.fromhex(sealed["ciphertext"]), bytes.fromhex(sealed["tag"]))


def test_seal_is_the_sdks_encrypt_payload_and_fresh_every_time() -> None:
    plaintext = '{"type": "service_account", "key": "' + secrets.token_hex(16) + '"}'
    first, second = (seal(plaintext, KEY.publickey().export_key()) for _ in range(2))
    assert set(first) == {"cipher_aes", "tag", "ciphertext", "enc_session_key"}
    assert all(bytes.fromhex(v) for v in first.values())
    assert unseal(first) == base64.b64encode(plaintext.encode()) == unseal(second)
    assert first["ciphertext"] != second["ciphertext"] and first["enc_session_key"] != second["enc_session_key"]


def test_connect_needs_credentials_and_sends_nothing() -> None:
    from platforge.provider import PlatformConnectionError
    from platforge.provider.tailer.platform import TailerConfig

    config = TailerConfig(type="tailer", endpoint="https://proxy.example/", ops_endpoint="https://ops.example")
    with pytest.raises(PlatformConnectionError, match="PLATFORGE_TAILER_ID_TOKEN"):
        PLATFORM.connect(config, environ={})
    with pytest.raises(PlatformConnectionError, match="FIREBASE_API_KEY"):
        PLATFORM.connect(config, environ={"PLATFORGE_TAILER_REFRESH_TOKEN": "rt-" + secrets.token_hex(8)})
    c = PLATFORM.connect(config, environ={"PLATFORGE_TAILER_ID_TOKEN": jwt({"user_id": "u"}), "TAILER_HOME": "/th"})
    assert c.public_key_file == "/th/tailer_public_key.pem" and c.stats.requests == 0
