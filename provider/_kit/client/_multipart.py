"""Multipart uploads (`multipart/form-data`): files and form fields in one request.

Code bundles and data files can be large, so a file given by path is streamed from disk in
chunks by httpx (with a Content-Length from the file's size), never read whole into memory. The
same open file serves every attempt of a retried request and a replay after a session renewal:
httpx seeks each file part back to its start whenever it renders the body.

What a part holds never reaches a log line or an error message: the retry lines name the method
and path only, and a part's repr shows its name, size and type.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
               "br": "application/x-brotli", "compress": "application/x-compress"}


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart upload: bytes in memory, or a path streamed from disk. A bare
    `str` is refused as content, since it could be either a path or the data itself."""

    content: bytes | os.PathLike[str] = field(repr=False)
    filename: str | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.content, (bytes, bytearray, os.PathLike)):
            raise TypeError("a FilePart holds bytes or a path (pathlib.Path); "
                            f"got {type(self.content).__name__}")

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, filename: str | None = None,
                  content_type: str | None = None) -> FilePart:
        return cls(Path(path), filename, content_type)

    @classmethod
    def from_bytes(cls, data: bytes, filename: str, *, content_type: str | None = None) -> FilePart:
        return cls(bytes(data), filename, content_type)

    @property
    def name(self) -> str:
        """The file name sent in the part's Content-Disposition."""
        if self.filename:
            return self.filename
        if isinstance(self.content, os.PathLike):
            return Path(self.content).name
        return "upload"

    @property
    def media_type(self) -> str:
        """The given content type, else one guessed from the file name. A compressed file is
        sent as what it is on the wire (`bundle.tar.gz` is gzip, not a tar archive)."""
        if self.content_type:
            return self.content_type
        guessed, encoding = mimetypes.guess_type(self.name)
        if encoding is not None:
            return _COMPRESSED.get(encoding, DEFAULT_CONTENT_TYPE)
        return guessed or DEFAULT_CONTENT_TYPE

    @property
    def size(self) -> int:
        if isinstance(self.content, os.PathLike):
            return Path(self.content).stat().st_size
        return len(self.content)

    def __repr__(self) -> str:
        source = "path" if isinstance(self.content, os.PathLike) else "bytes"
        return f"FilePart({self.name!r}, {source}, {self.media_type!r})"


Files = Mapping[str, FilePart] | Sequence[tuple[str, FilePart]]
# What httpx's `files=` takes: (field name, (file name, bytes or open file, content type)).
HttpxFiles = list[tuple[str, tuple[str, bytes | BinaryIO, str]]]


@contextmanager
def open_parts(files: Files) -> Iterator[HttpxFiles]:
    """The parts in httpx's form, with files given by path open for the duration (one open
    file per part for all attempts; httpx rewinds it for each). A sequence of pairs may repeat a
    field name, which some APIs use for several files."""
    pairs = list(files.items()) if isinstance(files, Mapping) else list(files)
    if not pairs:
        raise ValueError("a multipart upload needs at least one file")
    with ExitStack() as stack:
        out: HttpxFiles = []
        for field_name, part in pairs:
            if not isinstance(part, FilePart):
                raise TypeError(f"file {field_name!r} must be a FilePart, not {type(part).__name__}")
            if isinstance(part.content, os.PathLike):
                handle: bytes | BinaryIO = stack.enter_context(open(part.content, "rb"))
            else:
                handle = bytes(part.content)
            out.append((field_name, (part.name, handle, part.media_type)))
        yield out
