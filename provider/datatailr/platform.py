"""Datatailr as the core sees it: its kinds, how to log in, where state can live, and the
cross-resource rules that keep two resources from owning one collection."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from platforge.core.errors import Problem, StateError
from platforge.core.model import Resource
from platforge.core.plan import problem_at
from platforge.core.schema import Name, StrictFloat, expects
from platforge.core.stack import PlatformConfig
from platforge.core.state import AccessKind, Exposure, ObjectInfo, ObjectStore

from .. import PlatformConnectionError
from .._kit.client import (
    NotFound,
    PermissionDenied,
    PlatformError,
    worth_deciding_again,
)
from .client import ConfigurationError, DatatailrClient, PasswordLogin, TokenLogin
from .kinds import (
    AppKind,
    ExcelAddinKind,
    GroupKind,
    GroupMembershipKind,
    KvKind,
    PromotionKind,
    SecretKind,
    ServiceKind,
    UserKind,
    WorkflowKind,
)
from .kinds.common import BUILTIN_GROUPS
from .kinds.user import MEMBERSHIP_OWNED_ELSEWHERE
from .models import Acl, User

#: Where the `platform` state backend keeps its objects by default, and the name of its key.
INTERNAL_PREFIX = "platforge/"
INTERNAL_KEY_SUFFIX = "/fingerprint-key"

DEFAULT_USERNAME_ENV = "DATATAILR_USER_NAME"
DEFAULT_PASSWORD_ENV = "DATATAILR_USER_PASSWORD"
DEFAULT_TOKEN_ENV = "DATATAILR_JWT"


class DatatailrObjectStore(ObjectStore):
    """State as blobs in the user bucket; the fingerprint key as a secure KV entry; access control
    through blob ACLs (directory ACLs are inherited) and KV ACLs.

    Trusted principals, for `exposure`: the signed-in identity, members of the `admin` group (and
    the group itself: administrators can do everything on the platform anyway), and the
    `[state] operators` groups and their members. Anyone else with `write` on a directory,
    object or secret (or `read` on a secret) is reported by name.

    What the API cannot show: a grant to "others" (everybody) is not part of `get-acl`/`kv acls`
    answers (contract §7.3.6). `protect` replaces ACLs, which clears such grants on what
    platforge owns; on enclosing directories the state's signature is the safeguard.
    """

    has_access_control = True
    ADMIN_GROUP = "admin"

    def __init__(self, client: DatatailrClient, environment: str) -> None:
        self.client = client
        self.environment = environment
        self._me: User | None = None
        self._trusted_ids: dict[tuple[str, ...], frozenset[int]] = {}
        self._mutex = threading.Lock()

    def describe(self) -> str:
        return f"Datatailr blob storage at {self.client.base_url}"

    def get(self, name: str) -> bytes | None:
        try:
            return self.client.blobs.get(self.client.blobs.uri(name))
        except NotFound:
            return None

    def put(self, name: str, data: bytes) -> None:
        self.client.blobs.put(self.client.blobs.uri(name), data)

    def delete(self, name: str) -> bool:
        try:
            self.client.blobs.rm(self.client.blobs.uri(name))
        except NotFound:
            return False
        return True

    def list(self, prefix: str) -> list[ObjectInfo]:
        entries = self.client.blobs.ls(self.client.blobs.uri(prefix), recursive=True)
        return [ObjectInfo(name=e.name, size=e.size,
                           modified=None if e.last_modified is None else e.last_modified / 1_000_000)
                for e in entries if e.is_file]

    def get_secret(self, name: str) -> str | None:
        try:
            return self.client.secrets.get(name, environment=self.environment).get_secret_value()
        except NotFound:
            return None

    def put_secret(self, name: str, value: str) -> None:
        self.client.secrets.put(name, value, environment=self.environment)

    # ---- access control ----------------------------------------------------------------

    def _whoami(self) -> User:
        with self._mutex:
            if self._me is None:
                self._me = self.client.users.get(self.client.users.signed_user().name)
            return self._me

    def identity(self) -> str:
        return self._whoami().name

    def _trusted(self, operators: Sequence[str]) -> frozenset[int]:
        key = tuple(sorted(operators))
        with self._mutex:
            cached = self._trusted_ids.get(key)
        if cached is not None:
            return cached
        ids = {self._whoami().user_id}
        for group_name in (self.ADMIN_GROUP, *key):
            try:
                group = self.client.groups.get(group_name)
            except NotFound:
                if group_name == self.ADMIN_GROUP:
                    continue
                raise StateError(f"[state] operators names group {group_name!r}, which does not exist on "
                                 f"{self.client.base_url}") from None
            ids.add(-group.group_id)
            ids.update(group.members)
        trusted = frozenset(ids)
        with self._mutex:
            self._trusted_ids[key] = trusted
        return trusted

    def _names(self, ids: set[int]) -> tuple[str, ...]:
        if not ids:
            return ()
        users = {u.user_id: u.name for u in self.client.users.ls()} if any(i >= 0 for i in ids) else {}
        groups = {g.group_id: g.name for g in self.client.groups.ls()} if any(i < 0 for i in ids) else {}
        return tuple(sorted(f"user {users.get(i, f'#{i}')}" if i >= 0 else f"group {groups.get(-i, f'#{-i}')}"
                            for i in ids))

    def _target(self, name: str, kind: str) -> str:
        if kind == "secret":
            return f"secret {name} (environment {self.environment})"
        return f"blob {'directory ' if kind == 'directory' else ''}{self.client.blobs.uri(name)}"

    def exposure(self, name: str, operators: Sequence[str], kind: AccessKind) -> Exposure:
        trusted = self._trusted(operators)
        target = self._target(name, kind)
        try:
            if kind == "secret":
                acl = self.client.secrets.acls(name, environment=self.environment)
            else:
                acl = self.client.blobs.get_acl(self.client.blobs.uri(name))
        except NotFound:
            return Exposure(target, exists=False)
        except PermissionDenied:
            return Exposure(target, checked=False)
        return Exposure(target, exists=True, has_acl=bool(acl.root),
                        writers=self._names(set(acl.ids("write")) - trusted),
                        readers=self._names(set(acl.ids("read")) - trusted))

    def protect(self, name: str, operators: Sequence[str], kind: AccessKind) -> bool:
        acl = Acl(users={self._whoami().name: "rw"}, groups={group: "rw" for group in operators})
        try:
            if kind == "secret":
                self.client.secrets.set_acls(name, acl, environment=self.environment)
            else:
                self.client.blobs.set_acl(self.client.blobs.uri(name), acl)
        except NotFound:
            return False
        except PermissionDenied as exc:
            raise StateError(f"cannot protect {self._target(name, kind)}: {exc.message}. Something there belongs "
                             "to someone else (an object written before platforge protected it?); refusing to "
                             "use it") from None
        return True


class DatatailrConfig(PlatformConfig):
    """Datatailr's `[platform]` table: the environment kv and secret entries default to, and
    the names of the environment variables that hold the credentials."""

    credential_fields: ClassVar[Mapping[str, str]] = {
        "username": "username_env", "password": "password_env", "token": "token_env"}

    environment: Literal["dev", "pre", "prod"] = "dev"
    username_env: Name | None = None
    password_env: Name | None = None
    token_env: Name | None = None
    rate_limit: StrictFloat | None = Field(default=None, gt=0,
                                           json_schema_extra=expects("a positive number of requests per second"))

    def scope(self) -> str:
        return self.environment


class DatatailrPlatform:
    name = "datatailr"
    config_model = DatatailrConfig
    #: Settings a front door that plans one object at a time hands over per object, by the name of
    #: its input (Pulumi's `User(membership_owned_elsewhere=[...])`): setting key, expected words.
    object_settings = {"membership_owned_elsewhere": (MEMBERSHIP_OWNED_ELSEWHERE, "a list of group names")}
    secret_detection = (
        "fingerprint: Datatailr exposes no version or modification time for secure KV entries, so "
        "platforge reads each managed secret's value (kv get --secure) and compares its keyed "
        "HMAC-SHA256 fingerprint with the one recorded at the last apply; values are never stored"
    )

    def __init__(self) -> None:
        kinds = [GroupKind(), UserKind(), GroupMembershipKind(), KvKind(), SecretKind(), WorkflowKind(), ServiceKind(),
                 AppKind(), ExcelAddinKind(), PromotionKind()]
        self.kinds = {k.name: k for k in kinds}

    # ---- stack rules -------------------------------------------------------------------

    def validate_stack(self, resources: list[Resource]) -> list[Problem]:
        problems: list[Problem] = []
        authoritative = {r.spec["name"]: r for r in resources if r.kind == "group" and "members" in r.spec}
        for name in sorted(set(authoritative) & BUILTIN_GROUPS):
            problems.append(problem_at(authoritative[name], f"{name!r} is a built-in group whose members the platform "
                                                         "itself manages; a stack cannot own its whole member list "
                                                         "(use group_membership resources to add members)"))
        memberships = [r for r in resources if r.kind == "group_membership"]
        additive_groups = {r.spec["group"] for r in memberships}
        for r in memberships:
            owner = authoritative.get(r.spec["group"])
            if owner is not None:
                problems.append(problem_at(r, f"group {r.spec['group']!r} declares its members in {owner.address} "
                                            f"({owner.source}); manage its membership there or with group_membership "
                                            "resources, not both"))
        owned_elsewhere = set(authoritative) | additive_groups
        for r in resources:
            if r.kind != "user" or "groups" not in r.spec:
                continue
            for group in r.spec["groups"]:
                if group in owned_elsewhere:
                    where = authoritative[group].address if group in authoritative else "group_membership resources"
                    problems.append(problem_at(r, f"lists group {group!r} in `groups`, but that group's membership is "
                                                f"managed by {where}; remove it from this user's groups"))
        problems += _job_problems(resources)
        return problems

    def declaration_defaults(self, kind: Any, config: DatatailrConfig) -> dict[str, Any]:
        """Environment-scoped kinds default to the table's environment."""
        return {"environment": config.environment} if "environment" in kind.spec_model.model_fields else {}

    def settings(self, config: Any, resources: list[Resource]) -> dict[str, Any]:
        owned = {r.spec["name"] for r in resources if r.kind == "group" and "members" in r.spec}
        owned |= {r.spec["group"] for r in resources if r.kind == "group_membership"}
        return {"environment": config.environment, MEMBERSHIP_OWNED_ELSEWHERE: sorted(owned)}

    # ---- connection --------------------------------------------------------------------

    def connect(self, config: Any, endpoint: str | None = None,
                environ: Mapping[str, str] | None = None) -> DatatailrClient:
        """Log in with the credentials the stack's [platform] table points at (variable names),
        looked up in `environ` (the process environment by default)."""
        environ = os.environ if environ is None else environ
        base_url = endpoint or config.endpoint
        token_env = config.token_env or DEFAULT_TOKEN_ENV
        user_env = config.username_env or DEFAULT_USERNAME_ENV
        password_env = config.password_env or DEFAULT_PASSWORD_ENV
        username, password, token = environ.get(user_env), environ.get(password_env), environ.get(token_env)
        if username and password:
            credentials: Any = PasswordLogin(username, password)
        elif token:
            credentials = TokenLogin(token)
        else:
            raise PlatformConnectionError(
                f"no Datatailr credentials: set {user_env} and {password_env}, or {token_env} "
                "(the stack's [platform] username_env / password_env / token_env name other variables)")
        try:
            client = DatatailrClient(base_url, credentials, rate_limit=config.rate_limit)
            if isinstance(credentials, PasswordLogin):
                client.login()
            else:
                client.users.signed_user()
        except ConfigurationError as exc:
            raise PlatformConnectionError(f"[platform] endpoint {base_url!r}: {exc}") from None
        except PlatformError as exc:
            raise PlatformConnectionError(f"cannot log in to {base_url}: {exc}") from None
        return client

    def is_internal(self, kind: str, identity: tuple) -> bool:
        """platforge's own objects (a state backend's fingerprint key) are never findings."""
        return kind == "secret" and (str(identity[-1]).startswith(INTERNAL_PREFIX)
                                     or str(identity[-1]).endswith(INTERNAL_KEY_SUFFIX))

    def is_transient(self, exc: Exception) -> bool:
        return worth_deciding_again(exc)

    def endpoint_of(self, client: DatatailrClient) -> str:
        return client.base_url

    def object_store(self, client: DatatailrClient, config: Any) -> DatatailrObjectStore:
        return DatatailrObjectStore(client, config.environment)


