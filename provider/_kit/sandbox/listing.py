"""Listing for every sandbox: filter (the platform's), sort, then page.

Platforms disagree on the query language (Datatailr's `a = 1 and b starts_with x`, Dataloop's
`{"$and": [...]}`), so the filter is a predicate the platform compiles; they agree on what
sorting means and differ only in how paging is spelled, so those are here: `OffsetPaging`
(offset/limit), `PageIndexPaging` (page number and size, with a page count and a next-page
flag) and `CursorPaging` (an opaque cursor naming the last item seen, which stays right when
items before it are added or removed).

Rows are plain dicts, filtered and sorted in Python: every platform's quirks (sort by a computed
field, filter on a wire-shaped value) are then easy to honour. That costs every row on every page,
though, so a listing whose sort fields are plain columns may instead have SQLite sort and page it
(`Column`, `sql_order`, `OffsetPaging.window`): the same order, the same page, in time that follows
the page rather than the table. `sql_prefix` is a string-prefix test that an index can serve.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import BadRequest

__all__ = ["Column", "CursorPaging", "OffsetPaging", "Page", "PageIndexPaging", "Paging", "Predicate", "Row",
           "apply_listing", "parse_sort", "sort_key", "sort_rows", "sql_order", "sql_prefix"]

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

    def window(self) -> tuple[int, int]:
        """`(limit, offset)` for SQL's `LIMIT ? OFFSET ?`, serving the page `apply` would: -1 is
        SQLite's "no limit"."""
        start = max(0, self.offset or 0)
        limit = self.default if self.limit is None else self.limit
        return (-1 if limit is None or limit < 0 else limit), start


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


# ── the same in SQL ──────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Column:
    """A listing field whose wire value is a column, served unchanged: SQLite can then sort on it
    exactly as `sort_rows` does. `sql` is the column (or expression); `kind` is the Python type of
    the wire value (`str`, `int` or `bool`), which says what a filter may compare it with.

    Why the orders agree: SQLite puts NULL first in ascending order and last in descending order,
    as `sort_key` and `reverse=True` do; it orders INTEGER values as Python orders ints and bools;
    and TEXT under the default BINARY collation compares UTF-8 bytes, whose order is the order of
    code points, which is how Python compares `str`."""

    sql: str
    kind: type = str


def sql_order(
    order: str | SortSpec | None, fields: Iterable[str], columns: Mapping[str, Column], base: Sequence[str]
) -> str | None:
    """The `ORDER BY` clause that gives `sort_rows(rows, order, fields)` for rows fetched in the
    order `base` (SQL expressions that make rows unique), or None when a sort field is not a
    column. An unknown field is the same 400 as `sort_rows` gives, whichever path serves.

    A stable multi-key sort is the order of its keys, most significant first, with ties left in
    the order the rows came in: so the keys, then `base`. A column named again further down
    changes nothing (rows tied on it so far are tied on it still), so it is left out: an
    `ORDER BY` that repeats a column can keep SQLite from reading it in index order."""
    sort_rows([], order, fields)  # validation only: the same error, the same message
    keys = [] if order is None else parse_sort(order) if isinstance(order, str) else list(order)
    terms: dict[str, str] = {}
    for name, descending in keys:
        column = columns.get(name)
        if column is None:
            return None
        terms.setdefault(column.sql, "DESC" if descending else "ASC")
    for expr in base:
        terms.setdefault(expr, "ASC")
    return "ORDER BY " + ", ".join(f"{expr} {direction}" for expr, direction in terms.items())


def sql_prefix(expr: str, prefix: str) -> tuple[str, tuple[Any, ...]]:
    """An SQL condition true exactly when the text `expr` starts with `prefix` (Python's
    `startswith`), as SQL and its parameters. The `substr` test is the exact one; the range
    before it (`>= prefix` and `<` the first string after every string with that prefix) lets an
    index on `expr` read only the matching rows instead of every row."""
    if not prefix:
        return "1", ()
    exact = f"substr({expr}, 1, ?) = ?"
    upper = _after_prefix(prefix)
    if upper is None:
        return f"{expr} >= ? AND {exact}", (prefix, len(prefix), prefix)
    return f"{expr} >= ? AND {expr} < ? AND {exact}", (prefix, upper, len(prefix), prefix)


def _after_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix`: the prefix up to its
    last character that has a successor, that character incremented (skipping the surrogates,
    which are not text). None when every character is U+10FFFF."""
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if code <= 0x10FFFF:
            if 0xD800 <= code <= 0xDFFF:
                code = 0xE000
            return prefix[:i] + chr(code)
    return None
