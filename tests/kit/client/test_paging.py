"""Complete listings: offset, page-index and cursor paging, and their guards against servers
that never end or send the same page again."""

from __future__ import annotations

import pytest
from platforge.provider._kit.client import (
    CursorPaging,
    OffsetPaging,
    Page,
    PageIndexPaging,
    PagingError,
    collect,
    iter_cursor_pages,
    iter_index_pages,
    iter_pages,
    paginate,
)


class Listing:
    """A server-side list served in pages, recording each (offset, limit) asked for."""

    def __init__(self, n: int, *, with_total: bool = False, cap: int | None = None) -> None:
        self.rows = [{"id": i} for i in range(n)]
        self.calls: list[tuple[int, int]] = []
        self.with_total = with_total
        self.cap = cap

    def __call__(self, offset: int, limit: int):
        self.calls.append((offset, limit))
        size = limit if self.cap is None else min(limit, self.cap)
        items = self.rows[offset: offset + size]
        return Page(items, len(self.rows)) if self.with_total else items


@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 250, 300])
def test_complete_across_pages(n):
    listing = Listing(n)
    assert paginate(listing, page_size=100) == listing.rows
    # Stops at the first short page; an exact multiple costs one extra (empty) request.
    assert len(listing.calls) == n // 100 + 1
    assert [c[0] for c in listing.calls] == [100 * i for i in range(len(listing.calls))]


def test_reported_total_saves_the_empty_last_request():
    listing = Listing(300, with_total=True)
    assert paginate(listing, page_size=100) == listing.rows
    assert listing.calls == [(0, 100), (100, 100), (200, 100)]


def test_server_capping_below_the_page_size_ends_early():
    """A server that silently caps pages below the asked size looks like a short page: the
    listing ends early. This is why clients must ask for no more than the server's cap."""
    listing = Listing(30, cap=10)
    assert len(paginate(listing, page_size=20)) == 10


def test_server_ignoring_the_limit_returns_everything_once():
    rows = [{"id": i} for i in range(7)]
    calls = []

    def fetch(offset, limit):
        calls.append(offset)
        return rows[offset:]

    assert paginate(fetch, page_size=3) == rows
    assert calls == [0]


def test_server_ignoring_offset_is_detected():
    with pytest.raises(PagingError):
        paginate(lambda offset, limit: [{"id": i} for i in range(limit)], page_size=5, max_pages=20)


def test_key_drops_items_shifted_into_the_next_page():
    rows = [{"id": i} for i in range(6)]

    def fetch(offset, limit):
        page = rows[offset: offset + limit]
        if offset == 0:
            rows.insert(0, {"id": -1})  # created while paging: {"id": 2} shifts into page 2
        return page

    assert [r["id"] for r in paginate(fetch, page_size=3, key=lambda r: r["id"])] == [0, 1, 2, 3, 4, 5]


def test_iter_pages_yields_non_empty_pages():
    assert [len(p) for p in iter_pages(Listing(5), page_size=2)] == [2, 2, 1]
    with pytest.raises(ValueError):
        list(iter_pages(Listing(5), page_size=0))


def test_a_repeated_full_page_is_detected_at_once_not_after_max_pages():
    calls = []

    def fetch(offset, limit):
        calls.append(offset)
        return [{"id": i} for i in range(limit)]  # ignores offset

    with pytest.raises(PagingError, match="offset 3 repeats"):
        paginate(fetch, page_size=3)
    assert calls == [0, 3]


# ── the wire names of offset paging ──────────────────────────────────────────────────────────


class OffsetServer:
    """A listing behind a wire: records the paging parameters of each request."""

    def __init__(self, n: int, reply: str = "list") -> None:
        self.rows = [{"id": i} for i in range(n)]
        self.sent: list[dict] = []
        self.reply = reply

    def __call__(self, params: dict):
        self.sent.append(params)
        start, size = params["offset"], params["batch-size"]
        rows = self.rows[start: start + size]
        return rows if self.reply == "list" else {"items": rows, "total": len(self.rows)}


def test_offset_paging_sends_the_platforms_names_and_reads_a_bare_list():
    server = OffsetServer(5)
    paging = OffsetPaging(offset="offset", limit="batch-size", page_size=2)
    assert paging.collect(server) == server.rows
    assert server.sent == [{"offset": 0, "batch-size": 2}, {"offset": 2, "batch-size": 2},
                           {"offset": 4, "batch-size": 2}]


def test_offset_paging_reads_items_and_total_from_an_object():
    server = OffsetServer(4, reply="object")
    paging = OffsetPaging(offset="offset", limit="batch-size", page_size=2)
    assert paging.collect(server) == server.rows
    assert len(server.sent) == 2  # the total ends it without an empty third page


@pytest.mark.parametrize(
    ("reply", "message"),
    [({"rows": []}, "no 'items'"), ({"items": "abc"}, "is a str, not a list"), ("text", "is a str")],
)
def test_a_reply_that_is_not_a_page_raises_rather_than_reading_as_empty(reply, message):
    with pytest.raises(PagingError, match=message):
        OffsetPaging().collect(lambda params: reply)


def test_a_null_reply_or_null_items_is_an_empty_listing():
    assert OffsetPaging().collect(lambda params: None) == []
    assert OffsetPaging().collect(lambda params: {"items": None, "total": 0}) == []


def test_collect_drops_duplicates_by_key_across_pages():
    pages = [[{"id": 1}, {"id": 2}], [{"id": 2}, {"id": 3}]]
    assert collect(pages, key=lambda r: r["id"]) == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert len(collect(pages)) == 4


# ── page index with a has-next flag ──────────────────────────────────────────────────────────


