"""The server-side schedule compiler behind `GET /api/job/cron` (contract §6).

The vendor SDK never computes cron strings itself: `Schedule.get_cron_string()` sends its helper
fields here and parses `"<6-field cron> (<description>)"` out of the reply. The rules are the
contract's inferred algorithm H1, which reproduces every known input/output pair (§6.2). Where
the contract says the real behaviour is unknown the sandbox is strict (see DECISIONS.md, "Cron"),
so that a client never silently depends on a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # Mon=1 ... Sun=7
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_WORDS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_WORDS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)

# The helper options in the order the SDK sends them; the wire names use hyphens.
HELPERS = (
    "at_minutes", "at_hours", "every_minute", "every_hour",
    "weekdays", "day_of_month", "in_month", "every_month",
)


def wire_name(helper: str) -> str:
    return helper.replace("_", "-")


@dataclass(frozen=True)
class CronSpec:
    """The parsed helpers; `None` means "not given". Lists keep the caller's order."""

    at_minutes: tuple[int, ...] | None = None
    at_hours: tuple[int, ...] | None = None
    every_minute: int | None = None
    every_hour: int | None = None
    weekdays: tuple[int, ...] | None = None
    day_of_month: tuple[int, ...] | None = None
    in_month: tuple[int, ...] | None = None
    every_month: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in HELPERS)


