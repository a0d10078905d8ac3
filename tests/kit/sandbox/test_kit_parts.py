"""The kit's parts on their own: listing (sorting, the three paging styles), sessions, the store."""

from __future__ import annotations

import pytest
from platforge.provider._kit.sandbox.errors import BadRequest, Conflict, Unauthorized
from platforge.provider._kit.sandbox.listing import (
    CursorPaging,
    OffsetPaging,
    PageIndexPaging,
    apply_listing,
    sort_rows,
)
from platforge.provider._kit.sandbox.sessions import Sessions, end_sessions, sessions_ddl, signing_key
from platforge.provider._kit.sandbox.store import Store

ROWS = [{"id": i, "name": f"n{i % 3}", "size": (None if i == 4 else 10 - i)} for i in range(1, 8)]


def test_sorting_is_stable_multi_key_and_checks_fields() -> None:
    ordered = sort_rows(list(ROWS), "name -id")
    assert [r["id"] for r in ordered] == [6, 3, 7, 4, 1, 5, 2]
    assert [r["id"] for r in sort_rows(list(ROWS), [("size", False)])][0] == 4  # nulls first
    with pytest.raises(BadRequest, match="unknown field 'nope'"):
        sort_rows(list(ROWS), "nope", fields=("id", "name"))


def test_offset_paging() -> None:
    page = apply_listing(ROWS, predicate=lambda r: r["id"] > 1, paging=OffsetPaging(offset=1, limit=2))
    assert [r["id"] for r in page.items] == [3, 4] and page.total == 6 and page.has_next
    assert len(OffsetPaging(limit=-1).apply(ROWS).items) == 7
    assert len(OffsetPaging(default=5).apply(ROWS).items) == 5


def test_page_index_paging() -> None:
    page = PageIndexPaging(page=1, size=3).apply(ROWS)
    assert [r["id"] for r in page.items] == [4, 5, 6] and page.page_count == 3 and page.has_next
    assert not PageIndexPaging(page=2, size=3).apply(ROWS).has_next
    assert [r["id"] for r in PageIndexPaging(page=1, size=3, first=1).apply(ROWS).items] == [1, 2, 3]
    with pytest.raises(BadRequest):
        PageIndexPaging(page=0, size=0).apply(ROWS)


def test_cursor_paging_survives_changes_before_the_cursor() -> None:
    first = CursorPaging(limit=3).apply(ROWS)
    assert [r["id"] for r in first.items] == [1, 2, 3] and first.next_cursor
    # Rows before the cursor disappear, and the row it names too: the next page is still right.
    changed = [r for r in ROWS if r["id"] not in (1, 3)]
    second = CursorPaging(first.next_cursor, limit=3).apply(changed)
    assert [r["id"] for r in second.items] == [4, 5, 6] and second.has_next
    last = CursorPaging(second.next_cursor, limit=3).apply(changed)
    assert [r["id"] for r in last.items] == [7] and last.next_cursor is None and not last.has_next
    with pytest.raises(BadRequest, match="Invalid cursor"):
        CursorPaging("%%%", limit=3).apply(ROWS)


def test_sessions_are_server_side_and_revocable() -> None:
    store = Store(":memory:", ddl=["CREATE TABLE people (id INTEGER PRIMARY KEY);", sessions_ddl("people(id)")])
    with store.tx() as db:
        db.execute("INSERT INTO people(id) VALUES (7)")
    sessions = Sessions(store, signing_key(None, ":memory:", b"test"))
    token = sessions.create(7, {"name": "seven"})
    session = sessions.decode(token)
    with store.read() as db:
        assert Sessions.is_live(db, session)
    sessions.revoke(session)
    with store.read() as db:
        assert not Sessions.is_live(db, session)
    # Ending a user's sessions keeps the one asked for; removing the user removes the rest.
    keep, other = sessions.decode(sessions.create(7)), sessions.decode(sessions.create(7))
    with store.tx() as db:
        end_sessions(db, 7, keep=keep)
    with store.read() as db:
        assert Sessions.is_live(db, keep) and not Sessions.is_live(db, other)
    with store.tx() as db:
        db.execute("DELETE FROM people WHERE id = 7")
    with store.read() as db:
        assert not Sessions.is_live(db, keep)
    # A token signed with another key, or under another label for the same secret, is refused.
    with pytest.raises(Unauthorized):
        Sessions(store, signing_key("s" * 16, ":memory:", b"a")).decode(token)
    assert signing_key("s" * 16, ":memory:", b"a") != signing_key("s" * 16, ":memory:", b"b")


def test_the_store_rolls_back_a_failed_transaction(tmp_path) -> None:
    store = Store(tmp_path / "t.db", ddl=["CREATE TABLE IF NOT EXISTS t (v TEXT);"], schema_version=3)
    with pytest.raises(Conflict):
        with store.tx() as db:
            db.execute("INSERT INTO t(v) VALUES ('half')")
            raise Conflict("no")
    with store.read() as db:
        assert db.scalar("SELECT count(*) FROM t") == 0
        assert db.get_meta("schema_version") == "3"
    assert oct((tmp_path / "t.db").stat().st_mode & 0o777) == "0o600"
    store.close()
