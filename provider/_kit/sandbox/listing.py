"""Listing for every sandbox: filter (the platform's), sort, then page.

Platforms disagree on the query language (Datatailr's `a = 1 and b starts_with x`, Dataloop's
`{"$and": [...]}`), so the filter is a predicate the platform compiles; they agree on what
sorting means and differ only in how paging is spelled, so those are here: `OffsetPaging`
(offset/limit), `PageIndexPaging` (page number and size, with a page count and a next-page
flag) and `CursorPaging` (an opaque cursor naming the last item seen, which stays right when
items before it are added or removed).

Rows are plain dicts, filtered and sorted in Python: sandbox data is small, and every platform's
quirks (sort by a computed field, filter on a wire-shaped value) are then easy to honour.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import BadRequest

__all__ = ["CursorPaging", "OffsetPaging", "Page", "PageIndexPaging", "Paging", "Predicate", "Row", "apply_listing",
           "parse_sort", "sort_key", "sort_rows"]

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
SortSpec = Sequence[tuple[str, bool]]  # (field, descending), most significant first


# ── sorting ──────────────────────────────────────────────────────────────────────────────────


def parse_sort(text: str) -> list[tuple[str, bool]]:
    """`-field` descending, `+field` or `field` ascending; several separated by spaces or commas."""
    return [(spec.lstrip("+-"), spec.startswith("-")) for spec in text.replace(",", " ").split()]


def sort_key(value: Any) -> tuple[int, Any]:
    """Nulls first, then booleans and numbers by value, then everything else as text: a column
    holding mixed types still sorts instead of raising."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def sort_rows(rows: list[Row], order: str | SortSpec | None, fields: Iterable[str] = ()) -> list[Row]:
    """Stable multi-key sort; a field outside `fields` (when given) is a 400."""
    if order is None:
        return rows
    keys = parse_sort(order) if isinstance(order, str) else list(order)
    allowed = set(fields)
    for name, descending in reversed(keys):
        if allowed and name not in allowed:
            raise BadRequest(f"Invalid sort {order!r}: unknown field {name!r}")
        rows = sorted(rows, key=lambda r: sort_key(r.get(name)), reverse=descending)
    return rows


# ── paging ───────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Page:
    items: list[Row]
    total: int  # matches before paging
    has_next: bool = False
    next_cursor: str | None = None  # CursorPaging only
    page_count: int | None = None  # PageIndexPaging only


class Paging(Protocol):
    def apply(self, rows: Sequence[Row]) -> Page: ...


@dataclass(frozen=True)
class OffsetPaging:
    """`offset` rows skipped, then at most `limit`; `limit` None falls back to `default`, and a
    negative or missing one means no limit."""

    offset: int | None = None
    limit: int | None = None
    default: int | None = None

    def apply(self, rows: Sequence[Row]) -> Page:
        start = max(0, self.offset or 0)
        limit = self.default if self.limit is None else self.limit
        if limit is None or limit < 0:
            return Page(list(rows[start:]), len(rows))
        return Page(list(rows[start : start + limit]), len(rows), has_next=start + limit < len(rows))


@dataclass(frozen=True)
class PageIndexPaging:
    """Page `page` (0-based unless `first` says otherwise) of `size` rows."""

    page: int = 0
    size: int = 100
    first: int = 0

    def apply(self, rows: Sequence[Row]) -> Page:
        if self.size <= 0:
            raise BadRequest(f"Invalid page size {self.size}: it must be > 0")
        index = self.page - self.first
        if index < 0:
            raise BadRequest(f"Invalid page {self.page}: pages start at {self.first}")
        start = index * self.size
        count = -(-len(rows) // self.size)
        return Page(list(rows[start : start + self.size]), len(rows), has_next=index + 1 < count, page_count=count)


@dataclass(frozen=True)
class CursorPaging:
    """At most `limit` rows after the row the cursor names. Rows must come in a stable order in
    which `key` is unique; the cursor holds the last key served, so it survives inserts and
    deletes before it (an offset would skip or repeat rows). A cursor whose row is gone resumes
    at the first row that sorts after it."""

    cursor: str | None = None
    limit: int = 100
    key: str = "id"

    def apply(self, rows: Sequence[Row]) -> Page:
        if self.limit <= 0:
            raise BadRequest(f"Invalid limit {self.limit}: it must be > 0")
        start = 0
        if self.cursor:
            after = decode_cursor(self.cursor)
            keys = [row.get(self.key) for row in rows]
            if after in keys:
                start = keys.index(after) + 1
            else:
                start = next((i for i, k in enumerate(keys) if sort_key(k) > sort_key(after)), len(rows))
        items = list(rows[start : start + self.limit])
        more = start + self.limit < len(rows)
        cursor = encode_cursor(items[-1].get(self.key)) if more and items else None
        return Page(items, len(rows), has_next=more, next_cursor=cursor)


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": value}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return data["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"Invalid cursor {cursor!r}") from exc


# ── all together ─────────────────────────────────────────────────────────────────────────────


def apply_listing(
    rows: Iterable[Row],
    *,
    predicate: Predicate | None = None,
    sort: str | SortSpec | None = None,
    fields: Iterable[str] = (),
    paging: Paging | None = None,
) -> Page:
    """Filter, sort and page `rows`; the page's `total` counts every match."""
    fields = tuple(fields)
    matched = [row for row in rows if predicate is None or predicate(row)]
    matched = sort_rows(matched, sort, fields)
    return (paging or OffsetPaging()).apply(matched)