class IndexServer:
    """Dataloop-style query pages: 0-based `page`, `pageSize`, `hasNextPage`, counts."""

    def __init__(self, n: int, *, flag: bool = True, pages_count: bool = True, items_count: bool = True,
                 ignore_page: bool = False, never_ends: bool = False) -> None:
        self.rows = [{"id": i} for i in range(n)]
        self.sent: list[dict] = []
        self.flag, self.pages_count, self.items_count = flag, pages_count, items_count
        self.ignore_page, self.never_ends = ignore_page, never_ends

    def __call__(self, params: dict) -> dict:
        self.sent.append(params)
        page, size = params["page"], params["pageSize"]
        if self.never_ends:
            return {"items": [{"id": page}], "hasNextPage": True}
        start = 0 if self.ignore_page else page * size
        items = self.rows[start: start + size]
        reply: dict = {"items": items}
        if self.flag:
            reply["hasNextPage"] = start + size < len(self.rows)
        if self.pages_count:
            reply["totalPagesCount"] = -(-len(self.rows) // size)
        if self.items_count:
            reply["totalItemsCount"] = len(self.rows)
        return reply


def test_page_index_follows_has_next_like_dataloop():
    """5 pipelines with page_size=2 -> page 0, 1, 2, then stop (as dtlpy was observed to do)."""
    server = IndexServer(5)
    assert PageIndexPaging(page_size=2).collect(server) == server.rows
    assert server.sent == [{"page": 0, "pageSize": 2}, {"page": 1, "pageSize": 2}, {"page": 2, "pageSize": 2}]


@pytest.mark.parametrize(
    ("flag", "pages_count", "items_count", "requests"),
    [(False, True, False, 3),  # the page count decides
     (False, False, True, 3),  # the item count decides
     (False, False, False, 4)],  # nothing reported: a short page ends it (6 = 3 full pages + an empty one)
)
def test_page_index_without_a_flag_uses_counts_or_a_short_page(flag, pages_count, items_count, requests):
    server = IndexServer(6, flag=flag, pages_count=pages_count, items_count=items_count)
    assert PageIndexPaging(page_size=2).collect(server) == server.rows
    assert len(server.sent) == requests


def test_page_index_can_start_at_one():
    rows = list(range(5))
    asked = []

    def fetch(page, size):
        asked.append(page)
        return Page(rows[(page - 1) * size: page * size], has_next=page * size < len(rows))

    assert collect(iter_index_pages(fetch, page_size=2, first_page=1)) == rows
    assert asked == [1, 2, 3]


def test_page_index_server_ignoring_the_page_number_is_detected():
    server = IndexServer(10, ignore_page=True)
    with pytest.raises(PagingError, match="page 1 repeats page 0"):
        PageIndexPaging(page_size=3).collect(server)
    assert len(server.sent) == 2


def test_page_index_server_that_never_ends_is_stopped_at_max_pages():
    server = IndexServer(0, never_ends=True)
    with pytest.raises(PagingError, match="did not end after 7 pages"):
        PageIndexPaging(page_size=1, max_pages=7).collect(server)
    assert len(server.sent) == 7


def test_page_index_empty_pages_that_claim_more_are_a_repeat():
    with pytest.raises(PagingError, match="repeats"):
        collect(iter_index_pages(lambda page, size: Page([], has_next=True)))


# ── cursor ───────────────────────────────────────────────────────────────────────────────────


class CursorServer:
    """Pages linked by an opaque `next` token; records the parameters of each request."""

    def __init__(self, pages: list[list[int]], tokens: list[str | None] | None = None) -> None:
        self.pages = pages
        self.tokens = tokens or [f"tok{i + 1}" for i in range(len(pages) - 1)] + [None]
        self.sent: list[dict] = []

    def __call__(self, params: dict) -> dict:
        self.sent.append(params)
        index = 0 if "cursor" not in params else int(params["cursor"].removeprefix("tok"))
        return {"items": self.pages[index], "next": self.tokens[index]}


def test_cursor_paging_follows_the_next_token_until_there_is_none():
    server = CursorServer([[1, 2], [], [3], [4, 5]])  # an empty page with a cursor is followed
    assert CursorPaging(limit="limit", page_size=2).collect(server) == [1, 2, 3, 4, 5]
    assert server.sent == [{"limit": 2}, {"cursor": "tok1", "limit": 2}, {"cursor": "tok2", "limit": 2},
                           {"cursor": "tok3", "limit": 2}]


def test_cursor_paging_stops_on_has_next_false_even_with_a_token():
    paging = CursorPaging(has_next="more")
    assert paging.collect(lambda params: {"items": [1], "next": "again", "more": False}) == [1]


def test_a_cursor_that_does_not_advance_is_detected():
    server = CursorServer([[1], [2]], tokens=["tok1", "tok1"])
    with pytest.raises(PagingError, match="returned the same cursor"):
        CursorPaging().collect(server)
    assert len(server.sent) == 2


def test_a_cursor_that_loops_back_is_detected():
    server = CursorServer([[1], [2], [3]], tokens=["tok1", "tok2", "tok1"])
    with pytest.raises(PagingError, match="a cursor it had already sent"):
        CursorPaging().collect(server)
    assert len(server.sent) == 3


def test_a_cursor_that_never_ends_is_stopped_at_max_pages():
    counter = iter(range(1_000))

    def fetch(cursor):
        return Page([cursor], next_cursor=f"c{next(counter)}")

    with pytest.raises(PagingError, match="did not end after 5 pages"):
        collect(iter_cursor_pages(fetch, max_pages=5))


def test_cursor_paging_needs_pages():
    with pytest.raises(PagingError, match="needs a Page"):
        collect(iter_cursor_pages(lambda cursor: [1, 2]))  # type: ignore[arg-type, return-value]
