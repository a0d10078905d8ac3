"""Blob storage (contract §2.5): objects addressed as `blob://{bucket}/{path}`, stored in SQLite.

One identity for every command: the SDK sends `blob://{prefix}user-data/...` to put/get/ls/rm
but the *raw* path (`mybucket/data.txt`) to get-acl/set-acl, while api.json's examples use
`{prefix}user-data/...` without the scheme. `locate()` maps all three to the same
(bucket, path): a raw path is relative to the user bucket unless its first segment is the user
bucket itself.

ACLs live on objects and, optionally, on directories (`blob://b/dir/`). A directory ACL is
inherited: a permission granted on any enclosing directory counts for everything below it.
Creating an object under a directory that carries an ACL needs `write` there; elsewhere the
user bucket is open to every signed-in user, as a shared bucket is.

Each object's bytes count against the quota (`max_blob_bytes_per_user`) of the user who wrote
its current content (`owner`); a put that would take its writer over the quota is refused with
507 and stores nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from .acl import allowed, default_acl, delete_acl, read_acl, resolve_acl, write_acl
from .auth import Principal, current_principal
from .errors import BadRequest, Forbidden, InsufficientStorage, NotFound
from .fields import AclOptions, Paging, Text, unquote
from .listing import apply_listing
from .store import Db
from .tags import get_tag
from .wire import WireModel, ok

DDL = """
CREATE TABLE IF NOT EXISTS blobs (
    bucket        TEXT NOT NULL,
    path          TEXT NOT NULL,
    content       BLOB NOT NULL,
    size          INTEGER NOT NULL,
    last_modified INTEGER NOT NULL,
    owner         INTEGER,  -- who wrote the current content; charged for its size
    PRIMARY KEY (bucket, path)
)
"""


def migrate(db: Db) -> None:
    """Databases from before quotas have no `owner`: their blobs are charged to nobody."""
    columns = {row["name"] for row in db.all("PRAGMA table_info(blobs)")}
    if "owner" not in columns:
        db.execute("ALTER TABLE blobs ADD COLUMN owner INTEGER")
    db.execute("CREATE INDEX IF NOT EXISTS blobs_by_owner ON blobs(owner)")


SCHEME = "blob://"
LIST_FIELDS = ("name", "size", "last_modified", "is_file")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

router = APIRouter(tags=["blobs"])


# ── identity ─────────────────────────────────────────────────────────────────────────────────


def user_bucket(db: Db, request: Request) -> str:
    prefix = get_tag(db, "blob_storage_prefix")
    return f"{request.app.state.config.blob_storage_prefix if prefix is None else prefix}user-data"


def locate(raw: str, home_bucket: str, file_name: str | None = None) -> tuple[str, str]:
    """(bucket, path) for any accepted spelling; `file_name` is the optional second positional
    (`dt blob get mybucket myfile`). A path ending in `/` names a directory."""
    text = unquote(raw.strip())
    if file_name not in (None, "", "None"):
        text = text.rstrip("/") + "/" + unquote(file_name or "").lstrip("/")
    if text.startswith(SCHEME):
        bucket, _, path = text[len(SCHEME):].partition("/")
    else:
        first, _, rest = text.lstrip("/").partition("/")
        bucket, path = (first, rest) if first == home_bucket else (home_bucket, text.lstrip("/"))
    if not _BUCKET.fullmatch(bucket):
        raise BadRequest(f"Invalid bucket name {bucket!r} in {raw!r}")
    if len(path) > 1024 or _CONTROL.search(path):
        raise BadRequest(f"Invalid blob path {raw!r}: too long or contains control characters")
    segments = path.split("/")[:-1] if path.endswith("/") else path.split("/")
    if path and any(s in ("", ".", "..") for s in segments):
        raise BadRequest(f"Invalid blob path {raw!r}: empty, '.' or '..' segment")
    return bucket, path


def uri(bucket: str, path: str) -> str:
    return f"{SCHEME}{bucket}/{path}"


def _object_path(bucket: str, path: str, raw: str) -> str:
    if not path or path.endswith("/"):
        raise BadRequest(f"{raw!r} names a directory, not a blob")
    return path


def _chain(bucket: str, path: str) -> list[str]:
    """The ACL resources that govern `path`: itself, then each enclosing directory up to the
    bucket root."""
    own = [uri(bucket, path)] if path else []
    parents = path.rstrip("/").split("/")[:-1] if path else []
    return own + [uri(bucket, "".join(p + "/" for p in parents[:i])) for i in range(len(parents), -1, -1)]


def _has_acl(db: Db, res: str) -> bool:
    return bool(
        db.scalar("SELECT 1 FROM acl_entries WHERE resource = ? LIMIT 1", (res,))
        or db.scalar("SELECT 1 FROM acl_others WHERE resource = ?", (res,))
    )


def _granted(db: Db, who: Principal, chain: list[str], permission: str) -> bool:
    return who.is_admin or any(allowed(db, res, who, permission) for res in chain)


def _object(db: Db, bucket: str, path: str) -> Any:
    return db.one("SELECT * FROM blobs WHERE bucket = ? AND path = ?", (bucket, path))


def _require_object(db: Db, who: Principal, bucket: str, path: str, permission: str) -> Any:
    row = _object(db, bucket, path)
    if row is None:
        raise NotFound(f"Blob {uri(bucket, path)} not found")
    if not _granted(db, who, _chain(bucket, path), permission):
        raise Forbidden(f"Permission denied: {who.name} has no {permission} access to {uri(bucket, path)}")
    return row


def _acl_target(db: Db, who: Principal, bucket: str, path: str, permission: str) -> str:
    """The ACL resource for get-acl/set-acl: an object, else a directory. A directory is
    reachable by whoever holds `permission` through its own or an enclosing ACL, or on every
    object inside it."""
    if path and not path.endswith("/") and _object(db, bucket, path) is not None:
        _require_object(db, who, bucket, path, permission)
        return uri(bucket, path)
    directory = path if not path or path.endswith("/") else path + "/"
    res = uri(bucket, directory)
    inside = [r["path"] for r in db.all(
        "SELECT path FROM blobs WHERE bucket = ? AND substr(path, 1, ?) = ?", (bucket, len(directory), directory)
    )]
    if not inside and not _has_acl(db, res):
        raise NotFound(f"No blob or directory at {res}")
    chain = _chain(bucket, directory)
    if not (_granted(db, who, chain, permission)
            or (inside and all(_granted(db, who, _chain(bucket, p), permission) for p in inside))):
        raise Forbidden(f"Permission denied: {who.name} has no {permission} access to {res}")
    return res


def _decode(b64: str, what: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{what} is not valid base64") from exc


def _check_quota(db: Db, who: Principal, bucket: str, path: str, size: int, limit: int) -> None:
    """Refuse (507) a write of `size` bytes that would take its writer over `limit` bytes (0: no
    limit). The object being replaced, if the writer owns it, no longer counts."""
    if not limit:
        return
    used = db.scalar(
        "SELECT COALESCE(SUM(size), 0) FROM blobs WHERE owner = ? AND NOT (bucket = ? AND path = ?)",
        (who.user_id, bucket, path),
    )
    if used + size > limit:
        raise InsufficientStorage(
            f"Blob quota exceeded: {who.name} stores {used} bytes; {size} more would pass the limit of "
            f"{limit} bytes per user (--max-blob-bytes-per-user). Nothing was stored."
        )


def _store(db: Db, who: Principal, bucket: str, path: str, content: bytes, acl_opts: AclOptions,
           quota: int = 0) -> None:
    """Create or replace an object. Replacing needs `write`; ACL options add to its ACL. The
    writer becomes the object's owner, charged for its size against `quota`."""
    res = uri(bucket, path)
    given = resolve_acl(db, acl_opts.users, acl_opts.groups)
    now = time.time_ns() // 1000
    if _object(db, bucket, path) is not None:
        _require_object(db, who, bucket, path, "write")
        _check_quota(db, who, bucket, path, len(content), quota)
        db.execute(
            "UPDATE blobs SET content = ?, size = ?, last_modified = ?, owner = ? WHERE bucket = ? AND path = ?",
            (content, len(content), now, who.user_id, bucket, path),
        )
        if acl_opts.given():
            write_acl(db, res, given, replace=False, others=acl_opts.others_letters())
        return
    governing = [r for r in _chain(bucket, path)[1:] if _has_acl(db, r)]
    if governing and not _granted(db, who, governing, "write"):
        raise Forbidden(f"Permission denied: {who.name} may not create blobs under {governing[0]}")
    _check_quota(db, who, bucket, path, len(content), quota)
    db.execute(
        "INSERT INTO blobs(bucket, path, content, size, last_modified, owner) VALUES (?, ?, ?, ?, ?, ?)",
        (bucket, path, content, len(content), now, who.user_id),
    )
    acl = default_acl(who)
    for perm, ids in given.items():
        acl.setdefault(perm, set()).update(ids)
    write_acl(db, res, acl, replace=True, others=acl_opts.others_letters())


