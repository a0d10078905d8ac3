"""Dependency levels: a resource comes after everything it refers to.

Creates and updates run level by level (level 0 first); deletes run in reverse, so a group's
users are gone before the group. Within a level actions are independent and may run in parallel.
"""

from __future__ import annotations

from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter

from .errors import Problem, StackError
from .model import Resource


def dependency_levels(resources: Iterable[Resource]) -> dict[str, int]:
    """Address -> level. References to undeclared objects (built-ins) are ignored here."""
    by_address = {r.address: r for r in resources}
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for address, resource in by_address.items():
        deps = [ref.address for ref in resource.refs if ref.address in by_address and ref.address != address]
        sorter.add(address, *deps)
    try:
        order = list(sorter.static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1]) if len(exc.args) > 1 else str(exc)
        first = by_address.get(exc.args[1][0]) if len(exc.args) > 1 else None
        file = str(first.source) if first and first.source else "<stack>"
        raise StackError(Problem(file=file, message=f"reference cycle: {cycle}")) from exc
    levels: dict[str, int] = {}
    for address in order:
        resource = by_address[address]
        deps = [ref.address for ref in resource.refs if ref.address in levels and ref.address != address]
        levels[address] = 1 + max((levels[d] for d in deps), default=-1)
    return levels
