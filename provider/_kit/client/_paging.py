"""Complete listings over the three ways platforms page.

- **offset**: `offset` + `limit` (Datatailr: `offset` + `batch-size`; Dataloop's legacy GET lists:
  `pageOffset` + `pageSize`). Ends on a short page, or when a reported `total` is reached.
- **page index**: `page` + `pageSize` with a has-next flag or a page count (Dataloop's `POST
  …/query`: 0-based `page`, `hasNextPage`, `totalPagesCount`). Ends when the server says so.
- **cursor**: each page names the next one (`next`/`cursor` token; also keyset paging, where
  the token is the last id). Ends when no token comes back.

One shape serves all three: a `Page` (items plus whatever the server says about the rest), and
the same guards. A listing must never end early or silently: a reconcile that sees a partial
listing deletes or re-creates what it missed. So a server that never ends (`max_pages`), that
sends a page again (it ignores the offset or the page number), or whose cursor does not advance
raises `PagingError` instead of returning what was read so far.

Low level, `iter_pages` / `iter_index_pages` / `iter_cursor_pages` drive a `fetch` function and
yield pages; `collect` (and `paginate`, for offset paging) joins them, optionally dropping
duplicates by key. High level, `OffsetPaging`, `PageIndexPaging` and `CursorPaging` describe a
platform's wire names once, and their `collect(send)` needs only a function that sends one page
request with the given paging parameters and returns the decoded reply.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._errors import PagingError

T = TypeVar("T")

DEFAULT_MAX_PAGES = 100_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and what the server said about the rest: `total` items,
    `has_next`, `total_pages`, or the `next_cursor` to ask for the following page. None means
    "not reported"."""

    items: Sequence[T]
    total: int | None = None
    has_next: bool | None = None
    next_cursor: str | None = None
    total_pages: int | None = None


PageFetcher = Callable[[int, int], "Page[T] | Sequence[T]"]
IndexFetcher = Callable[[int, int], "Page[T] | Sequence[T]"]
CursorFetcher = Callable[[str | None], "Page[T]"]


def _as_page(page: Page[T] | Sequence[T]) -> Page[T]:
    return page if isinstance(page, Page) else Page(page)


def _check_size(page_size: int) -> None:
    if page_size < 1:
        raise ValueError("page_size must be >= 1")


def iter_pages(fetch: PageFetcher[T], *, page_size: int = 100, max_pages: int = DEFAULT_MAX_PAGES) -> Iterator[Sequence[T]]:
    """Offset paging: yield the non-empty pages of `fetch(offset, limit)` until the listing is
    complete: a page shorter than `limit` (or empty), or `offset` reaching a reported `total`.
    A page *longer* than the limit means the server ignored it and sent everything from
    `offset`, which also ends it. A full page equal to the one before means the server ignores
    `offset`, which would otherwise only end at `max_pages`."""
    _check_size(page_size)
    offset = 0
    previous: Sequence[T] | None = None
    for _ in range(max_pages):
        page = _as_page(fetch(offset, page_size))
        items = page.items
        if previous is not None and items and list(items) == list(previous):
            raise PagingError(f"the page at offset {offset} repeats the one before it: "
                              "does the server honour the offset?")
        if items:
            yield items
        offset += len(items)
        if len(items) != page_size or (page.total is not None and offset >= page.total):
            return
        previous = items
    raise PagingError(f"listing did not end after {max_pages} pages of {page_size}: does the server honour offset?")


