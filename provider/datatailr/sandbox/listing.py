"""Datatailr's filter DSL, and its spelling of sorting and paging, for every `ls` command
(contract §1.4). Sorting and offset paging themselves are the kit's (`_kit/sandbox/listing.py`).

Filter grammar (the subset the SDK and the skills doc use):

    expr    := term (("and" | "or") term)*        -- "and" binds tighter than "or"
    term    := "not" term | "(" expr ")" | compare
    compare := FIELD OP VALUE | FIELD ("is_null" | "is_not_null")
    OP      := = == != < <= > >= starts_with ends_with contains
    VALUE   := number | 'quoted' | "quoted" | bare-word | "[" VALUE ("," VALUE)* "]"

`field = [a, b]` means membership. Sorting is `-field` (descending) or `+field`/`field`
(ascending), several fields separated by spaces. Paging is offset/limit (`offset`,
`batch-size`); a negative or missing batch size means "no limit" unless the command has a
default. The SDK sends an omitted filter or sort as the string `"None"`.

`apply_listing` filters, sorts and pages rows already in Python, which costs every row on every
page. `sql_listing` serves the same page from SQL when it can say exactly the same thing there:
sort fields that are plain columns (`kit.Column`), and a filter that is a conjunction (`and` only)
of comparisons SQL evaluates exactly as `_compare` does (see `_sql_term`). Anything else falls
back to `apply_listing`, so behaviour never depends on which path serves a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..._kit.sandbox import listing as kit
from ..._kit.sandbox.listing import Column, OffsetPaging, Predicate, Row
from .errors import BadRequest

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lpar>\() | (?P<rpar>\)) | (?P<lbr>\[) | (?P<rbr>\]) | (?P<comma>,)
      | (?P<op>==|!=|<=|>=|=|<|>)
      | '(?P<sq>[^']*)' | "(?P<dq>[^"]*)"
      | (?P<word>[^\s()\[\],=!<>'"]+)
    )""",
    re.VERBOSE,
)
MAX_DEPTH = 64
_WORD_OPS = {"starts_with", "ends_with", "contains", "is_null", "is_not_null"}


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise BadRequest(f"Invalid filter {text!r}: unexpected text at position {pos}")
        pos = match.end()
        kind = match.lastgroup
        if kind in ("sq", "dq"):
            tokens.append(("str", match.group(kind)))
        elif kind == "word":
            word = match.group(kind)
            lowered = word.lower()
            if lowered in ("and", "or", "not"):
                tokens.append((lowered, lowered))
            elif lowered in _WORD_OPS:
                tokens.append(("op", lowered))
            else:
                tokens.append(("word", word))
        else:
            tokens.append((kind, match.group(kind)))
    return tokens


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return text
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _coerce_pair(left: Any, right: Any) -> tuple[Any, Any]:
    """Compare like with like: numbers as numbers, everything else as strings."""
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left).lower(), str(right).lower()
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left, right
    if isinstance(left, (int, float)) and isinstance(right, str):
        try:
            return left, float(right)
        except ValueError:
            return str(left), right
    return ("" if left is None else str(left)), ("" if right is None else str(right))


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(right, list):
        if op in ("=", "=="):
            return any(_compare("=", left, item) for item in right)
        if op == "!=":
            return not any(_compare("=", left, item) for item in right)
        raise BadRequest(f"Operator {op!r} does not take a list")
    if left is None and op not in ("!=",):
        return False
    a, b = _coerce_pair(left, right)
    if op in ("=", "=="):
        return a == b
    if op == "!=":
        return a != b
    if op in ("<", "<=", ">", ">="):
        try:
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        except TypeError:
            return False
    a, b = str(a), str(b)
    if op == "starts_with":
        return a.startswith(b)
    if op == "ends_with":
        return a.endswith(b)
    if op == "contains":
        return b in a
    raise BadRequest(f"Unknown filter operator {op!r}")


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], fields: set[str], text: str) -> None:
        self.tokens = tokens
        self.i = 0
        self.fields = fields
        self.text = text
        self.depth = 0

    def fail(self, what: str) -> BadRequest:
        return BadRequest(f"Invalid filter {self.text!r}: {what}")

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None) -> tuple[str, Any]:
        if self.i >= len(self.tokens):
            raise self.fail("unexpected end")
        tok = self.tokens[self.i]
        if kind is not None and tok[0] != kind:
            raise self.fail(f"expected {kind}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.i != len(self.tokens):
            raise self.fail(f"unexpected {self.tokens[self.i][1]!r}")
        return pred

    def expr(self) -> Predicate:
        alternatives = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            alternatives.append(self.conjunction())
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda row: any(p(row) for p in alternatives)

    def conjunction(self) -> Predicate:
        parts = [self.term()]
        while self.peek() == "and":
            self.take()
            parts.append(self.term())
        if len(parts) == 1:
            return parts[0]
        return lambda row: all(p(row) for p in parts)

    def term(self) -> Predicate:
        # Parsing and evaluation both recurse per `not`/`(`: bound the depth so that a hostile
        # filter is a 400, not a RecursionError.
        if self.depth >= MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            kind = self.peek()
            if kind == "not":
                self.take()
                inner = self.term()
                return lambda row: not inner(row)
            if kind == "lpar":
                self.take()
                inner = self.expr()
                self.take("rpar")
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Predicate:
        _, field = self.take("word")
        if self.fields and field not in self.fields:
            raise self.fail(f"unknown field {field!r}; filterable fields: {', '.join(sorted(self.fields))}")
        _, op = self.take("op")
        if op == "is_null":
            return lambda row: row.get(field) in (None, "")
        if op == "is_not_null":
            return lambda row: row.get(field) not in (None, "")
        value = self.value()
        return lambda row: _compare(op, row.get(field), value)

    def value(self) -> Any:
        kind = self.peek()
        if kind == "lbr":
            self.take()
            items: list[Any] = []
            while self.peek() != "rbr":
                items.append(self.scalar())
                if self.peek() == "comma":
                    self.take()
                elif self.peek() != "rbr":
                    raise self.fail("expected ',' or ']' in list")
            self.take("rbr")
            return items
        return self.scalar()

    def scalar(self) -> Any:
        kind, text = self.take()
        if kind not in ("word", "str"):
            raise self.fail(f"expected a value, found {text!r}")
        return _literal(kind, text)


def _given(text: str | None) -> str | None:
    return None if text is None or not text.strip() or text.strip() == "None" else text


def compile_filter(text: str | None, fields: Iterable[str] = ()) -> Predicate:
    if text is None or _given(text) is None:
        return lambda row: True
    return _Parser(_tokenize(text), set(fields), text).parse()


def apply_listing(
    rows: Iterable[Row],
    *,
    filter: str | None = None,
    sort: str | None = None,
    offset: int | None = None,
    batch_size: int | None = None,
    default_batch: int | None = None,
    fields: Iterable[str] = (),
) -> tuple[list[Row], int]:
    """Filter, sort and page `rows`. Returns the page and the total number of matches."""
    fields = tuple(fields)
    page = kit.apply_listing(
        rows, predicate=compile_filter(filter, fields), sort=_given(sort), fields=fields,
        paging=OffsetPaging(offset, batch_size, default_batch),
    )
    return page.items, page.total


# ── the same listing in SQL ──────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SqlListing:
    """A listing as SQL: `where` (conditions joined by AND, `1` for none) with `params`, then
    `order_by`, then `LIMIT ? OFFSET ?` with `window`."""

    where: str
    params: tuple[Any, ...]
    order_by: str
    window: tuple[int, int]


def sql_listing(
    *,
    filter: str | None = None,
    sort: str | None = None,
    offset: int | None = None,
    batch_size: int | None = None,
    default_batch: int | None = None,
    fields: Iterable[str] = (),
    columns: Mapping[str, Column],
    base: Sequence[str],
) -> SqlListing | None:
    """The listing `apply_listing` would serve for rows fetched in the order `base`, as SQL; or
    None when the filter or the sort cannot be said exactly in SQL (then use `apply_listing`).

    Errors are those of `apply_listing`, in its order: a bad filter first, then a bad sort field.
    Only comparisons that can never raise while rows are filtered are pushed down, so no error
    `apply_listing` would raise on some rows is lost."""
    fields = tuple(fields)
    compile_filter(filter, fields)  # the filter's 400s, exactly as apply_listing raises them
    conditions: list[str] = []
    params: list[Any] = []
    text = _given(filter)
    if text is not None:
        terms = _conjunction(_tokenize(text))
        if terms is None:
            return None
        for field, op, value in terms:
            column = columns.get(field)
            term = None if column is None else _sql_term(column, op, value)
            if term is None:
                return None
            conditions.append(term[0])
            params.extend(term[1])
    order_by = kit.sql_order(_given(sort), fields, columns, base)
    if order_by is None:
        return None
    window = OffsetPaging(offset, batch_size, default_batch).window()
    return SqlListing(" AND ".join(conditions) or "1", tuple(params), order_by, window)


def _conjunction(tokens: list[tuple[str, Any]]) -> list[tuple[str, str, Any]] | None:
    """`field op value (and field op value)*` as `(field, op, value)` triples, values as the
    parser reads them (`_literal`; a list for `[...]`); None for any other shape (`or`, `not`,
    parentheses, `is_null`). Only for filters `compile_filter` accepted."""
    if any(kind in ("or", "not", "lpar", "rpar") for kind, _ in tokens):
        return None
    terms: list[tuple[str, str, Any]] = []
    part: list[tuple[str, Any]] = []
    for token in [*tokens, ("and", "and")]:
        if token[0] != "and":
            part.append(token)
            continue
        if len(part) < 3 or part[0][0] != "word" or part[1][0] != "op":
            return None
        field, op, rest = part[0][1], part[1][1], part[2:]
        if len(rest) == 1 and rest[0][0] in ("word", "str"):
            value: Any = _literal(*rest[0])
        elif rest[0][0] == "lbr" and rest[-1][0] == "rbr":
            value = [_literal(kind, text) for kind, text in rest[1:-1] if kind in ("word", "str")]
        else:
            return None
        terms.append((field, op, value))
        part = []
    return terms


def _same_kind(column: Column, value: Any) -> bool:
    """Whether `_compare` compares the column's values with `value` as SQL compares them: text
    with text, and ints (not bools) with ints. A number against text, a bool, a float or null go
    through `_coerce_pair`'s conversions, which SQL does not mimic."""
    if column.kind is str:
        return isinstance(value, str)
    return column.kind is int and isinstance(value, int) and not isinstance(value, bool)


def _sql_term(column: Column, op: str, value: Any) -> tuple[str, tuple[Any, ...]] | None:
    """One comparison as SQL, or None. Equality and inequality of a value (or list of values) of
    the column's own kind, and `starts_with` on text: for those `_compare` is plain `==`, `!=` or
    `str.startswith` (the columns are NOT NULL, so its null rule never applies), which is what
    SQLite does under the BINARY collation."""
    if isinstance(value, list):
        if op not in ("=", "==", "!=") or not value or not all(_same_kind(column, v) for v in value):
            return None
        marks = ",".join("?" * len(value))
        return f"{column.sql} {'NOT IN' if op == '!=' else 'IN'} ({marks})", tuple(value)
    if not _same_kind(column, value):
        return None
    if op in ("=", "=="):
        return f"{column.sql} = ?", (value,)
    if op == "!=":
        return f"{column.sql} != ?", (value,)
    if op == "starts_with" and column.kind is str:
        return kit.sql_prefix(column.sql, value)
    return None
