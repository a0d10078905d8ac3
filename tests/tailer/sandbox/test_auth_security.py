"""F1 and the ID tokens (WIRE.md §1-3), and what the sandbox keeps on disk: only tokens it
signed get in, and no credential is stored or printed in clear."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import time
from pathlib import Path

import jwt
import pytest

from tests.tailer.sandbox.conftest import Tailer, TailerFactory, firebase_error, ok, ops_error, proxy_error

PROXY_ROUTES = [("POST", "/configuration/v2"), ("PUT", "/configuration/v2"), ("POST", "/configuration/v2/help"),
                ("PUT", "/dag-generator-v2"), ("POST", "/project-profile"), ("GET", "/_sandbox/configurations"),
                ("GET", "/_sandbox/deploys"), ("POST", "/_sandbox/runs")]
OPS_ROUTES = ["/v1/dag/launch", "/v1/dag/status", "/v1/workflow/status", "/v1/configuration/status"]


def test_the_exchange_answers_in_googles_shape(tailer: Tailer) -> None:
    body = ok(tailer.exchange())
    assert set(body) == {"access_token", "expires_in", "token_type", "refresh_token", "id_token", "user_id", "project_id"}
    assert body["expires_in"] == "3600" and body["token_type"] == "Bearer" and body["user_id"] == "sandbox-user"
    assert body["refresh_token"] == tailer.refresh_token
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["user_id"] == claims["sub"] == "sandbox-user"
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "HS256"


def test_the_exchange_also_takes_googles_form_body(tailer: Tailer) -> None:
    with tailer.raw() as c:
        response = c.post("/securetoken/v1/token", params={"key": tailer.api_key},
                          data={"grant_type": "refresh_token", "refresh_token": tailer.refresh_token})
    token = ok(response)["id_token"]
    with tailer.client(token) as c:
        assert c.post("/project-profile", json={"payload": {"uid": "sandbox-user"}}).status_code == 200


def test_the_exchange_refuses_a_wrong_key_or_refresh_token(tailer: Tailer) -> None:
    assert firebase_error(tailer.exchange(key=secrets.token_urlsafe(24))) == "API key not valid. Please pass a valid API key."
    assert firebase_error(tailer.exchange(key="")) == "API key not valid. Please pass a valid API key."
    assert firebase_error(tailer.exchange(refresh_token=secrets.token_urlsafe(32))) == "INVALID_REFRESH_TOKEN"
    with tailer.raw() as c:
        wrong_grant = c.post("/securetoken/v1/token", params={"key": tailer.api_key},
                             json={"grantType": "password", "refreshToken": tailer.refresh_token})
        assert firebase_error(wrong_grant) == "INVALID_GRANT_TYPE"
        assert firebase_error(c.post("/securetoken/v1/token", params={"key": tailer.api_key}, content=b"{nope")) == "INVALID_ARGUMENT"
        assert firebase_error(c.post("/securetoken/v1/token", params={"key": tailer.api_key}, json=[1])) == "MISSING_GRANT_TYPE"


@pytest.mark.parametrize("method,path", PROXY_ROUTES)
def test_every_proxy_route_needs_a_token(shared_tailer: Tailer, method: str, path: str) -> None:
    with shared_tailer.raw() as c:
        assert proxy_error(c.request(method, path, json={"payload": {}}), 401) == "invalid token"
        bogus = c.request(method, path, json={"payload": {}}, headers={"authorization": "Bearer " + secrets.token_urlsafe(20)})
        assert proxy_error(bogus, 401) == "invalid token"


@pytest.mark.parametrize("path", OPS_ROUTES)
def test_every_ops_route_needs_a_token(shared_tailer: Tailer, path: str) -> None:
    with shared_tailer.raw() as c:
        assert ops_error(c.post(path, json={}), 401) == "invalid token"


def _forge(claims: dict[str, object], key: bytes | str, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _claims(tailer: Tailer) -> dict[str, object]:
    return jwt.decode(tailer.id_token(), options={"verify_signature": False})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_only_tokens_the_sandbox_signed_get_in(tailer: Tailer) -> None:
    claims = _claims(tailer)
    now = int(time.time())
    unsigned = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + _b64url(json.dumps(claims).encode()) + "."
    good = tailer.id_token()
    head, body, signature = good.split(".")
    tampered_claims = {**claims, "user_id": "mallory", "sub": "mallory"}
    tampered = f"{head}.{_b64url(json.dumps(tampered_claims).encode())}.{signature}"
    flipped = f"{head}.{body}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    forged = {
        "alg none": unsigned,
        "foreign key": _forge(claims, secrets.token_bytes(32)),
        "expired": None,
        "tampered claims": tampered,
        "tampered signature": flipped,
        "HS512": _forge(claims, secrets.token_bytes(64), "HS512"),
        "garbage": secrets.token_urlsafe(40),
    }
    from platforge.provider.tailer.sandbox.auth import Tokens

    key = tailer.app.state.tokens._key
    sandbox_tokens = Tokens(key, "sandbox-user", "sandbox-project", 60)
    assert sandbox_tokens.check(good).user_id == "sandbox-user"
    forged["expired"] = _forge({**claims, "iat": now - 7200, "exp": now - 3600}, key)
    forged["another user"] = _forge({**claims, "user_id": "mallory", "sub": "mallory"}, key)
    forged["another audience"] = _forge({**claims, "aud": "someone-else"}, key)
    forged["issued in the future"] = _forge({**claims, "iat": now + 3600, "exp": now + 7200}, key)
    for name, token in forged.items():
        with tailer.client(str(token)) as c:
            response = c.post("/project-profile", json={"payload": {}})
        assert response.status_code == 401, name
        assert response.json() == {"payload": {"message": "invalid token"}}, name
    with tailer.client(good) as c:
        assert ok(c.post("/project-profile", json={"payload": {}}))["payload"]["message"] == ["sandbox-project"]


def test_credentials_are_stored_as_sha256_only(tailer_factory: TailerFactory, tmp_path: Path) -> None:
    box = tailer_factory(rsa_key=None)
    token = box.id_token()
    box.stop()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("tailer-0.db*") if p.is_file() and "signing-key" not in p.name)
    assert box.refresh_token.encode() not in data and box.api_key.encode() not in data
    assert token.encode() not in data
    assert b"PRIVATE KEY" not in data  # the RSA key is kept wrapped
    import hashlib

    assert hashlib.sha256(box.refresh_token.encode()).hexdigest().encode() in data
    for path in tmp_path.glob("tailer-0.db*"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if path.name.endswith(".pem"):
            assert mode == 0o644 and b"PRIVATE" not in path.read_bytes()
        else:
            assert mode == 0o600, path


def test_a_restart_keeps_tokens_and_a_new_refresh_token_ends_them(tailer_factory: TailerFactory, tmp_path: Path) -> None:
    first = tailer_factory(rsa_key=None)
    token = first.id_token()
    pem = (tmp_path / "tailer-0.db.tailer_public_key.pem").read_bytes()
    first.stop()
    same = tailer_factory(rsa_key=None, db_path=first.db_path, refresh_token=first.refresh_token,
                          firebase_api_key=first.api_key)
    with same.client(token) as c:
        assert c.post("/project-profile", json={"payload": {}}).status_code == 200
    assert (tmp_path / "tailer-0.db.tailer_public_key.pem").read_bytes() == pem  # the RSA key is kept
    from platforge.provider.tailer.sandbox import public_key_pem

    assert public_key_pem(same.app) == pem and pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    same.stop()
    rotated = tailer_factory(rsa_key=None, db_path=first.db_path, firebase_api_key=first.api_key)
    with rotated.client(token) as c:
        assert proxy_error(c.post("/project-profile", json={"payload": {}}), 401) == "invalid token"
    assert firebase_error(rotated.exchange(refresh_token=first.refresh_token)) == "INVALID_REFRESH_TOKEN"
    with rotated.client() as c:
        assert c.post("/project-profile", json={"payload": {}}).status_code == 200


def test_a_database_copy_without_its_key_file_opens_nothing(tailer_factory: TailerFactory, tmp_path: Path) -> None:
    from platforge.provider.tailer.sandbox import SandboxConfig, create_app

    box = tailer_factory(rsa_key=None)
    box.stop()
    Path(box.db_path + ".signing-key").unlink()
    with pytest.raises(ValueError, match="RSA key cannot be opened"):
        create_app(SandboxConfig(db_path=box.db_path, refresh_token=box.refresh_token, firebase_api_key=box.api_key))


def test_generated_credentials_are_written_0600_and_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from platforge.provider.tailer.sandbox import SANDBOX, SandboxConfig, credential_file

    monkeypatch.delenv("PLATFORGE_TAILER_REFRESH_TOKEN", raising=False)
    monkeypatch.delenv("PLATFORGE_TAILER_FIREBASE_API_KEY", raising=False)
    db = str(tmp_path / "cli.db")
    app = SANDBOX.create_app(SandboxConfig(db_path=db))
    printed = capsys.readouterr()
    values = {}
    for name in ("refresh_token", "firebase_api_key"):
        path = credential_file(db, name)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        values[name] = path.read_text().strip()
        assert len(values[name]) >= 32
        assert values[name] not in printed.out + printed.err
        assert str(path) in printed.err
    assert "tailer_public_key.pem" in printed.err
    app.state.store.close()
    # A restart reads the same files, and the exchange accepts what they hold.
    from platforge.provider._kit.sandbox.serve import EmbeddedServer

    again = SANDBOX.create_app(SandboxConfig(db_path=db))
    server = EmbeddedServer(again).start()
    try:
        import httpx

        with httpx.Client(base_url=server.url, trust_env=False) as c:
            response = c.post("/securetoken/v1/token", params={"key": values["firebase_api_key"]},
                              json={"grantType": "refresh_token", "refreshToken": values["refresh_token"]})
        assert response.status_code == 200
    finally:
        server.stop()
    assert values["refresh_token"] not in capsys.readouterr().err


def test_given_credentials_are_checked_and_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from platforge.provider.tailer.sandbox import SANDBOX, SandboxConfig, create_app

    monkeypatch.setenv("PLATFORGE_TAILER_REFRESH_TOKEN", secrets.token_urlsafe(24))
    monkeypatch.setenv("PLATFORGE_TAILER_FIREBASE_API_KEY", secrets.token_urlsafe(24))
    db = str(tmp_path / "env.db")
    SANDBOX.create_app(SandboxConfig(db_path=db)).state.store.close()
    assert not Path(db + ".refresh_token").exists() and not Path(db + ".firebase_api_key").exists()
    with pytest.raises(ValueError, match="refresh token"):
        create_app(SandboxConfig(db_path=":memory:"))
    with pytest.raises(ValueError, match="--refresh-token"):
        create_app(SandboxConfig(db_path=":memory:", refresh_token="short", firebase_api_key=secrets.token_urlsafe(20)))
    with pytest.raises(ValueError, match="--firebase-api-key"):
        create_app(SandboxConfig(db_path=":memory:", refresh_token=secrets.token_urlsafe(20), firebase_api_key="a b" * 10))


def test_credentials_stay_out_of_reprs() -> None:
    from platforge.provider.tailer.sandbox import SandboxConfig

    refresh, key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    text = repr(SandboxConfig(refresh_token=refresh, firebase_api_key=key, rsa_private_key="PEM"))
    assert refresh not in text and key not in text and "PEM" not in text


def test_the_token_lifetime_is_a_setting(tailer_factory: TailerFactory) -> None:
    box = tailer_factory(token_seconds=120)
    body = ok(box.exchange())
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert body["expires_in"] == "120" and claims["exp"] - claims["iat"] == 120
    from platforge.provider.tailer.sandbox import SandboxConfig

    with pytest.raises(ValueError, match="--token-seconds"):
        SandboxConfig(refresh_token=box.refresh_token, firebase_api_key=box.api_key, token_seconds=5).validate()
