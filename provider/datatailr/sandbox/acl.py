"""Access control lists, shared by KV entries, blobs and jobs (contract §2.3).

Wire forms:
- JSON: `{"read": [1001, -101], ...}`; a positive id is a user, a negative id a group.
- CLI/options: `users="alice:r,alice:w"` or merged `users="alice:rw"`, the same for `groups`,
  and `others="r"` for everybody. Both the split and the merged form are accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .auth import Principal
from .errors import BadRequest, Forbidden
from .store import Db

PERMISSIONS = ("read", "write", "operate", "access", "promote")
LETTERS = {p[0]: p for p in PERMISSIONS}

AclDict = dict[str, list[int]]


def parse_letters(letters: str, where: str) -> list[str]:
    perms = []
    for letter in letters.strip():
        if letter not in LETTERS:
            raise BadRequest(
                f"Invalid permission letter {letter!r} in {where}: expected letters from 'rwoap'"
            )
        perms.append(LETTERS[letter])
    return perms


def parse_entity_spec(spec: str | None, option: str) -> list[tuple[str, str]]:
    """`"alice:r,alice:w,bob:rw"` -> [(alice, read), (alice, write), (bob, read), (bob, write)]."""
    if spec is None or spec.strip() in ("", "None"):
        return []
    out: list[tuple[str, str]] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, letters = item.rpartition(":")
        if not sep or not name or not letters:
            raise BadRequest(
                f"Invalid {option} ACL entry {item!r}: expected 'name:letters', e.g. 'alice:rw'"
            )
        for perm in parse_letters(letters, f"{option} entry {item!r}"):
            out.append((name.strip(), perm))
    return out


def resolve_acl(
    db: Db, users: str | None, groups: str | None
) -> dict[str, set[int]]:
    """Turn the CLI form into permission -> principal ids, failing on unknown names."""
    acl: dict[str, set[int]] = {}
    for name, perm in parse_entity_spec(users, "users"):
        uid = db.scalar("SELECT user_id FROM users WHERE name = ?", (name,))
        if uid is None:
            raise BadRequest(f"Unknown user {name!r} in ACL")
        acl.setdefault(perm, set()).add(uid)
    for name, perm in parse_entity_spec(groups, "groups"):
        gid = db.scalar("SELECT group_id FROM groups WHERE name = ?", (name,))
        if gid is None:
            raise BadRequest(f"Unknown group {name!r} in ACL")
        acl.setdefault(perm, set()).add(-gid)
    return acl


def default_acl(owner: Principal) -> dict[str, set[int]]:
    """What the SDK's `ACL()` means and what the sandbox applies when none is given."""
    return {perm: {owner.user_id} for perm in PERMISSIONS}


def read_acl(db: Db, resource: str) -> AclDict:
    """The JSON form. Only permissions with at least one principal appear (fail-closed)."""
    acl: AclDict = {}
    for row in db.all(
        "SELECT permission, principal FROM acl_entries WHERE resource = ? "
        "ORDER BY permission, principal",
        (resource,),
    ):
        acl.setdefault(row["permission"], []).append(row["principal"])
    return {perm: acl[perm] for perm in PERMISSIONS if perm in acl}


def read_others(db: Db, resource: str) -> str:
    return db.scalar("SELECT letters FROM acl_others WHERE resource = ?", (resource,)) or ""


def write_acl(
    db: Db,
    resource: str,
    acl: dict[str, Iterable[int]],
    *,
    replace: bool,
    others: str | None = None,
) -> None:
    """Replace or merge the entries of `resource`. `others=None` leaves "others" untouched."""
    if replace:
        db.execute("DELETE FROM acl_entries WHERE resource = ?", (resource,))
    db.executemany(
        "INSERT OR IGNORE INTO acl_entries(resource, permission, principal) VALUES (?, ?, ?)",
        [(resource, perm, pid) for perm, ids in acl.items() for pid in ids],
    )
    if others is not None:
        letters = "".join(sorted({p[0] for p in parse_letters(others, "others")}, key="rwoap".index))
        if not replace:
            letters = _merge_letters(read_others(db, resource), letters)
        if letters:
            db.execute(
                "INSERT INTO acl_others(resource, letters) VALUES (?, ?) "
                "ON CONFLICT(resource) DO UPDATE SET letters = excluded.letters",
                (resource, letters),
            )
        else:
            db.execute("DELETE FROM acl_others WHERE resource = ?", (resource,))
    elif replace:
        db.execute("DELETE FROM acl_others WHERE resource = ?", (resource,))


def _merge_letters(a: str, b: str) -> str:
    return "".join(letter for letter in "rwoap" if letter in a or letter in b)


def delete_acl(db: Db, resource: str) -> None:
    db.execute("DELETE FROM acl_entries WHERE resource = ?", (resource,))
    db.execute("DELETE FROM acl_others WHERE resource = ?", (resource,))


def rename_acl_resource(db: Db, old: str, new: str) -> None:
    db.execute("UPDATE acl_entries SET resource = ? WHERE resource = ?", (new, old))
    db.execute("UPDATE acl_others SET resource = ? WHERE resource = ?", (new, old))


def allowed(db: Db, resource: str, who: Principal, permission: str) -> bool:
    if who.is_admin:
        return True
    if permission[0] in read_others(db, resource):
        return True
    ids = sorted(who.principal_ids())
    marks = ",".join("?" * len(ids))
    return (
        db.scalar(
            f"SELECT 1 FROM acl_entries WHERE resource = ? AND permission = ? "
            f"AND principal IN ({marks}) LIMIT 1",
            (resource, permission, *ids),
        )
        is not None
    )


def allowed_sql(resource_sql: str, who: Principal, permission: str) -> tuple[str, tuple[Any, ...]]:
    """`allowed` as an SQL condition (and its parameters) on the resource named by the SQL
    expression `resource_sql`, such as `'kv/' || e.environment || '/' || e.secure || '/' || e.key`.
    A listing that must hide what the caller cannot read can then filter, count and page in SQL
    instead of asking `allowed` row by row in Python; both lookups are primary-key searches.
    Same rules, same order: administrators pass, then the "others" letters, then the caller's
    user id and negated group ids."""
    if who.is_admin:
        return "1", ()
    ids = sorted(who.principal_ids())
    marks = ",".join("?" * len(ids))
    return (
        f"(EXISTS (SELECT 1 FROM acl_others o WHERE o.resource = {resource_sql} AND instr(o.letters, ?) > 0) "
        f"OR EXISTS (SELECT 1 FROM acl_entries a WHERE a.resource = {resource_sql} AND a.permission = ? "
        f"AND a.principal IN ({marks})))",
        (permission[0], permission, *ids),
    )


def require(db: Db, resource: str, who: Principal, permission: str, what: str) -> None:
    """403 with nothing changed when `who` lacks `permission` on `resource`."""
    if not allowed(db, resource, who, permission):
        raise Forbidden(f"Permission denied: {who.name} has no {permission} access to {what}")


def require_admin(who: Principal, action: str) -> None:
    if not who.is_admin:
        raise Forbidden(f"Permission denied: only members of 'admin' may {action}")
