"""Dataloop's query language (DQL) subset and its cursor pages (contract §2.9, §3.4 items 6-7).

A query is `{"filter": {...}, "sort": {...}, "page": 0, "pageSize": 1000, "resource": ...,
"context"?: {"projects": [...]}}`. The filter is `$and`/`$or` lists of conditions, plus conditions
at its top level; a condition is `{field: value}` (equality) or `{field: {"$op": value}}` with
`$eq $ne $gt $lt $gte $lte $in $nin $exists $match`. Fields are dotted paths; a path that
crosses a list looks into each element, and a scalar condition also matches an element of a
list (`{"projects": id}` matches `"projects": [id, ...]`), as in Mongo, which DQL follows.
Equality is typed: `true` does not equal `1`. `$match` is a wildcard pattern (`*`, `?`), matched
in linear time (never a regular expression from the client). Unknown operators are a 400.

The answer is a page: `{"items", "totalItemsCount", "totalPagesCount", "hasNextPage"}`. Pages
are 0-based; `pageSize` is 1 to 1000 (default 1000, as dtlpy's cap). Sorting is by any dotted
path, ascending or descending; a sort field no document has changes nothing (dtlpy's settings
list sends `{"ascending": "ascending"}`). Without a sort, items come in creation order.

The routes narrow the candidates first through an index (the projects the filter names and the
caller may see, via `project_ids`), so a page never reads other projects' objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..._kit.sandbox.listing import PageIndexPaging, sort_key
from .errors import BadRequest

__all__ = ["MAX_PAGE_SIZE", "Query", "compile_filter", "page_of", "parse_query", "project_ids", "values_at"]

MAX_PAGE_SIZE = 1000
MAX_CONDITIONS = 256
MAX_PATTERN = 200
_MISSING = object()
_COMPARE = ("$gt", "$lt", "$gte", "$lte")
_OPERATORS = ("$eq", "$ne", "$in", "$nin", "$exists", "$match", *_COMPARE)
_DIRECTIONS = {"ascending": False, "asc": False, "1": False, "descending": True, "desc": True, "-1": True}

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]


def values_at(doc: Any, path: str) -> list[Any]:
    """Every value at a dotted path; lists met on the way are looked into (each element)."""
    current: list[Any] = [doc]
    for part in path.split("."):
        nxt: list[Any] = []
        for value in current:
            if isinstance(value, dict):
                if part in value:
                    nxt.append(value[part])
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and part in item:
                        nxt.append(item[part])
        current = nxt
        if not current:
            return []
    return current


def _candidates(values: list[Any]) -> list[Any]:
    """A value and, for a list, its elements: what a scalar condition may match."""
    out: list[Any] = []
    for value in values:
        out.append(value)
        if isinstance(value, list):
            out.extend(value)
    return out


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _ordered(a: Any, b: Any, op: str) -> bool:
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    if not numbers and not (isinstance(a, str) and isinstance(b, str)):
        return False
    if op == "$gt":
        return bool(a > b)
    if op == "$lt":
        return bool(a < b)
    if op == "$gte":
        return bool(a >= b)
    return bool(a <= b)


def wildcard(pattern: str, text: str) -> bool:
    """`*` any run, `?` any one character; linear in `len(text) * len(pattern)` at worst."""
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


@dataclass
class _Budget:
    left: int = MAX_CONDITIONS

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BadRequest(f"Invalid filter: at most {MAX_CONDITIONS} conditions")


def _field_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or name.startswith("$") or ".." in name:
        raise BadRequest(f"Invalid filter field {str(name)[:60]!r}")
    return name


def _operator(path: str, op: str, arg: Any) -> Predicate:
    if op not in _OPERATORS:
        raise BadRequest(f"Invalid filter: unknown operator {op[:30]!r} on {path!r}")
    if op == "$exists":
        if not isinstance(arg, bool):
            raise BadRequest(f"Invalid filter: $exists on {path!r} takes true or false")
        return lambda doc: bool(values_at(doc, path)) == arg
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise BadRequest(f"Invalid filter: {op} on {path!r} takes a list")
        choices = list(arg)

        def inside(doc: Doc) -> bool:
            return any(_eq(v, c) for v in _candidates(values_at(doc, path)) for c in choices)

        return inside if op == "$in" else (lambda doc: not inside(doc))
    if op == "$match":
        if not isinstance(arg, str) or len(arg) > MAX_PATTERN:
            raise BadRequest(f"Invalid filter: $match on {path!r} takes a pattern of at most {MAX_PATTERN} characters")
        return lambda doc: any(isinstance(v, str) and wildcard(arg, v) for v in _candidates(values_at(doc, path)))
    if op in _COMPARE:
        return lambda doc: any(_ordered(v, arg, op) for v in _candidates(values_at(doc, path)))
    equal = _equality(path, arg)
    return equal if op == "$eq" else (lambda doc: not equal(doc))


def _equality(path: str, arg: Any) -> Predicate:
    if arg is None:  # null matches a null value and a missing field, as in Mongo
        return lambda doc: any(v is None for v in _candidates(values_at(doc, path))) or not values_at(doc, path)
    return lambda doc: any(_eq(v, arg) for v in _candidates(values_at(doc, path)))


def _condition(path: str, cond: Any, budget: _Budget) -> Predicate:
    budget.take()
    if isinstance(cond, dict) and cond and all(isinstance(k, str) and k.startswith("$") for k in cond):
        parts = [_operator(path, op, arg) for op, arg in cond.items()]
        return lambda doc: all(p(doc) for p in parts)
    return _equality(path, cond)


def _combine(key: str, subs: list[Predicate]) -> Predicate:
    if key == "$and":
        return lambda doc: all(s(doc) for s in subs)
    return lambda doc: not subs or any(s(doc) for s in subs)


def _filter(node: Any, budget: _Budget) -> Predicate:
    if not isinstance(node, dict):
        raise BadRequest("Invalid filter: expected an object")
    parts: list[Predicate] = []
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list):
                raise BadRequest(f"Invalid filter: {key} takes a list of conditions")
            parts.append(_combine(key, [_filter(v, budget) for v in value]))
        else:
            parts.append(_condition(_field_name(key), value, budget))
    return lambda doc: all(p(doc) for p in parts)


def compile_filter(node: Any) -> Predicate:
    """A predicate for a DQL filter (None or `{}`: everything); a 400 for anything malformed."""
    if node is None:
        return lambda doc: True
    return _filter(node, _Budget())


def project_ids(node: Any, fields: Sequence[str] = ("projectId",)) -> set[str] | None:
    """The project ids an (already compiled) filter confines matches to, read from equality or
    `$in` conditions on `fields` at its top level or in its top-level `$and`; None when it does
    not confine them."""
    if not isinstance(node, dict):
        return None
    conditions = [node, *[c for c in node.get("$and") or () if isinstance(c, dict)]]
    found: set[str] | None = None
    for cond in conditions:
        for name in fields:
            if name not in cond:
                continue
            value = cond[name]
            if isinstance(value, dict):
                value = value.get("$eq", value.get("$in"))
            ids = {value} if isinstance(value, str) else {v for v in value if isinstance(v, str)} \
                if isinstance(value, list) else None
            if ids is not None:
                found = ids if found is None else found & ids
    return found


@dataclass(frozen=True)
class Query:
    predicate: Predicate
    filter: Any
    sort: list[tuple[str, bool]] = field(default_factory=list)
    page: int = 0
    page_size: int = MAX_PAGE_SIZE
    resource: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"Invalid {name}: expected an integer between {low} and {high}")
    return value


def parse_query(body: Any, resources: Iterable[str] | None = None) -> Query:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("Invalid query: the request body must be a JSON object")
    resource = body.get("resource")
    allowed = tuple(resources) if resources is not None else None
    if resource is not None and (not isinstance(resource, str) or (allowed is not None and resource not in allowed)):
        raise BadRequest(f"Invalid query resource {str(resource)[:40]!r}" + (f": expected one of {', '.join(allowed)}"
                                                                                if allowed else ""))
    filter_node = body.get("filter")
    predicate = compile_filter(filter_node)
    sort: list[tuple[str, bool]] = []
    raw_sort = body.get("sort")
    if raw_sort is not None:
        if not isinstance(raw_sort, dict):
            raise BadRequest("Invalid sort: expected an object of field: ascending|descending")
        for name, direction in raw_sort.items():
            key = str(direction).lower() if isinstance(direction, (str, int)) and not isinstance(direction, bool) else None
            if key not in _DIRECTIONS:
                raise BadRequest(f"Invalid sort direction for {str(name)[:60]!r}: expected ascending or descending")
            sort.append((_field_name(name), _DIRECTIONS[key]))
    context = body.get("context") or {}
    if not isinstance(context, dict):
        raise BadRequest("Invalid query context: expected an object")
    return Query(predicate, filter_node, sort, _int(body, "page", 0, 0, 10**6),
                 _int(body, "pageSize", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE), resource, context)


def _sort_key(name: str) -> Callable[[Doc], tuple[int, Any]]:
    return lambda doc: sort_key((values_at(doc, name) or [None])[0])


def page_of(docs: Iterable[Doc], query: Query) -> dict[str, Any]:
    """Filter, sort and page documents that come in creation order."""
    matched = [doc for doc in docs if query.predicate(doc)]
    for name, descending in reversed(query.sort):
        matched.sort(key=_sort_key(name), reverse=descending)
    page = PageIndexPaging(page=query.page, size=query.page_size).apply(matched)
    return {"items": page.items, "totalItemsCount": page.total, "totalPagesCount": page.page_count or 0,
            "hasNextPage": page.has_next}