# ── request models ───────────────────────────────────────────────────────────────────────────


class BlobQuery(WireModel):
    bucket_name: Text
    file_name: Text | None = None


class LsQuery(Paging):
    bucket_name: Text | None = None
    recursive: bool = False


class PutBody(AclOptions):
    destination_file: Text
    content_b64: Text


class CpBody(AclOptions):
    source_file: Text | None = None
    source_file_b64: Text | None = None
    source_file_name: Text | None = None
    destination_bucket: Text | None = None
    download: bool = False


class RmBody(WireModel):
    bucket_name: Text
    file_name: Text | None = None


class AclQuery(WireModel):
    path: Text


class SetAclBody(AclOptions):
    path: Text


# ── routes ───────────────────────────────────────────────────────────────────────────────────


def _quota(request: Request) -> int:
    return request.app.state.config.max_blob_bytes_per_user


@router.post("/blob/put")
def blob_put(request: Request, body: PutBody, who: Principal = Depends(current_principal)) -> dict:
    content = _decode(body.content_b64, "content_b64")
    with request.app.state.store.tx() as db:
        bucket, path = locate(body.destination_file, user_bucket(db, request))
        _store(db, who, bucket, _object_path(bucket, path, body.destination_file), content, body, _quota(request))
    return ok(f"Stored {uri(bucket, path)}")


