"""Cron expressions, for schedules' `next_run` and jobs' `cron_expression` (contract §1.4, §1.6).

Five fields (minute, hour, day of month, month, day of week) with `*`, lists, ranges, steps
and English names (`jan`, `mon`), or a macro (`@hourly`, `@daily`, `@weekly`, `@monthly`,
`@yearly`). As in Vixie cron, when both day fields are restricted a day matching either is a
run day. An expression that can never run (`0 0 31 2 *`) is valid and has no next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import BadRequest

__all__ = ["Cron", "parse"]

_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 7, _DAYS))
SEARCH_DAYS = 366 * 8  # enough for a Feb 29 that must also be a given weekday


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def runs_on(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def next_after(self, moment: datetime) -> datetime | None:
        """The first run strictly after `moment` (to the minute), or None within eight years."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        for _ in range(SEARCH_DAYS):
            if self.runs_on(day):
                for hour in hours:
                    for minute in minutes:
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not (text.isascii() and text.isdigit()) or len(text) > 4:
        raise ValueError(f"{name}: {text[:20]!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}-{high}")
    return value


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not (step_text.isascii() and step_text.isdigit()) or not 1 <= int(step_text[:4]) <= high + 1:
                raise ValueError(f"{name}: bad step {step_text[:20]!r}")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, name, low, high, names), _value(b, name, low, high, names)
            if first > last:
                raise ValueError(f"{name}: range {base!r} runs backwards")
        else:
            first = _value(base, name, low, high, names)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return values


def parse(expression: str, what: str = "cron_expression") -> Cron:
    """The expression, or a 400 naming what is wrong with it."""
    text = _MACROS.get(expression.strip().lower(), expression)
    parts = text.split()
    try:
        if len(parts) != 5:
            raise ValueError("expected five fields (minute hour day-of-month month day-of-week) or a macro such as @daily")
        sets = [_field(part, name, low, high, names) for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True)]
    except ValueError as exc:
        raise BadRequest(f"Invalid {what} {expression[:80]!r}: {exc}") from exc
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(frozenset(sets[0]), frozenset(sets[1]), frozenset(sets[2]), frozenset(sets[3]), weekdays,
                days_restricted=parts[2] != "*", weekdays_restricted=parts[4] != "*")