JOB_KINDS = ("workflow", "service", "app", "excel_addin")


def _job_problems(resources: list[Resource]) -> list[Problem]:
    """Jobs of every type share one name per environment; a promotion names a declared job and
    carries that job's name."""
    problems: list[Problem] = []
    jobs: dict[str, Resource] = {}
    by_address = {r.address: r for r in resources}
    for r in resources:
        if r.kind in JOB_KINDS:
            other = jobs.setdefault(r.spec["name"], r)
            if other is not r:
                problems.append(problem_at(r, f"its job name {r.spec['name']!r} is also the name of {other.address} "
                                            f"({other.source}); jobs of every type share one name space"))
    promoted: dict[str, Resource] = {}
    for r in resources:
        if r.kind != "promotion":
            continue
        job_address = next((ref.address for ref in r.refs if ref.kind in JOB_KINDS), "")
        job = by_address.get(job_address)
        if job is None:
            if any(isinstance(r.spec.get(env), dict) for env in ("pre", "prod")):
                problems.append(problem_at(r, f"promotes \"promoted\" versions of {job_address}, which this stack "
                                            "does not declare; declare the job or pin version numbers"))
        elif job.spec["name"] != r.spec["name"]:
            problems.append(problem_at(r, f"name {r.spec['name']!r} differs from the name of {job.address}, "
                                        f"{job.spec['name']!r}; set name = {job.spec['name']!r}"))
        other = promoted.setdefault(r.spec["name"], r)
        if other is not r:
            problems.append(problem_at(r, f"job {r.spec['name']!r} is already promoted by {other.address}; one "
                                        "promotion per job"))
    return problems


PLATFORM = DatatailrPlatform()
