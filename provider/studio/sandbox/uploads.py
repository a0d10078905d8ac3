"""Uploaded files (route J5): `POST /api/datachain/jobs/files?team_name=` with a multipart field
`file`, answering `{"id", "filename", "size", "state", "error"}`; jobs name them in `files`.

The sandbox runs no job, so it keeps a file's name, size and SHA-256, never its bytes. The
multipart body is read with the standard library (`email`), which needs no extra dependency;
the kit's body limit (`--max-body-bytes`) bounds it. A plain form field `file` (the seed's own
`curl --form file=string`) is a file too, named `file`.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import posixpath
from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, current, team_of
from .errors import BadRequest
from .store import iso_now, store_of
from .wire import reply

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


def _file_part(content_type: str, raw: bytes) -> tuple[str, bytes]:
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type.lower():
        raise BadRequest("Invalid upload: send multipart/form-data with a 'file' field")
    try:
        header = content_type.encode("latin-1")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + header + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw)
        parts = message.iter_parts() if message.is_multipart() else []
        for part in parts:
            if part.get_param("name", header="content-disposition") != "file":
                continue
            filename = part.get_filename() or "file"
            payload = part.get_payload(decode=True)
            return filename, payload if isinstance(payload, bytes) else b""
    except (ValueError, UnicodeError, LookupError, TypeError, IndexError) as exc:
        raise BadRequest("Invalid upload: the multipart body cannot be read") from exc
    raise BadRequest("Invalid upload: no 'file' field")


@router.post("/datachain/jobs/files")
async def upload_file(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    filename, content = _file_part(request.headers.get("content-type", ""), await request.body())
    filename = posixpath.basename(filename.replace("\\", "/")) or "file"
    try:
        filename.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest("Invalid upload: the file name is not valid Unicode") from exc
    if "\x00" in filename or len(filename) > 255:
        raise BadRequest("Invalid upload: the file name must be at most 255 characters, without NUL")
    with store_of(request).tx() as db:
        file_id = db.allocate("st_next_file", "st_files", "id", 1)
        db.execute("INSERT INTO st_files(id, team_id, filename, size, sha256, created) VALUES (?, ?, ?, ?, ?, ?)",
                   (file_id, team.team_id, filename, len(content), hashlib.sha256(content).hexdigest(), iso_now()))
    return reply({"id": file_id, "filename": filename, "size": len(content), "state": "pending", "error": None})
