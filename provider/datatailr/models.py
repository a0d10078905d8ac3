"""Typed, normalised views of what the Datatailr API returns (contract §2).

The models absorb the wire's quirks so that nothing downstream has to: a user's `groups` is a
comma string on the wire and a list here; an ACL is `{perm: [ids]}` with negative ids for
groups; memory is bytes on read and `"256m"` on write. Unknown fields are ignored, missing
optional fields get neutral defaults, so that a server adding a field does not break a plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

Permission = Literal["read", "write", "operate", "access", "promote"]
PERMISSIONS: tuple[Permission, ...] = ("read", "write", "operate", "access", "promote")
LETTERS: dict[str, Permission] = {p[0]: p for p in PERMISSIONS}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def memory_bytes(value: int | float | str) -> int:
    """`"256m"`, `"2G"`, `"1gb"`, `"512Mi"` or a byte count → bytes. Units are binary, as the
    SDK's read-back (`bytes / 1024**2`) implies (contract §2.6, §7.3.11)."""
    if isinstance(value, bool):
        raise ValueError("memory must be a size, not a boolean")
    if isinstance(value, (int, float)):
        return int(value)
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f"invalid memory size {value!r}: expected e.g. '256m' or '2g'")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def memory_text(n_bytes: int) -> str:
    """Bytes → the shortest exact `"<n><unit>"` the write side accepts (`"256m"`, `"2g"`)."""
    for unit in ("p", "t", "g", "m", "k"):
        size = _UNITS[unit]
        if n_bytes and n_bytes % size == 0:
            return f"{n_bytes // size}{unit}"
    return str(n_bytes)


def _letters(perms: Iterable[Permission]) -> str:
    wanted = set(perms)
    return "".join(p[0] for p in PERMISSIONS if p in wanted)


def _permissions(value: Any, where: str) -> frozenset[Permission]:
    """`"rw"` (letters), `"read"`, or an iterable of names/letters → a set of permissions."""
    if isinstance(value, str):
        text = value.strip().lower()
        items: Iterable[Any] = [text] if text in PERMISSIONS else list(text)
    else:
        items = value
    out: set[Permission] = set()
    for item in items:
        item = str(item).strip().lower()
        if item in PERMISSIONS:
            out.add(item)  # type: ignore[arg-type]
        elif item in LETTERS:
            out.add(LETTERS[item])
        else:
            raise ValueError(
                f"invalid permission {item!r} for {where}: use read/write/operate/access/promote or r/w/o/a/p"
            )
    return frozenset(out)


_PRINCIPAL = re.compile(r"[^\s,:'\"]+")


class Acl(BaseModel):
    """An ACL by *name*, as users write it and as the CLI options carry it:
    `users="alice:rw,bob:r"`, `groups="analysts:r"`, `others="r"`."""

    model_config = ConfigDict(frozen=True)

    users: dict[str, frozenset[Permission]] = Field(default_factory=dict)
    groups: dict[str, frozenset[Permission]] = Field(default_factory=dict)
    others: frozenset[Permission] = frozenset()

    @field_validator("users", "groups", mode="before")
    @classmethod
    def _entities(cls, value: Any, info) -> dict[str, frozenset[Permission]]:
        if value is None:
            return {}
        if isinstance(value, str):
            return cls._parse_spec(value, info.field_name)
        out: dict[str, frozenset[Permission]] = {}
        for name, perms in dict(value).items():
            if not isinstance(name, str) or not _PRINCIPAL.fullmatch(name):
                raise ValueError(f"invalid {info.field_name} name {name!r}: no spaces, commas, colons or quotes")
            parsed = _permissions(perms, f"{info.field_name[:-1]} {name!r}")
            if parsed:
                out[name] = out.get(name, frozenset()) | parsed
        return out

    @field_validator("others", mode="before")
    @classmethod
    def _others(cls, value: Any) -> frozenset[Permission]:
        return frozenset() if value in (None, "") else _permissions(value, "others")

    @staticmethod
    def _parse_spec(spec: str, option: str) -> dict[str, frozenset[Permission]]:
        out: dict[str, frozenset[Permission]] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, letters = item.rpartition(":")
            if not sep or not _PRINCIPAL.fullmatch(name):
                raise ValueError(f"invalid {option} entry {item!r}: expected 'name:letters'")
            out[name] = out.get(name, frozenset()) | _permissions(letters, f"{option} entry {item!r}")
        return {k: v for k, v in out.items() if v}

    @classmethod
    def parse(cls, users: str = "", groups: str = "", others: str = "") -> Acl:
        """From the CLI option form (split `alice:r,alice:w` or merged `alice:rw`)."""
        return cls(users=users, groups=groups, others=others)  # type: ignore[arg-type]

    @staticmethod
    def _spec(entities: Mapping[str, frozenset[Permission]]) -> str:
        return ",".join(f"{name}:{_letters(perms)}" for name, perms in sorted(entities.items()) if perms)

    def to_options(self, *, include_empty: bool = False) -> dict[str, str]:
        """The `users`/`groups`/`others` options, merged letters, names sorted. Empty parts are
        left out unless `include_empty` (for verbs where an absent option means "keep")."""
        options = {"users": self._spec(self.users), "groups": self._spec(self.groups), "others": _letters(self.others)}
        return options if include_empty else {k: v for k, v in options.items() if v}

    def is_empty(self) -> bool:
        return not (self.users or self.groups or self.others)