def iter_index_pages(
    fetch: IndexFetcher[T],
    *,
    page_size: int = 100,
    first_page: int = 0,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[Sequence[T]]:
    """Page-index paging: yield the non-empty pages of `fetch(page, page_size)` for page =
    `first_page`, `first_page + 1`, ... while the server says there are more: its `has_next`
    flag, else its `total_pages`, else its `total` item count, else a full page. A page equal to
    the one before (empty pages included: a server that keeps saying "more" and sends nothing)
    means the server ignores the page number."""
    _check_size(page_size)
    seen = 0
    previous: list[T] | None = None
    for n in range(max_pages):
        index = first_page + n
        page = _as_page(fetch(index, page_size))
        items = list(page.items)
        if previous is not None and items == previous:
            raise PagingError(f"page {index} repeats page {index - 1}: does the server honour the page number?")
        if items:
            yield page.items
        seen += len(items)
        if page.has_next is not None:
            more = page.has_next
        elif page.total_pages is not None:
            more = n + 1 < page.total_pages
        elif page.total is not None:
            more = seen < page.total
        else:
            more = len(items) >= page_size
        if not more:
            return
        previous = items
    raise PagingError(f"listing did not end after {max_pages} pages of {page_size}: "
                      "does the server ever report the last page?")


def iter_cursor_pages(
    fetch: CursorFetcher[T],
    *,
    first_cursor: str | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Iterator[Sequence[T]]:
    """Cursor paging: yield the non-empty pages of `fetch(cursor)`, starting with
    `first_cursor` (None: the first page), following each page's `next_cursor` until there is
    none (or `has_next` is False). A cursor that comes back a second time (the same one, or an
    earlier one) would loop forever, so it raises. Empty pages with a cursor are followed:
    filtered scans may return them."""
    cursor = first_cursor
    used: set[str | None] = {cursor}
    for n in range(max_pages):
        page = fetch(cursor)
        if not isinstance(page, Page):
            raise PagingError(f"cursor paging needs a Page with next_cursor, got a {type(page).__name__}")
        if page.items:
            yield page.items
        nxt = page.next_cursor
        if nxt is None or nxt == "" or page.has_next is False:
            return
        if nxt in used:
            which = "the same cursor" if nxt == cursor else "a cursor it had already sent"
            raise PagingError(f"page {n + 1} of the listing returned {which}: the cursor does not advance")
        used.add(nxt)
        cursor = nxt
    raise PagingError(f"listing did not end after {max_pages} pages: does the cursor ever run out?")


def collect(pages: Iterable[Sequence[T]], *, key: Callable[[T], Hashable] | None = None) -> list[T]:
    """All items of all pages. Paging is not a snapshot: an object created while paging can
    shift an item into the next page twice (pass `key` to drop such duplicates), and one deleted
    can shift an item out of view (list again if that matters)."""
    out: list[T] = []
    seen: set[Hashable] = set()
    for items in pages:
        for item in items:
            if key is not None:
                k = key(item)
                if k in seen:
                    continue
                seen.add(k)
            out.append(item)
    return out


def paginate(
    fetch: PageFetcher[T],
    *,
    page_size: int = 100,
    key: Callable[[T], Hashable] | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> list[T]:
    """The complete offset listing of `fetch(offset, limit)` (see `iter_pages` and `collect`)."""
    return collect(iter_pages(fetch, page_size=page_size, max_pages=max_pages), key=key)


# ── the wire names of a platform's paging ────────────────────────────────────────────────────

#: Sends one page request with the given paging parameters; returns the decoded reply.
Send = Callable[[dict[str, Any]], Any]


def _reply_items(reply: Any, items_key: str) -> list[Any]:
    """The items of a reply that is a bare list (or None: nothing) or an object holding the list
    under `items_key`. Anything else raises: guessing "empty" would hide objects."""
    if reply is None:
        return []
    if isinstance(reply, list | tuple):
        return list(reply)
    if isinstance(reply, Mapping):
        if items_key not in reply:
            raise PagingError(f"a page reply has no {items_key!r} (keys: {', '.join(sorted(map(str, reply))[:10])})")
        items = reply[items_key]
        if items is None:
            return []
        if isinstance(items, list | tuple):
            return list(items)
        raise PagingError(f"the {items_key!r} of a page reply is a {type(items).__name__}, not a list")
    raise PagingError(f"a page reply is a {type(reply).__name__}, not a list or an object")


def _field(reply: Any, key: str | None) -> Any:
    return reply.get(key) if key is not None and isinstance(reply, Mapping) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class OffsetPaging:
    """A platform's offset paging: the names of the offset and limit parameters, and of the
    items and total in a reply that is an object (a bare list is read as the items)."""

    offset: str = "offset"
    limit: str = "limit"
    items: str = "items"
    total: str | None = "total"
    page_size: int = 100
    max_pages: int = DEFAULT_MAX_PAGES

    def parse(self, reply: Any) -> Page[Any]:
        return Page(_reply_items(reply, self.items), _int(_field(reply, self.total)))

    def pages(self, send: Send) -> Iterator[Sequence[Any]]:
        def fetch(offset: int, limit: int) -> Page[Any]:
            return self.parse(send({self.offset: offset, self.limit: limit}))

        return iter_pages(fetch, page_size=self.page_size, max_pages=self.max_pages)

    def collect(self, send: Send, *, key: Callable[[Any], Hashable] | None = None) -> list[Any]:
        return collect(self.pages(send), key=key)


@dataclass(frozen=True)
class PageIndexPaging:
    """A platform's page-index paging: the page and page-size parameters, the first page's
    index, and the reply's items, has-next flag, page count and item count (Dataloop's query
    pages by default)."""

    page: str = "page"
    size: str = "pageSize"
    first_page: int = 0
    items: str = "items"
    has_next: str | None = "hasNextPage"
    total_pages: str | None = "totalPagesCount"
    total: str | None = "totalItemsCount"
    page_size: int = 100
    max_pages: int = DEFAULT_MAX_PAGES

    def parse(self, reply: Any) -> Page[Any]:
        flag = _field(reply, self.has_next)
        return Page(_reply_items(reply, self.items), total=_int(_field(reply, self.total)),
                    has_next=flag if isinstance(flag, bool) else None,
                    total_pages=_int(_field(reply, self.total_pages)))

    def pages(self, send: Send) -> Iterator[Sequence[Any]]:
        def fetch(index: int, size: int) -> Page[Any]:
            return self.parse(send({self.page: index, self.size: size}))

        return iter_index_pages(fetch, page_size=self.page_size, first_page=self.first_page, max_pages=self.max_pages)

    def collect(self, send: Send, *, key: Callable[[Any], Hashable] | None = None) -> list[Any]:
        return collect(self.pages(send), key=key)


@dataclass(frozen=True)
class CursorPaging:
    """A platform's cursor paging: the request parameter that carries the cursor (not sent for
    the first page), the reply's next-cursor field and items, and an optional page-size
    parameter."""

    cursor: str = "cursor"
    next: str = "next"
    items: str = "items"
    limit: str | None = None
    has_next: str | None = None
    page_size: int = 100
    max_pages: int = DEFAULT_MAX_PAGES

    def parse(self, reply: Any) -> Page[Any]:
        token = _field(reply, self.next)
        flag = _field(reply, self.has_next)
        return Page(_reply_items(reply, self.items),
                    next_cursor=str(token) if token is not None and token != "" else None,
                    has_next=flag if isinstance(flag, bool) else None)

    def pages(self, send: Send) -> Iterator[Sequence[Any]]:
        def fetch(cursor: str | None) -> Page[Any]:
            params: dict[str, Any] = {} if cursor is None else {self.cursor: cursor}
            if self.limit is not None:
                params[self.limit] = self.page_size
            return self.parse(send(params))

        return iter_cursor_pages(fetch, max_pages=self.max_pages)

    def collect(self, send: Send, *, key: Callable[[Any], Hashable] | None = None) -> list[Any]:
        return collect(self.pages(send), key=key)