@router.post("/blob/cp")
def blob_cp(request: Request, body: CpBody, who: Principal = Depends(current_principal)) -> dict:
    """Upload (`source_file_b64` + `destination_bucket`) or download (`download`, `source_file`).
    An upload to a directory (`.../`) or a bare bucket keeps the local file name."""
    if body.source_file_b64 is not None:
        content = _decode(body.source_file_b64, "source_file_b64")
        if not body.destination_bucket:
            raise BadRequest("destination_bucket is required for an upload")
        with request.app.state.store.tx() as db:
            bucket, path = locate(body.destination_bucket, user_bucket(db, request))
            if not path or path.endswith("/"):
                name = (body.source_file_name or "").replace("\\", "/").rsplit("/", 1)[-1]
                if not name:
                    raise BadRequest("source_file_name is required when the destination is a directory")
                bucket, path = locate(uri(bucket, path + name), bucket)
            _store(db, who, bucket, path, content, body, _quota(request))
        return ok(f"Copied {body.source_file_name or 'file'} to {uri(bucket, path)}")
    if body.source_file is None:
        raise BadRequest("Either source_file_b64 (upload) or source_file with download (download) is required")
    with request.app.state.store.read() as db:
        bucket, path = locate(body.source_file, user_bucket(db, request))
        row = _require_object(db, who, bucket, _object_path(bucket, path, body.source_file), "read")
        return ok(base64.b64encode(row["content"]).decode("ascii"))


