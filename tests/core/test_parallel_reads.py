"""Live state is read in parallel: the listings of different kinds and scopes overlap (a stack
spread over many projects would otherwise wait for each in turn under latency), the view is the
same whatever order the answers come in, and a run's cache loads each key once while different
keys load side by side. Overlap is proven with a barrier, not a clock: serial reads would
leave each listing waiting alone until the barrier's timeout breaks it."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from platforge.core.fingerprint import Fingerprinter
from platforge.core.kind import Context, Kind
from platforge.core.model import LiveObject, Resource
from platforge.core.plan import read_live


class Spec(BaseModel):
    name: str
    project: str


def scoped_kind(kind_name: str, barrier: threading.Barrier | None, order: list[str]) -> Kind:
    class Scoped(Kind):
        name = kind_name
        spec_model = Spec
        identity_fields = ("project", "name")

        def scopes(self, resources, settings):
            return {r.spec["project"] for r in resources}

        def scope_of(self, identity):
            return identity[0]

        def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
            if barrier is not None:
                barrier.wait()  # every listing must be in flight at once
            order.append(f"{kind_name}:{scope}")
            return [LiveObject(kind=kind_name, identity=(scope, f"{kind_name}-{scope}"), fields={})]

        def create(self, ctx, resource):
            raise NotImplementedError

        def update(self, ctx, resource, live, changed):
            raise NotImplementedError

        def delete(self, ctx, ref, live):
            raise NotImplementedError

    return Scoped()


def resources_for(kinds: list[str], projects: list[str]) -> list[Resource]:
    return [Resource(kind=k, name=f"{k}-{p}", spec={"name": f"{k}-{p}", "project": p}, identity=(p, f"{k}-{p}"))
            for k in kinds for p in projects]


def test_listings_of_kinds_and_scopes_run_at_once_and_fill_the_view_in_a_fixed_order():
    projects = ["p1", "p2", "p3"]
    barrier = threading.Barrier(6, timeout=10)
    order: list[str] = []
    platform = SimpleNamespace(kinds={k: scoped_kind(k, barrier, order) for k in ("a", "b")})
    ctx = Context(None, Fingerprinter(b"k" * 32))
    view = read_live(platform, ctx, resources_for(["a", "b"], projects), None, concurrency=8)
    assert len(order) == 6 and not barrier.broken
    serial = read_live(SimpleNamespace(kinds={k: scoped_kind(k, None, []) for k in ("a", "b")}), ctx,
                       resources_for(["a", "b"], projects), None, concurrency=1)
    assert list(view.by_identity) == list(serial.by_identity)  # the same keys, in the same order


def test_the_cache_loads_one_key_once_and_different_keys_side_by_side():
    ctx = Context(None, Fingerprinter(b"k" * 32))
    barrier = threading.Barrier(2, timeout=10)
    loads: list[str] = []

    def load(key: str) -> str:
        loads.append(key)
        if key != "same":
            barrier.wait()  # "x" and "y" must load at the same time
        return key.upper()

    results: list[str] = []
    threads = [threading.Thread(target=lambda k=k: results.append(ctx.cached(k, lambda k=k: load(k))))
               for k in ("x", "y", "same", "same", "same")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["SAME", "SAME", "SAME", "X", "Y"]
    assert loads.count("same") == 1 and not barrier.broken


def test_a_kind_that_lists_scopes_together_is_read_with_one_listing_for_all_its_scopes():
    """Dataloop's DQL names many projects in one query: such a kind gets every scope the stack
    touches in one `list_scopes` call, while a kind without the capability is still listed
    scope by scope, and both fill the view alike."""
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def kind(kind_name: str, together: bool) -> Kind:
        base = type(scoped_kind(kind_name, None, []))

        class Together(base):  # type: ignore[misc, valid-type]
            lists_scopes_together = together

            def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
                calls.append((kind_name, (scope,)))
                return super().list(ctx, scope)

            def list_scopes(self, ctx: Context, scopes):
                calls.append((kind_name, tuple(scopes)))
                return [LiveObject(kind=kind_name, identity=(s, f"{kind_name}-{s}"), fields={}) for s in scopes]

        return Together()

    projects = ["p2", "p1", "p3"]
    platform = SimpleNamespace(kinds={"a": kind("a", True), "b": kind("b", False)})
    ctx = Context(None, Fingerprinter(b"k" * 32))
    view = read_live(platform, ctx, resources_for(["a", "b"], projects), None, concurrency=1)
    assert sorted(calls) == [("a", ("p1", "p2", "p3")), ("b", ("p1",)), ("b", ("p2",)), ("b", ("p3",))]
    assert {key for key in view.by_identity} == {(k, (p, f"{k}-{p}")) for k in ("a", "b") for p in projects}
    calls.clear()
    read_live(platform, ctx, resources_for(["a"], ["p1"]), None, concurrency=1)
    assert calls == [("a", ("p1",))]  # one scope: the kind's own listing
