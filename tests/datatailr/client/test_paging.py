"""`paginate`: complete listings over offset/limit pages."""

from __future__ import annotations

import pytest
from platforge.provider._kit.transport import Page, PagingError, iter_pages, paginate


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
