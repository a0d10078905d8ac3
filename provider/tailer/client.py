"""`TailerClient`: the one object that talks to Tailer's two HTTP services (contract §2).

- the **SDK API proxy** (`endpoint`, what `tailer deploy` talks to): platforge uses only D8,
  `PUT /configuration/v2` (the deploy, an upsert). Bodies and answers are `{"payload": {...}}`,
  errors `{"payload": {"message": ...}}`;
- the **ops API** (`ops_endpoint`, `…/v1/...`): T7 `set_configuration_status` (enable, disable,
  archive) and T3 `get_last_status` (the alive probe). Errors `{"code", "data", "message"}`.

Both services take `Authorization: Bearer <Firebase ID token>` (§3.1). The token is either given
(`id_token`) or obtained through F1 (`refresh_token` + `firebase_api_key`, POSTed to
`securetoken_url`), **lazily**: building a client sends nothing, so a plan that needs no request
makes none. A 401 renews the token once (the kit's `SessionAuth`) when a refresh token is
configured, and is an `AuthenticationError` otherwise. Every credential is registered with the
redactor and never appears in a message or a repr. TLS is verified by default (the SDK does not
verify when `perform_ssl_verification` is absent, §5.11; platforge does).

The deploy payload's `uid` is the Firebase user id: F1's `user_id` when the token was refreshed,
else the ID token's own `user_id` (or `sub`) claim, read without verifying the signature (the
server verifies it; the client only needs the claim it carries).

Secrets are sealed as `tailer_sdk.tailer_crypto.encrypt_payload` seals them (§1.4): base64 of
the UTF-8 plaintext, AES-128-EAX under a fresh random 16-byte session key, the key wrapped with
RSA-OAEP (SHA-1, pycryptodome's default, as the SDK's `PKCS1_OAEP.new(public_key)`), and the
result a dict of hex strings `cipher_aes` (the nonce), `tag`, `ciphertext`, `enc_session_key`.
Every call seals afresh: ciphertexts differ each time, so nothing ever compares them.

Retries are the kit's: reads and idempotent methods after 502/503/504 and dropped connections.
D8 is a PUT and an upsert keyed on the configuration's identity, so repeating it is safe; T7 is
a POST that sets flags to absolute values, so it is marked idempotent too; T3 is a POST that only
reads. One rate limiter is shared by both services.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.PublicKey import RSA
from Crypto.Random import get_random_bytes

from .._kit.client import (
    DEFAULT_TIMEOUT,
    AdaptiveRateLimiter,
    AuthenticationError,
    BaseClient,
    ConfigurationError,
    ErrorMapper,
    NotFound,
    PlatformError,
    RateLimiter,
    Redactor,
    RetryPolicy,
    SessionAuth,
    bearer,
    checked_base_url,
    error_class_for_status,
    json_object,
    response_message,
    truncate,
    user_agent,
)

#: What the SDK adds to every D8 `resource` (§2.3 #7). platforge sends the SDK's own values, the
#: ones the server is known to accept (it may check them; see DECISIONS-client.md).
CLIENT_TYPE = "tailer-sdk"
CLIENT_VERSION = "1.3.19"
DEFAULT_SECURETOKEN_URL = "https://securetoken.googleapis.com/v1/token"
CONFIGURATION_PATH = "/configuration/v2"
STATUS_PATH = "/v1/configuration/status"
DAG_STATUS_PATH = "/v1/dag/status"
#: The four keys of a sealed secret (§1.4).
SEALED_KEYS = frozenset({"cipher_aes", "tag", "ciphertext", "enc_session_key"})

Json = dict[str, Any]


def is_sealed(value: Any) -> bool:
    """A secret already sealed: exactly the four keys, each a hex string."""
    if not isinstance(value, Mapping) or set(value) != SEALED_KEYS:
        return False
    try:
        return all(isinstance(v, str) and bytes.fromhex(v) is not None for v in value.values())
    except ValueError:
        return False


def seal(plaintext: str, public_key_pem: bytes) -> Json:
    """`tailer_crypto.encrypt_payload`, without its file-path guess and its prints."""
    public_key = RSA.import_key(public_key_pem)
    message = base64.b64encode(plaintext.encode("utf-8"))
    session_key = get_random_bytes(16)
    cipher_aes = AES.new(session_key, AES.MODE_EAX)
    cipher_rsa = PKCS1_OAEP.new(public_key)
    ciphertext, tag = cipher_aes.encrypt_and_digest(message)
    enc_session_key = cipher_rsa.encrypt(session_key)
    return {"cipher_aes": cipher_aes.nonce.hex(), "tag": tag.hex(), "ciphertext": ciphertext.hex(),
            "enc_session_key": enc_session_key.hex()}


def token_claims(token: str) -> Json:
    """The claims of a JWT, unverified (the server verifies; the client reads `user_id`)."""
    try:
        body = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def tailer_error(service: str) -> ErrorMapper:
    """None for a success, else the typed error, with the service's message (§2, WIRE.md 1)."""

    def mapper(response: httpx.Response) -> PlatformError | None:
        status = response.status_code
        if status < 400:
            return None
        message = ""
        body = json_object(response)
        if body is not None:
            payload = body.get("payload")
            inner: dict[str, Any] = payload if isinstance(payload, dict) else body
            error = body.get("error") if isinstance(body.get("error"), dict) else None
            for candidate in (inner.get("message"), error.get("message") if error else None):
                if isinstance(candidate, str) and candidate:
                    message = candidate
                    break
        text = message or response_message(response)
        return error_class_for_status(status)(truncate(f"{service}: {text}"), status=status)

    return mapper


