"""Blobs (contract §2.5), addressed as `blob://{bucket}/{path}`.

`put` replaces the content and `set-acl` replaces the ACL, so both POSTs are idempotent. The
ACL calls take a `path` exactly as given (the SDK sends a raw path there, §7.2.10); `uri()`
builds the full form for a path relative to the user bucket.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._kit.client import PlatformError
from .filters import combine
from .models import Acl, AclIds, BlobEntry

if TYPE_CHECKING:
    from .client import DatatailrClient

SCHEME = "blob://"


class BlobsApi:
    def __init__(self, client: DatatailrClient) -> None:
        self._client = client
        self._bucket: str | None = None
        self._lock = threading.Lock()

    def user_bucket(self) -> str:
        """`blob://{blob_storage_prefix}user-data`, from the node tag (read once)."""
        with self._lock:
            if self._bucket is None:
                self._bucket = f"{SCHEME}{self._client.tags.get('blob_storage_prefix')}user-data"
            return self._bucket

    def uri(self, path: str) -> str:
        """A full `blob://` URI; a relative path is placed in the user bucket."""
        return path if path.startswith(SCHEME) else f"{self.user_bucket()}/{path.lstrip('/')}"

    def put(self, uri: str, content: bytes, *, acl: Acl | None = None) -> str:
        """Create or replace; `acl` is added to the blob's ACL (set_acl replaces)."""
        return self._client.call("POST", "blob/put", {
            "destination_file": uri,
            "content_b64": base64.b64encode(content).decode("ascii"),
            **(acl.to_options() if acl else {}),
        }, idempotent=True)

    def get(self, uri: str) -> bytes:
        result = self._client.call("GET", "blob/get", {"bucket_name": uri})
        if not isinstance(result, str):
            raise PlatformError(f"blob get returned a {type(result).__name__}, not base64 text",
                                method="GET", path="/api/blob/get")
        try:
            return base64.b64decode(result, validate=True)
        except (binascii.Error, ValueError):
            raise PlatformError("blob get returned invalid base64", method="GET", path="/api/blob/get") from None

    def exists(self, uri: str) -> bool:
        return bool(self._client.call("GET", "blob/exists", {"bucket_name": uri}))

    def ls(self, prefix: str, *, recursive: bool = False, filter: str | None = None,
           where: Mapping[str, Any] | None = None, sort: str | None = None) -> list[BlobEntry]:
        """Everything under `prefix` (a `blob://bucket/dir/` URI), all pages."""
        base = {"bucket_name": prefix, "recursive": recursive, "filter": combine(filter, where),
                "sort": sort, "json": True}
        rows = self._client._ls("blob/ls", base, key=lambda r: r.get("name"))
        return [BlobEntry.model_validate(r) for r in rows]

    def rm(self, uri: str) -> str:
        return self._client.call("DELETE", "blob/rm", {"bucket_name": uri})

    def get_acl(self, path: str) -> AclIds:
        return AclIds.model_validate(self._client.call("GET", "blob/get-acl", {"path": path, "json": True}))

    def set_acl(self, path: str, acl: Acl) -> str:
        """Replace the ACL of a blob (or a directory ending in `/`)."""
        return self._client.call("POST", "blob/set-acl", {"path": path, **acl.to_options()}, idempotent=True)
