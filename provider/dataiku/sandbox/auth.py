"""Who is calling: DSS API keys as HTTP Basic user names (contract §0 item 2, §3.1).

The kit's `ApiKeyAuth` reads the key (Basic, user name = key, empty password, exactly as
`dataikuapi` sends it) and this module decides what the key may do:

- the **bootstrap** key, given on the command line or by the embedding code, is the sandbox
  administrator's: it acts as the user `admin_user`, with every right, whatever the database holds;
- a **personal** key acts as its user (its groups, read live; a disabled user's keys stop working);
- a **global** key acts under its own id (`authIdentifier`) with the rights of its `groups`, or of
  an administrator when created with `globalPermissions.admin`.

A caller is an administrator when one of its groups has `admin: true`. An administrator may act
as another user with `X-DKU-ProxyUser` (`DSSUser.get_client_as`). Keys are stored as SHA-256
hashes only (`kit.key_hash`); their secret is shown once, in the answer that creates them.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request

from ..._kit.sandbox.sessions import ApiKeyAuth, key_hash
from .errors import Forbidden, Unauthorized
from .store import Db, doc_of, store_of
from .wire import flag, reply

__all__ = ["ADMIN_GROUP", "ABILITIES", "Principal", "current", "key_hash", "load_user", "new_key", "new_key_id",
           "require_admin", "router"]

ADMIN_GROUP = "administrators"
#: The group abilities the sandbox itself consults (contract §1.2 Group); other `may*` flags are
#: stored and returned but grant nothing here.
ABILITIES = ("mayCreateProjects", "mayCreateCodeEnvs", "mayWriteUnsafeCode", "mayWriteSafeCode",
             "mayCreateAuthenticatedConnections", "mayDevelopPlugins", "mayEditLibFolders",
             "mayCreateProjectsFromMacros", "mayCreateProjectsFromTemplates", "mayCreateProjectsFromDataikuApps",
             "mayWriteInRootProjectFolder", "mayCreatePublishedProjects")
_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_key() -> str:
    """A new API key secret, shaped like DSS's (`dkuaps-` and 32 random characters)."""
    return "dkuaps-" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def new_key_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


@dataclass(frozen=True)
class Principal:
    identity: str  # `authIdentifier`: the login a key acts as, or a global key's id
    login: str | None  # the DSS user the caller acts as (None: a global key)
    groups: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False
    abilities: frozenset[str] = field(default_factory=frozenset)
    key_id: str = ""
    kind: str = "global"

    def may(self, ability: str) -> bool:
        return self.is_admin or ability in self.abilities


def _group_rights(db: Db, groups: set[str]) -> tuple[frozenset[str], bool, frozenset[str]]:
    """The groups among `groups` that exist, whether one is an admin group, and their abilities."""
    existing: set[str] = set()
    admin = False
    abilities: set[str] = set()
    for name in sorted(groups):
        row = db.one("SELECT is_admin, doc FROM dss_groups WHERE name = ?", (name,))
        if row is None:
            continue
        existing.add(name)
        admin = admin or bool(row["is_admin"])
        doc = doc_of(row["doc"])
        abilities.update(a for a in ABILITIES if doc.get(a) is True)
    return frozenset(existing), admin, frozenset(abilities)


def load_user(db: Db, login: str, *, key_id: str = "", kind: str = "personal") -> Principal | None:
    """The principal a user acts as (None: no such user, or disabled)."""
    row = db.one("SELECT enabled FROM dss_users WHERE login = ?", (login,))
    if row is None or not row["enabled"]:
        return None
    names = {r["group_name"] for r in db.all("SELECT group_name FROM dss_memberships WHERE login = ?", (login,))}
    groups, admin, abilities = _group_rights(db, names)
    return Principal(login, login, groups, admin, abilities, key_id, kind)


def _lookup(db: Db, key: str) -> Principal | None:
    row = db.one("SELECT key_id, kind, login, doc FROM dss_api_keys WHERE key_hash = ?", (key_hash(key),))
    if row is None:
        return None
    doc = doc_of(row["doc"])
    expires = doc.get("expiresOn") or 0
    if isinstance(expires, int) and 0 < expires <= int(time.time() * 1000):
        return None
    if row["kind"] == "bootstrap":
        login = doc.get("user") or "admin"
        names = {r["group_name"] for r in db.all("SELECT group_name FROM dss_memberships WHERE login = ?", (login,))}
        groups, _, abilities = _group_rights(db, names)
        return Principal(login, login, groups, True, abilities, row["key_id"], "bootstrap")
    if row["kind"] == "personal":
        return load_user(db, row["login"], key_id=row["key_id"])
    groups, admin, abilities = _group_rights(db, set(doc.get("groups") or ()))
    admin = admin or bool((doc.get("globalPermissions") or {}).get("admin") is True)
    return Principal(row["key_id"], None, groups, admin, abilities, row["key_id"], "global")


_keys = ApiKeyAuth(
    _lookup,
    headers=(),
    schemes=(),
    basic=True,
    missing="No API key: send the key as the HTTP Basic user name with an empty password",
    invalid="Invalid API key (unknown, revoked, expired, or its user is disabled)",
)


def current(request: Request) -> Principal:
    """FastAPI dependency: the caller (401 without a valid key). `X-DKU-ProxyUser` makes an
    administrator act as that user (403 for anyone else, 401 for an unknown or disabled user)."""
    principal: Principal = _keys(request)
    proxy = request.headers.get("x-dku-proxyuser")
    if proxy:
        if not principal.is_admin:
            raise Forbidden("Only an administrator may act as another user (X-DKU-ProxyUser)")
        with store_of(request).read() as db:
            proxied = load_user(db, proxy, key_id=principal.key_id, kind="proxy")
        if proxied is None:
            raise Unauthorized(f"Cannot act as user {proxy}: no such enabled user")
        principal = proxied
    return principal


def require_admin(principal: Principal, action: str = "do this") -> None:
    if not principal.is_admin:
        raise Forbidden(f"Action forbidden: you need administrator rights to {action}")


router = APIRouter(tags=["auth"])


@router.get("/auth/info")
def auth_info(request: Request, principal: Principal = Depends(current)) -> Any:
    body: dict[str, Any] = {"authIdentifier": principal.identity, "groups": sorted(principal.groups),
                            "isAdmin": principal.is_admin}
    if principal.login is not None:
        body["associatedDSSUser"] = principal.login
        if flag(request, "withSecrets"):
            with store_of(request).read() as db:
                row = db.one("SELECT doc FROM dss_users WHERE login = ?", (principal.login,))
            body["secrets"] = doc_of(row["doc"]).get("secrets", []) if row is not None else []
    return reply(body)


@router.get("/instance-info")
def instance_info(_: Principal = Depends(current)) -> Any:
    return reply({"nodeId": "platforge-sandbox", "nodeName": "platforge DSS sandbox", "nodeType": "DESIGN",
                  "dssVersion": "15.2.0-sandbox"})
