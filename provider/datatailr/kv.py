"""KV entries and secrets (contract §2.4): one API, two namespaces (`secure` off / on).

`put` is a PUT (an upsert), `set-acls` replaces and `add-acls` merges (a set union). None is
marked idempotent: they are an apply's writes, which are never sent twice after an ambiguous
failure unless live state shows the first did not land (see `users`). Values are sent raw (no added quotes, §7.2.2) and returned raw
(never JSON-decoded, §7.2.3); a secret's value is a `SecretStr` and is masked in any error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .filters import combine
from .models import Acl, AclIds, KvEntry
from .wire import comma_list

if TYPE_CHECKING:
    from .client import DatatailrClient

Environments = str | Sequence[str] | None


def _environments(value: Environments) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return comma_list(value, "environment")


class KvApi:
    """Plain KV entries. `environment=None` lets the server pick (dev for a remote caller)."""

    secure = False

    def __init__(self, client: DatatailrClient) -> None:
        self._client = client

    def _target(self, key: str, environment: str | None) -> dict[str, Any]:
        return {"key": key, "secure": self.secure, "environment": environment}

    def put(self, key: str, value: str, *, environment: str | None = None, acl: Acl | None = None) -> str:
        """Create or replace the value. `acl` is *added* to the entry's ACL (set_acls replaces)."""
        if not isinstance(value, str):
            raise TypeError("a KV value is a string; serialise it first")
        args = {**self._target(key, environment), "value": value, **(acl.to_options() if acl else {})}
        return self._client.call("PUT", "kv/put", args, secret_values=[value])

    def _get(self, key: str, environment: str | None) -> str:
        result = self._client.call("GET", "kv/get", {**self._target(key, environment), "json": True})
        return result if isinstance(result, str) else json.dumps(result)

    def get(self, key: str, *, environment: str | None = None) -> str:
        return self._get(key, environment)

    def ls(
        self,
        *,
        environment: Environments = None,
        key_prefix: str | None = None,
        filter: str | None = None,
        where: Mapping[str, Any] | None = None,
        sort: str | None = None,
        acls: bool = True,
        include_values: bool = False,
    ) -> list[KvEntry]:
        """Every entry (all pages; `kv ls` returns 100 at a time by default)."""
        base = {
            "key_prefix": key_prefix,
            "acls": acls,
            "secure": self.secure,
            "include-values": include_values and not self.secure,
            "environment": _environments(environment),
            "filter": combine(filter, where),
            "sort": sort,
            "json": True,
        }
        rows = self._client._ls("kv/ls", base, key=lambda r: (r.get("environment"), r.get("key")))
        return [KvEntry.model_validate(r) for r in rows]

    def acls(self, key: str, *, environment: str | None = None) -> AclIds:
        return AclIds.model_validate(self._client.call("GET", "kv/acls", {**self._target(key, environment), "json": True}))

    def set_acls(self, key: str, acl: Acl, *, environment: str | None = None) -> str:
        """Replace the ACL with exactly `acl` (an empty `Acl` leaves nobody but admins)."""
        return self._client.call("POST", "kv/set-acls", {**self._target(key, environment), **acl.to_options()})

    def add_acls(self, key: str, acl: Acl, *, environment: str | None = None) -> str:
        return self._client.call("POST", "kv/add-acls", {**self._target(key, environment), **acl.to_options()})

    def rm(self, key: str, *, environment: str | None = None) -> str:
        return self._client.call("DELETE", "kv/rm", self._target(key, environment))


class SecretsApi(KvApi):
    """Secrets: KV entries with `secure` set. Listing never returns values."""

    secure = True

    def get(self, key: str, *, environment: str | None = None) -> SecretStr:  # type: ignore[override]
        return SecretStr(self._get(key, environment))

    def put(self, key: str, value: str | SecretStr, *, environment: str | None = None,  # type: ignore[override]
            acl: Acl | None = None) -> str:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return super().put(key, raw, environment=environment, acl=acl)