@router.get("/blob/get")
def blob_get(request: Request, q: Annotated[BlobQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    with request.app.state.store.read() as db:
        bucket, path = locate(q.bucket_name, user_bucket(db, request), q.file_name)
        row = _require_object(db, who, bucket, _object_path(bucket, path, q.bucket_name), "read")
        return ok(base64.b64encode(row["content"]).decode("ascii"))


@router.get("/blob/exists")
def blob_exists(request: Request, q: Annotated[BlobQuery, Query()]) -> dict:
    """Existence is not access-controlled: it answers whether a put would overwrite."""
    with request.app.state.store.read() as db:
        bucket, path = locate(q.bucket_name, user_bucket(db, request), q.file_name)
        return ok(bool(path) and not path.endswith("/") and _object(db, bucket, path) is not None)


@router.get("/blob/ls")
def blob_ls(request: Request, q: Annotated[LsQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    """S3-style: every object whose path starts with the prefix; without `recursive`, deeper
    objects fold into one directory entry (`name` ending in `/`, `is_file` false). Names are
    relative to the bucket. Without a bucket, the buckets themselves are listed."""
    with request.app.state.store.read() as db:
        home = user_bucket(db, request)
        if q.bucket_name in (None, "", "None"):
            rows = _bucket_entries(db, home)
        else:
            bucket, prefix = locate(q.bucket_name, home)
            rows = _entries(db, who, bucket, prefix, q.recursive)
    page, _ = apply_listing(
        rows, filter=q.filter, sort=q.sort or "name", offset=q.offset, batch_size=q.batch_size, fields=LIST_FIELDS
    )
    return ok(page)


def _bucket_entries(db: Db, home: str) -> list[dict[str, Any]]:
    stats = {
        r["bucket"]: (r["size"], r["modified"])
        for r in db.all("SELECT bucket, SUM(size) AS size, MAX(last_modified) AS modified FROM blobs GROUP BY bucket")
    }
    stats.setdefault(home, (0, None))
    return [
        {"name": name, "size": size, "last_modified": modified, "is_file": False}
        for name, (size, modified) in sorted(stats.items())
    ]


def _entries(db: Db, who: Principal, bucket: str, prefix: str, recursive: bool) -> list[dict[str, Any]]:
    rows = db.all(
        "SELECT path, size, last_modified FROM blobs WHERE bucket = ? AND substr(path, 1, ?) = ? ORDER BY path",
        (bucket, len(prefix), prefix),
    )
    files: list[dict[str, Any]] = []
    dirs: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not _granted(db, who, _chain(bucket, row["path"]), "read"):
            continue
        rest = row["path"][len(prefix):]
        if recursive or "/" not in rest:
            files.append({"name": row["path"], "size": row["size"], "last_modified": row["last_modified"], "is_file": True})
            continue
        name = prefix + rest.split("/", 1)[0] + "/"
        entry = dirs.setdefault(name, {"name": name, "size": 0, "last_modified": 0, "is_file": False})
        entry["last_modified"] = max(entry["last_modified"], row["last_modified"])
    return files + list(dirs.values())


@router.delete("/blob/rm")
def blob_rm(request: Request, body: RmBody, who: Principal = Depends(current_principal)) -> dict:
    with request.app.state.store.tx() as db:
        bucket, path = locate(body.bucket_name, user_bucket(db, request), body.file_name)
        _require_object(db, who, bucket, _object_path(bucket, path, body.bucket_name), "write")
        db.execute("DELETE FROM blobs WHERE bucket = ? AND path = ?", (bucket, path))
        delete_acl(db, uri(bucket, path))
    return ok(f"Removed {uri(bucket, path)}")


@router.get("/blob/get-acl")
def blob_get_acl(request: Request, q: Annotated[AclQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    """The object's (or directory's) own ACL; inherited entries are not merged in."""
    with request.app.state.store.read() as db:
        bucket, path = locate(q.path, user_bucket(db, request))
        return ok(read_acl(db, _acl_target(db, who, bucket, path, "read")))


@router.post("/blob/set-acl")
def blob_set_acl(request: Request, body: SetAclBody, who: Principal = Depends(current_principal)) -> dict:
    """Replace the ACL of an object or a directory."""
    with request.app.state.store.tx() as db:
        bucket, path = locate(body.path, user_bucket(db, request))
        res = _acl_target(db, who, bucket, path, "write")
        write_acl(db, res, resolve_acl(db, body.users, body.groups), replace=True, others=body.others_letters())
    return ok(f"ACL of {res} set")
