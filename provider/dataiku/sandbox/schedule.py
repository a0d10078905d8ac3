"""Temporal triggers (contract §1.2 Scenario): their check, and the next time one fires, for a
scenario's `nextRun` in `GET .../light`.

A trigger is `{"type": "temporal", "active": bool, "params": {"frequency", "repeatFrequency",
"hour", "minute", "daysOfWeek", "monthlyRunOn", "startingFrom", "timezone"}}` as
`DSSScenarioSettings.add_*_trigger` builds it. `timezone` is a tz database name or `SERVER` (the
sandbox's server time is UTC). Next runs are computed for every frequency and for `monthlyRunOn`
`ON_THE_DAY` and `LAST_DAY_OF_THE_MONTH`; the week-of-month variants are accepted and stored but
give no `nextRun`.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .docs import bool_field, int_field, str_field
from .errors import BadRequest

__all__ = ["DAYS", "FREQUENCIES", "MONTHLY_RUN_ON", "check_temporal", "next_run_ms"]

FREQUENCIES = ("Minutely", "Hourly", "Daily", "Weekly", "Monthly")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHLY_RUN_ON = ("ON_THE_DAY", "LAST_DAY_OF_THE_MONTH", "FIRST_WEEK", "SECOND_WEEK", "THIRD_WEEK", "FOURTH_WEEK",
                  "LAST_WEEK")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _zone(name: Any) -> Any:
    if name in (None, "SERVER", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise BadRequest(f"Invalid trigger timezone {name!r}: expected SERVER or a tz database name") from exc


def _start(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    match = _DATE.match(value)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def check_temporal(params: Any, what: str) -> None:
    if not isinstance(params, dict):
        raise BadRequest(f"Invalid {what}.params: a temporal trigger needs its params object")
    where = f"{what}.params"
    str_field(params, "frequency", where, optional=False, nullable=False, choices=FREQUENCIES)
    int_field(params, "repeatFrequency", where, low=1, high=10_000)
    int_field(params, "hour", where, low=0, high=23)
    int_field(params, "minute", where, low=0, high=59)
    str_field(params, "monthlyRunOn", where, choices=MONTHLY_RUN_ON)
    days = params.get("daysOfWeek")
    if days is not None and (not isinstance(days, list) or not all(d in DAYS for d in days)):
        raise BadRequest(f"Invalid {where}.daysOfWeek: expected a list of {', '.join(DAYS)}")
    starting = str_field(params, "startingFrom", where)
    if starting is not None and _start(starting) is None:
        raise BadRequest(f"Invalid {where}.startingFrom {starting!r}: expected a date (YYYY-MM-DD...)")
    _zone(params.get("timezone"))


def _candidates(params: dict[str, Any], now: datetime) -> datetime | None:
    zone = _zone(params.get("timezone"))
    local = now.astimezone(zone)
    every = params.get("repeatFrequency") or 1
    hour, minute = params.get("hour") or 0, params.get("minute") or 0
    start = _start(params.get("startingFrom")) or local.date()
    frequency = params["frequency"]
    if frequency == "Minutely":
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        minutes = int((local - midnight).total_seconds() // 60) + 1
        minutes += (-minutes) % every
        return midnight + timedelta(minutes=minutes)
    if frequency == "Hourly":
        base = local.replace(minute=minute, second=0, microsecond=0)
        for step in range(0, 24 * every + 48):
            at = base + timedelta(hours=step)
            if at > local and (at.hour - hour) % every == 0:
                return at
        return None
    days = set(params.get("daysOfWeek") or DAYS) if frequency == "Weekly" else None
    first = max(start, local.date())
    for offset in range(0, 800 * every):
        day = first + timedelta(days=offset)
        if frequency == "Daily" and (day - start).days % every:
            continue
        if frequency == "Weekly" and (DAYS[day.weekday()] not in days or ((day - start).days // 7) % every):
            continue
        if frequency == "Monthly":
            months = (day.year - start.year) * 12 + day.month - start.month
            run_on = params.get("monthlyRunOn") or "ON_THE_DAY"
            last = calendar.monthrange(day.year, day.month)[1]
            if months % every:
                continue
            if run_on == "ON_THE_DAY" and day.day != start.day:
                continue
            if run_on == "LAST_DAY_OF_THE_MONTH" and day.day != last:
                continue
            if run_on not in ("ON_THE_DAY", "LAST_DAY_OF_THE_MONTH"):
                return None
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if at > local:
            return at
    return None


def next_run_ms(scenario: dict[str, Any], now: datetime | None = None) -> int:
    """When the scenario next runs by its active temporal triggers (epoch ms), 0 if never."""
    if scenario.get("active") is not True:
        return 0
    now = now or datetime.now(UTC)
    best: datetime | None = None
    for trigger in scenario.get("triggers") or ():
        if not isinstance(trigger, dict) or trigger.get("type") != "temporal" or trigger.get("active") is False:
            continue
        try:
            at = _candidates(trigger.get("params") or {}, now)
        except (BadRequest, KeyError, TypeError, ValueError, OverflowError):
            continue
        if at is not None and (best is None or at < best):
            best = at
    return 0 if best is None else int(best.timestamp() * 1000)


def check_trigger_flags(trigger: dict[str, Any], what: str) -> None:
    bool_field(trigger, "active", what)
    str_field(trigger, "name", what)
    int_field(trigger, "delay", what, low=0)
