"""Node tags (contract §2.8): a read-only data source (`blob_storage_prefix`, `public_hostname`,
`public_domain`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import DatatailrClient


class TagsApi:
    def __init__(self, client: DatatailrClient) -> None:
        self._client = client

    def get(self, tag: str) -> str:
        result = self._client.call("GET", "tag/get", {"tag": tag})
        return result if isinstance(result, str) else str(result)

    def ls(self) -> dict[str, str]:
        result = self._client.call("GET", "tag/ls")
        return {str(k): str(v) for k, v in (result or {}).items()}