@dataclass(frozen=True)
class Run:
    """A run of a configuration as T3 returns it (only what platforge shows)."""

    status: str
    run_id: str | None
    at: str | None


class TailerClient(BaseClient):
    """Typed access to Tailer's SDK proxy (`self`) and ops API (`self.ops`). Thread-safe."""

    def __init__(
        self,
        endpoint: str,
        ops_endpoint: str,
        *,
        id_token: str | None = None,
        refresh_token: str | None = None,
        firebase_api_key: str | None = None,
        securetoken_url: str = DEFAULT_SECURETOKEN_URL,
        public_key_file: str | None = None,
        public_key_pem: bytes | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        id_token = (id_token or "").strip() or None
        refresh_token = (refresh_token or "").strip() or None
        firebase_api_key = (firebase_api_key or "").strip() or None
        if id_token is None and refresh_token is None:
            raise ConfigurationError("Tailer needs an ID token or a refresh token (with a Firebase API key)")
        if refresh_token is not None and firebase_api_key is None:
            raise ConfigurationError("a Tailer refresh token needs the Firebase API key to be exchanged")
        self.ops_base_url = checked_base_url(ops_endpoint, "the Tailer ops API endpoint")
        self.securetoken_url = checked_base_url(securetoken_url, "the secure token URL")
        self.public_key_file = public_key_file
        self._public_key_pem = public_key_pem
        self._refresh_token = refresh_token
        self._api_key = firebase_api_key
        self._verify = verify
        self._timeout = timeout
        self._http_transport = http_transport
        self._user_id: str | None = None
        self._uid_lock = threading.Lock()
        self.token_requests = 0
        redactor = Redactor([s for s in (id_token, refresh_token, firebase_api_key) if s])
        session = SessionAuth(login=self._login if refresh_token else None, token=id_token, apply=bearer("Bearer"),
                              redactor=redactor)
        limiter = rate_limiter or AdaptiveRateLimiter(rate_limit or None, None, sleep=sleep)
        headers = {"User-Agent": user_agent(), "Accept": "application/json"}
        super().__init__(checked_base_url(endpoint, "the Tailer API endpoint"), auth=session,
                         error_mapper=tailer_error("Tailer API"), retry=retry, rate_limiter=limiter, timeout=timeout,
                         headers=headers, redactor=redactor, verify=verify, http_transport=http_transport,
                         sleep=sleep, rng=rng)
        self.ops = BaseClient(self.ops_base_url, auth=session, error_mapper=tailer_error("Tailer ops API"),
                              retry=retry, rate_limiter=limiter, timeout=timeout, headers=headers, redactor=redactor,
                              verify=verify, http_transport=http_transport, sleep=sleep, rng=rng)
        self.session = session

    def __repr__(self) -> str:
        return f"TailerClient({self.base_url!r}, ops={self.ops_base_url!r})"

    def close(self) -> None:
        super().close()
        self.ops.close()

    # ---- authentication ------------------------------------------------------------------

    def _login(self) -> str:
        """F1: exchange the refresh token for an ID token (its own request, never through the
        session it renews)."""
        self.token_requests += 1
        body = {"grantType": "refresh_token", "refreshToken": self._refresh_token}
        try:
            with httpx.Client(verify=self._verify, timeout=self._timeout, transport=self._http_transport) as http:
                # The key goes in Google's `X-Goog-Api-Key` header, never the query: httpx logs
                # every request's URL at INFO, so a program with logging on would show it.
                response = http.post(self.securetoken_url, json=body,
                                     headers={"User-Agent": user_agent(), "X-Goog-Api-Key": self._api_key or ""})
        except httpx.HTTPError as exc:
            raise AuthenticationError(self.redactor.scrub(f"cannot reach the secure token service: {exc}")) from None
        error = tailer_error("secure token service")(response)
        if error is not None:
            raise AuthenticationError(self.redactor.scrub(str(error)), status=response.status_code)
        try:
            data = response.json()
        except ValueError:
            data = None
        token = data.get("id_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError("the secure token service answered without an id_token")
        new_refresh = data.get("refresh_token") if isinstance(data, dict) else None
        if isinstance(new_refresh, str) and new_refresh:
            self.redactor.add(new_refresh)
            self._refresh_token = new_refresh
        user_id = data.get("user_id") if isinstance(data, dict) else None
        if isinstance(user_id, str) and user_id:
            self._user_id = user_id
        return token

    @property
    def uid(self) -> str:
        """The Firebase user id the deploy payload carries (logging in first if needed)."""
        with self._uid_lock:
            if self._user_id is None:
                token = self.session.current()
                if self._user_id is None:
                    claims = token_claims(token)
                    found = claims.get("user_id") or claims.get("sub")
                    if not isinstance(found, str) or not found:
                        raise AuthenticationError("the Tailer ID token carries no user_id claim")
                    self._user_id = found
            return self._user_id

    # ---- sealing -------------------------------------------------------------------------

    def public_key(self) -> bytes:
        if self._public_key_pem is None:
            if not self.public_key_file:
                raise ConfigurationError("no Tailer public key: set [platform] public_key_file or TAILER_HOME")
            try:
                self._public_key_pem = Path(self.public_key_file).read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"cannot read the Tailer public key {self.public_key_file}: "
                                         f"{exc.strerror}") from None
        return self._public_key_pem

    def seal(self, plaintext: str) -> Json:
        self.redactor.add(plaintext)
        return seal(plaintext, self.public_key())

    # ---- SDK proxy: D8 -------------------------------------------------------------------

    def deploy(self, resource: Mapping[str, Any], *, project_profile: str, deploy_cf: bool,
               secret_values: tuple[str, ...] = ()) -> str:
        """D8: deploy (create or overwrite) one configuration; the deployed configuration id."""
        body = {"payload": {"resource": {**resource, "client_type": CLIENT_TYPE, "client_version": CLIENT_VERSION},
                            "project_profile": project_profile, "uid": self.uid, "deploy_cf": deploy_cf,
                            "execute_dag": False}}
        response = self.request("PUT", CONFIGURATION_PATH, json=body, secret_values=secret_values,
                                headers={"Content-type": "application/json"})
        payload = _json(response).get("payload")
        deployed = payload.get("deployed_configuration_id") if isinstance(payload, dict) else None
        if not isinstance(deployed, str) or not deployed:
            raise PlatformError("unexpected answer to a deploy: no deployed_configuration_id", method="PUT",
                                path=CONFIGURATION_PATH, status=response.status_code)
        return deployed

    # ---- ops API: T7, T3 -----------------------------------------------------------------

    def set_status(self, *, account: str, environment: str, configuration_type: str, configuration_id: str,
                   activated: bool, archived: bool) -> None:
        """T7: enable (`True, False`), disable (`False, False`) or archive (`False, True`)."""
        body = {"action": "set_configuration_status", "activated": activated, "archived": archived,
                "account": account, "environment": environment, "configuration_type": configuration_type,
                "configuration_id": configuration_id}
        self.ops.request("POST", STATUS_PATH, json=body, idempotent=True)

    def last_run(self, *, account: str, environment: str, configuration_type: str,
                 configuration_id: str) -> Run | None:
        """T3 with `limit` 1: the newest run of a configuration, or None when it never ran."""
        body = {"action": "get_last_status", "account": account, "environment": environment,
                "configuration_type": configuration_type, "configuration_id": configuration_id, "limit": 1}
        data = _json(self.ops.request("POST", DAG_STATUS_PATH, json=body, idempotent=True))
        results = data.get("results")
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            return None
        run = results[0]
        at = run.get("last_update_date") or run.get("start_execution_date")
        return Run(status=str(run.get("status") or "unknown"), run_id=_str_or_none(run.get("run_id")),
                   at=_str_or_none(at))


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None


def _json(response: httpx.Response) -> Json:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


__all__ = [
    "CLIENT_TYPE",
    "CLIENT_VERSION",
    "DEFAULT_SECURETOKEN_URL",
    "SEALED_KEYS",
    "ConfigurationError",
    "NotFound",
    "Run",
    "TailerClient",
    "is_sealed",
    "seal",
    "tailer_error",
    "token_claims",
]