class AclIds(RootModel[dict[str, tuple[int, ...]]]):
    """An ACL as the API returns it: permission → principal ids; a positive id (or 0, root) is a
    user id, a negative id is `-group_id`. Normalised: ids sorted and de-duplicated, empty
    permissions dropped (absent means nobody), so equal ACLs compare equal."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> dict[str, tuple[int, ...]]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"an ACL is a JSON object {{permission: [ids]}}, got {type(value).__name__}")
        out: dict[str, tuple[int, ...]] = {}
        for perm, ids in value.items():
            if ids is None:
                continue
            if isinstance(ids, (int, str)):
                ids = [ids]
            norm = tuple(sorted({int(i) for i in ids}))
            if norm:
                out[str(perm)] = norm
        return dict(sorted(out.items()))

    def ids(self, permission: Permission) -> tuple[int, ...]:
        return self.root.get(permission, ())

    def user_ids(self, permission: Permission) -> set[int]:
        return {i for i in self.ids(permission) if i >= 0}

    def group_ids(self, permission: Permission) -> set[int]:
        return {-i for i in self.ids(permission) if i < 0}

    def principal_ids(self) -> set[int]:
        return {i for ids in self.root.values() for i in ids}

    def to_acl(self, user_names: Mapping[int, str], group_names: Mapping[int, str], others: str = "") -> Acl:
        """The name form, given id → name lookups (from `users.ls()` / `groups.ls()`)."""
        users: dict[str, set[Permission]] = {}
        groups: dict[str, set[Permission]] = {}
        for perm, ids in self.root.items():
            if perm not in PERMISSIONS:
                continue
            for i in ids:
                table, names, kind = (users, user_names, "user") if i >= 0 else (groups, group_names, "group")
                key = i if i >= 0 else -i
                if key not in names:
                    raise ValueError(f"ACL names unknown {kind} id {key}")
                table.setdefault(names[key], set()).add(perm)  # type: ignore[arg-type]
        return Acl(users=users, groups=groups, others=others)  # type: ignore[arg-type]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class User(_Model):
    name: str
    user_id: int
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    groups: list[str] = Field(default_factory=list)
    is_system: bool = False
    disabled: bool | None = None  # not in the contract; None when the server does not say

    @field_validator("first_name", "last_name", "email", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return "" if value is None else str(value)

    @field_validator("groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> list[str]:
        """The wire sends `"dtusers,analysts"` (or `""`)."""
        if value is None:
            return []
        items = value.split(",") if isinstance(value, str) else value
        return [str(g).strip() for g in items if str(g).strip()]


class Group(_Model):
    name: str
    group_id: int
    members: list[int] = Field(default_factory=list)  # user ids, not names

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, value: Any) -> list[int]:
        return sorted(int(v) for v in (value or []))


class SignedUser(_Model):
    name: str
    expiry: str | None = None
    signature: str | None = Field(default=None, repr=False)


class KvEntry(_Model):
    """A KV entry or a secret. `value` is None when not requested, and always for secrets."""

    key: str
    environment: str | None = None
    value: str | None = None
    acl: AclIds | None = None


class BlobEntry(_Model):
    name: str
    size: int = 0
    last_modified: int | None = None
    is_file: bool = True


class Job(_Model):
    """A job version as `job get` / `job ls` return it. `memory`/`vram` are bytes."""

    id: str
    name: str
    display_name: str = ""
    environment: str = "dev"
    type: str = ""
    version: int
    state: str = ""
    create_time: int | None = None
    run_as: str = ""
    acl: AclIds = Field(default_factory=lambda: AclIds({}))
    acl_others: str = ""
    image: dict[str, Any] = Field(default_factory=dict)
    memory: int | None = None
    num_cpus: float | None = None
    vram: int | None = None
    app_section: str = ""
    schedule: str | None = None
    timezone: str | None = None
    entrypoint: str | None = None
    env: list[Any] | dict[str, Any] | None = None
    fail_after: int | None = None
    expire_after: int | None = None
    budget_id: int | None = None
    deleted: bool = False
    children: list[Job] = Field(default_factory=list, alias="children_full")
    child_number: int | None = None
    parent_name: str | None = None
    depends_on: list[int] = Field(default_factory=list)

    @field_validator("memory", "vram", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> int | None:
        return None if value in (None, "") else memory_bytes(value)

    @field_validator("acl", mode="before")
    @classmethod
    def _acl(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("app_section", "acl_others", "run_as", "display_name", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return "" if value is None else str(value)

    @field_validator("children", "depends_on", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [] if value is None else value


class JobRun(_Model):
    run_id: int
    job_name: str = ""
    job_id: str | None = None
    job_version: int | None = None
    type: str | None = None
    environment: str | None = None
    state: str = ""
    submit_time: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    scheduled_time: int | None = None
    original_run_id: int | None = None
    error_message: str = ""

    @model_validator(mode="before")
    @classmethod
    def _run_id(cls, value: Any) -> Any:
        """The contract names the run id `id`; accept `run_id` too."""
        if isinstance(value, Mapping) and "run_id" not in value and "id" in value:
            value = {**value, "run_id": value["id"]}
        return value

    @field_validator("error_message", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return "" if value is None else str(value)


class JobSaveResult(_Model):
    """`{"versions": {job_id: version}}` from `job save`."""

    versions: dict[str, int] = Field(default_factory=dict)

    def version_of(self, job_id: str) -> int | None:
        return self.versions.get(job_id)


class RunRef(_Model):
    job_id: str = Field(alias="Id")
    run_id: int | None = Field(default=None, alias="RunId")
    version: int | None = Field(default=None, alias="Version")


class StartResult(_Model):
    """What `job start` / `job run` report: runs started now, queued, or only scheduled."""

    running: list[RunRef] = Field(default_factory=list)
    pending: list[RunRef] = Field(default_factory=list)
    scheduled: list[RunRef] = Field(default_factory=list)


_CRON_REPLY = re.compile(r"^(.*?)\s*\((.*?)\)$", re.DOTALL)


class CronSchedule(_Model):
    """The server-compiled schedule: a 6-field cron (seconds first) and its description."""

    cron: str
    description: str = ""

    @classmethod
    def from_reply(cls, reply: Any) -> CronSchedule | None:
        """Parse `"<cron> (<description>)"` like the SDK (contract §6.1): a 5-field cron gets a
        `0 ` seconds field. None when the reply does not match (e.g. `""` for no helpers)."""
        if not isinstance(reply, str):
            return None
        match = _CRON_REPLY.match(reply.strip())
        if match is None:
            return None
        part = match.group(1).strip()
        if len(part.split()) == 5:
            part = "0 " + part
        return cls(cron=part, description=match.group(2).strip())