def _items(value: Any, option: str) -> list[str] | None:
    """A comma string or a list, as items; empty input means the option was not given."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        items = [part.strip() for part in str(value).split(",")]
    else:
        raise BadRequest(f"Invalid {option} {value!r}: expected a comma-separated list")
    if all(item == "" for item in items):
        return None
    if any(item == "" for item in items):
        raise BadRequest(f"Invalid {option} {value!r}: empty item in the comma-separated list")
    return items


def _int(text: str, option: str, low: int, high: int) -> int:
    # `int()` would accept "+5", " 5", "٥" and "1_0"; only plain ASCII digits are a cron number.
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"Invalid {option} value {text!r}: expected an integer from {low} to {high}")
    number = int(text)
    if not low <= number <= high:
        raise BadRequest(f"Invalid {option} value {number}: must be between {low} and {high}")
    return number


def _int_list(value: Any, option: str, low: int, high: int) -> tuple[int, ...] | None:
    items = _items(value, option)
    return None if items is None else tuple(_int(item, option, low, high) for item in items)


def _step(value: Any, option: str, high: int) -> int | None:
    items = _items(value, option)
    if items is None:
        return None
    if len(items) != 1:
        raise BadRequest(f"Invalid {option} {value!r}: expected a single integer, e.g. 15")
    return _int(items[0], option, 1, high)


def _names(value: Any, option: str, names: tuple[str, ...]) -> tuple[int, ...] | None:
    items = _items(value, option)
    if items is None:
        return None
    numbers = []
    for item in items:
        # The SDK's own rule: at least three letters, the first three decide (`monday` -> Mon).
        key = item[:3].capitalize()
        if len(item) < 3 or key not in names or not item.isalpha():
            raise BadRequest(
                f"Invalid {option} value {item!r}: expected names like {', '.join(names[:3])}, ..."
            )
        numbers.append(names.index(key) + 1)
    return tuple(numbers)


def parse_helpers(values: Mapping[str, Any]) -> CronSpec:
    """Validate the helper options (keys with `_` or `-`). Raises BadRequest with the reason."""
    get = {name: values.get(name, values.get(wire_name(name))) for name in HELPERS}
    spec = CronSpec(
        at_minutes=_int_list(get["at_minutes"], "at-minutes", 0, 59),
        at_hours=_int_list(get["at_hours"], "at-hours", 0, 23),
        every_minute=_step(get["every_minute"], "every-minute", 59),
        every_hour=_step(get["every_hour"], "every-hour", 23),
        weekdays=_names(get["weekdays"], "weekdays", WEEKDAYS),
        day_of_month=_int_list(get["day_of_month"], "day-of-month", 1, 31),
        in_month=_names(get["in_month"], "in-month", MONTHS),
        every_month=_step(get["every_month"], "every-month", 12),
    )
    for at, every in (("at_minutes", "every_minute"), ("at_hours", "every_hour"), ("in_month", "every_month")):
        if getattr(spec, at) is not None and getattr(spec, every) is not None:
            raise BadRequest(f"Give either {wire_name(at)} or {wire_name(every)}, not both")
    return spec


def _join(numbers: Iterable[int]) -> str:
    return ",".join(str(n) for n in numbers)


def cron_fields(spec: CronSpec) -> list[str]:
    """H1: `[sec, minute, hour, day-of-month, month, day-of-week]`, seconds always `0`."""
    minute = _join(spec.at_minutes) if spec.at_minutes is not None else (
        f"*/{spec.every_minute}" if spec.every_minute is not None else None
    )
    hour = _join(spec.at_hours) if spec.at_hours is not None else (
        f"*/{spec.every_hour}" if spec.every_hour is not None else None
    )
    dom = _join(spec.day_of_month) if spec.day_of_month is not None else "*"
    month = _join(spec.in_month) if spec.in_month is not None else (
        f"*/{spec.every_month}" if spec.every_month is not None else "*"
    )
    dow = _join(spec.weekdays) if spec.weekdays is not None else "*"
    coarser = dom != "*" or month != "*" or dow != "*"
    if hour is None:
        hour = "*" if minute is not None else ("0" if coarser else "*")
    if minute is None:
        minute = "0" if hour != "*" or coarser else "*"
    return ["0", minute, hour, dom, month, dow]


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(spec: CronSpec, fields: list[str]) -> str:
    """English for the reply's `(...)` part. Never contains parentheses (the SDK's regex)."""
    _, minute, hour, _, _, _ = fields
    minutes, hours = minute.split(","), hour.split(",")
    fixed = all(part.isdigit() for part in minutes + hours)
    if fixed and len(minutes) * len(hours) <= 6:
        when = "At " + _words([f"{int(h):02d}:{int(m):02d}" for h in hours for m in minutes])
    else:
        if minute == "*":
            when = "Every minute"
        elif spec.every_minute is not None:
            when = f"Every {spec.every_minute} minutes"
        else:
            when = "At minute " + _words(minute.split(","))
        if hour.startswith("*/"):
            when += f" past every {hour[2:]} hours"
        elif hour != "*":
            when += " past hour " + _words(hour.split(","))
    parts = [when]
    if spec.day_of_month is not None:
        parts.append("on day-of-month " + _words([str(d) for d in spec.day_of_month]))
    if spec.weekdays is not None:
        parts.append("on " + _words([_DAY_WORDS[d - 1] for d in spec.weekdays]))
    if spec.in_month is not None:
        parts.append("in " + _words([_MONTH_WORDS[m - 1] for m in spec.in_month]))
    elif spec.every_month is not None:
        parts.append(f"every {spec.every_month} months")
    if spec.day_of_month is None and spec.weekdays is None and spec.in_month is None and spec.every_month is None:
        parts.append("every day")
    return ", ".join(parts)


def compile_schedule(values: Mapping[str, Any]) -> str | None:
    """The 6-field cron for these helpers, or None when no helper is given."""
    spec = parse_helpers(values)
    return None if spec.is_empty() else " ".join(cron_fields(spec))


def cron_reply(values: Mapping[str, Any]) -> str:
    """The `job cron` reply. With no helpers it is `""`, which the SDK's regex does not match, so
    a `Schedule(cron_expression=...)` keeps its raw expression (contract §6.3)."""
    spec = parse_helpers(values)
    if spec.is_empty():
        return ""
    fields = cron_fields(spec)
    return f"{' '.join(fields)} ({describe(spec, fields)})"


# Ranges of the 6-field form `sec min hour day-of-month month day-of-week`; `0` and `7` are both
# Sunday in the day-of-week field, as in every common cron dialect.
_FIELD_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")


def _check_atom(atom: str, low: int, high: int, names: tuple[str, ...], where: str) -> None:
    if atom in ("*", "?"):
        return
    bounds = atom.split("-")
    if len(bounds) > 2 or not all(bounds):
        raise BadRequest(f"Invalid cron {where}: {atom!r} is not a number, a name or a range")
    values = []
    for bound in bounds:
        if bound.isascii() and bound.isdigit():
            values.append(int(bound))
        elif names and bound[:3].capitalize() in names and len(bound) == 3:
            values.append(names.index(bound[:3].capitalize()) + 1)
        else:
            raise BadRequest(f"Invalid cron {where}: {bound!r} is not a number or a name")
    for value in values:
        if not low <= value <= high:
            raise BadRequest(f"Invalid cron {where}: {value} is outside {low}-{high}")


def validate_cron_expression(text: str) -> str:
    """Check a raw schedule (`job save` `schedule`, `job modify --schedule`) and return it with
    its whitespace collapsed. Five fields (classic) and six (seconds first) are both accepted and
    stored as given: the SDK sends a raw `cron_expression` unchanged (contract §6.1)."""
    fields = text.split()
    if len(fields) not in (5, 6):
        raise BadRequest(
            f"Invalid cron expression {text!r}: expected 6 fields (sec min hour dom month dow) or 5"
        )
    offset = 6 - len(fields)
    for index, field in enumerate(fields):
        position = index + offset
        low, high = _FIELD_RANGES[position]
        names = MONTHS if position == 4 else WEEKDAYS if position == 5 else ()
        where = f"{_FIELD_NAMES[position]} field {field!r} in {text!r}"
        for item in field.split(","):
            base, sep, step = item.partition("/")
            if sep and not (step.isascii() and step.isdigit() and int(step) > 0):
                raise BadRequest(f"Invalid cron {where}: step {step!r} must be a positive integer")
            if not base:
                raise BadRequest(f"Invalid cron {where}: empty item")
            _check_atom(base, low, high, names, where)
    return " ".join(fields)
