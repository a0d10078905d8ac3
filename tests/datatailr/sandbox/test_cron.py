"""The schedule compiler (contract §6): the known pairs, H1's properties, and `GET /api/job/cron`."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from platforge.provider.datatailr.sandbox import cron
from platforge.provider.datatailr.sandbox.errors import BadRequest

from tests.conftest import RunningSandbox

# `Schedule.__compile__`'s parser, verbatim.
SDK_REPLY = re.compile(r"^(.*?)\s*\((.*?)\)$")

KNOWN = [
    ({"in-month": "Jul", "weekdays": "Sun", "every-minute": "24", "at-hours": "2,15"}, "0 */24 2,15 * 7 7"),
    (
        {"at-minutes": "0,15,30,45", "at-hours": "0,12", "weekdays": "Mon,Wed,Fri", "day-of-month": "15",
         "in-month": "Jan,Jul"},
        "0 0,15,30,45 0,12 15 1,7 1,3,5",
    ),
    ({"at-hours": "10,22", "at-minutes": "15"}, "0 15 10,22 * * *"),
    ({"every-minute": "15", "weekdays": "Mon,Fri"}, "0 */15 * * * 1,5"),
]


def sdk_parse(reply: str) -> tuple[str, str] | None:
    match = SDK_REPLY.match(reply)
    return None if match is None else (match.group(1).strip(), match.group(2).strip())


@pytest.fixture
def client(sandbox: RunningSandbox) -> httpx.Client:
    with httpx.Client(base_url=sandbox.url, timeout=30) as c:
        c.post("/login", auth=(sandbox.admin_user, sandbox.admin_password)).raise_for_status()
        yield c


# ── the compiler itself ────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("helpers", "expected"), KNOWN)
def test_known_examples(helpers: dict, expected: str) -> None:
    assert sdk_parse(cron.cron_reply(helpers))[0] == expected


def test_python_lists_and_ints_are_accepted_like_comma_strings() -> None:
    assert cron.compile_schedule({"at_minutes": [0, 30], "at_hours": [9], "weekdays": ["monday", "FRI"]}) == "0 0,30 9 * * 1,5"
    assert cron.compile_schedule({"every_hour": 3}) == "0 0 */3 * * *"


@pytest.mark.parametrize(
    ("helpers", "expected"),
    [
        ({"every-hour": "3"}, "0 0 */3 * * *"),          # an undecided minute is 0 under a fixed hour
        ({"weekdays": "Mon"}, "0 0 0 * * 1"),            # coarser only: midnight
        ({"at-minutes": "5"}, "0 5 * * * *"),            # a given minute leaves the hour open
        ({"every-month": "2"}, "0 0 0 * */2 *"),
        ({"day-of-month": "1,15"}, "0 0 0 1,15 * *"),
        ({"at-hours": "0"}, "0 0 0 * * *"),
    ],
)
def test_h1_defaults_for_unspecified_fields(helpers: dict, expected: str) -> None:
    assert cron.compile_schedule(helpers) == expected


def test_no_helpers_gives_a_reply_the_sdk_does_not_parse() -> None:
    assert cron.cron_reply({}) == ""
    assert cron.cron_reply({"at-minutes": "", "weekdays": ""}) == ""
    assert sdk_parse(cron.cron_reply({})) is None
    assert cron.compile_schedule({}) is None


@pytest.mark.parametrize(
    ("helpers", "message"),
    [
        ({"weekdays": "Mon,Funday"}, "weekdays value 'Funday'"),
        ({"weekdays": "Mo"}, "weekdays value 'Mo'"),
        ({"weekdays": "1"}, "weekdays value '1'"),
        ({"in-month": "Jul,Smarch"}, "in-month value 'Smarch'"),
        ({"at-minutes": "60"}, "between 0 and 59"),
        ({"at-minutes": "1.5"}, "expected an integer"),
        ({"at-minutes": "-1"}, "expected an integer"),
        ({"at-hours": "24"}, "between 0 and 23"),
        ({"at-hours": "ten"}, "expected an integer"),
        ({"at-hours": "1-5"}, "expected an integer"),
        ({"at-hours": "1,,2"}, "empty item"),
        ({"every-minute": "0"}, "between 1 and 59"),
        ({"every-minute": "5,10"}, "single integer"),
        ({"every-hour": "24"}, "between 1 and 23"),
        ({"every-month": "13"}, "between 1 and 12"),
        ({"day-of-month": "32"}, "between 1 and 31"),
        ({"day-of-month": "0"}, "between 1 and 31"),
        ({"at-minutes": "5", "every-minute": "10"}, "not both"),
        ({"at-hours": "5", "every-hour": "2"}, "not both"),
        ({"in-month": "Jan", "every-month": "2"}, "not both"),
    ],
)
def test_bad_helpers_are_rejected_with_the_reason(helpers: dict, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        cron.cron_reply(helpers)
    assert message in err.value.message


minutes = st.lists(st.integers(0, 59), min_size=1, max_size=6)
hours = st.lists(st.integers(0, 23), min_size=1, max_size=6)
day_names = st.lists(st.sampled_from(cron.WEEKDAYS), min_size=1, max_size=7)
month_names = st.lists(st.sampled_from(cron.MONTHS), min_size=1, max_size=12)
helpers_strategy = st.fixed_dictionaries(
    {},
    optional={
        "at_minutes": minutes,
        "at_hours": hours,
        "weekdays": day_names,
        "day_of_month": st.lists(st.integers(1, 31), min_size=1, max_size=3),
        "in_month": month_names,
    },
).flatmap(
    lambda base: st.fixed_dictionaries(
        {k: st.just(v) for k, v in base.items()},
        optional={
            **({} if "at_minutes" in base else {"every_minute": st.integers(1, 59)}),
            **({} if "at_hours" in base else {"every_hour": st.integers(1, 23)}),
            **({} if "in_month" in base else {"every_month": st.integers(1, 12)}),
        },
    )
)


@settings(max_examples=300, deadline=None)
@given(helpers_strategy)
def test_every_reply_is_six_fields_with_zero_seconds_and_parses_in_the_sdk(helpers: dict) -> None:
    reply = cron.cron_reply(helpers)
    if not helpers:
        assert reply == ""
        return
    parsed = sdk_parse(reply)
    assert parsed is not None and parsed[1]
    fields = parsed[0].split()
    assert len(fields) == 6 and fields[0] == "0"
    # The SDK prefixes "0 " only to 5-field crons; the sandbox's is used as is.
    assert parsed[0] == cron.compile_schedule(helpers)
    # Whatever the compiler emits, the raw-schedule validator accepts unchanged.
    assert cron.validate_cron_expression(parsed[0]) == parsed[0]


@settings(max_examples=200, deadline=None)
@given(helpers_strategy)
def test_lists_are_preserved_in_order_and_mapped(helpers: dict) -> None:
    _, minute, hour, dom, month, dow = cron.compile_schedule(helpers or {"at_hours": [1]}).split()
    if "at_minutes" in helpers:
        assert minute == ",".join(map(str, helpers["at_minutes"]))
    if "every_minute" in helpers:
        assert minute == f"*/{helpers['every_minute']}"
    if "at_hours" in helpers:
        assert hour == ",".join(map(str, helpers["at_hours"]))
    if "every_hour" in helpers:
        assert hour == f"*/{helpers['every_hour']}"
    if "weekdays" in helpers:
        assert dow == ",".join(str(cron.WEEKDAYS.index(d) + 1) for d in helpers["weekdays"])
    else:
        assert dow == "*"
    if "in_month" in helpers:
        assert month == ",".join(str(cron.MONTHS.index(m) + 1) for m in helpers["in_month"])
    if "day_of_month" in helpers:
        assert dom == ",".join(map(str, helpers["day_of_month"]))
    else:
        assert dom == "*"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(cron.WEEKDAYS), min_size=1, max_size=7), st.data())
def test_weekday_names_are_case_insensitive_and_may_be_long(days: list[str], data: st.DataObject) -> None:
    full = {"Mon": "monday", "Tue": "TUESDAY", "Wed": "Wednesday", "Thu": "thu", "Fri": "fRiDaY", "Sat": "saturday", "Sun": "SUN"}
    spelled = [data.draw(st.sampled_from([d, d.lower(), d.upper(), full[d]])) for d in days]
    assert cron.compile_schedule({"weekdays": ",".join(spelled)}) == cron.compile_schedule({"weekdays": days})


@pytest.mark.parametrize("text", ["0 */2 * * *", "0 0 8,16 * * 1-5", "0 0 0 1 JAN mon", "*/5 * * * * *", "0 0 12 ? * 7"])
def test_raw_expressions_are_accepted_verbatim(text: str) -> None:
    assert cron.validate_cron_expression(f"  {text}  ") == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("* * * *", "expected 6 fields"),
        ("0 0 0 * * * *", "expected 6 fields"),
        ("61 * * * * *", "outside 0-59"),
        ("0 0 24 * * *", "outside 0-23"),
        ("0 0 0 0 * *", "outside 1-31"),
        ("0 0 0 * 13 *", "outside 1-12"),
        ("0 0 0 * * 8", "outside 0-7"),
        ("0 */0 * * * *", "step"),
        ("0 1,,2 * * * *", "empty item"),
        ("0 a * * * *", "not a number"),
        ("0 0 0 * Smarch *", "not a number"),
        ("0 1-2-3 * * * *", "range"),
    ],
)
def test_bad_raw_expressions_are_rejected(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        cron.validate_cron_expression(text)
    assert message in err.value.message


# ── over HTTP ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(("helpers", "expected"), KNOWN)
def test_cron_endpoint_known_examples(client: httpx.Client, helpers: dict, expected: str) -> None:
    response = client.get("/api/job/cron", params=helpers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    parsed = sdk_parse(response.json()["result"])
    assert parsed is not None and parsed[0] == expected and parsed[1]


def test_cron_endpoint_bare_call_and_empty_values(client: httpx.Client) -> None:
    assert client.get("/api/job/cron").json() == {"result": ""}
    assert client.get("/api/job/cron?at-minutes=&weekdays=").json() == {"result": ""}


def test_cron_endpoint_ignores_the_sdk_extras_and_describes_in_english(client: httpx.Client) -> None:
    reply = client.get("/api/job/cron", params={"at-hours": "8,16", "weekdays": "Mon,Tue,Wed,Thu,Fri", "json": "True"})
    assert reply.json() == {"result": "0 0 8,16 * * 1,2,3,4,5 (At 08:00 and 16:00, on Monday, Tuesday, Wednesday, Thursday and Friday)"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weekdays": "Mon,Xyz"}, "Invalid weekdays value 'Xyz'"),
        ({"in-month": "Foo"}, "Invalid in-month value 'Foo'"),
        ({"at-minutes": "abc"}, "Invalid at-minutes value 'abc'"),
        ({"at-hours": "25"}, "between 0 and 23"),
        ({"every-minute": "99"}, "between 1 and 59"),
        ("at-minutes=%FF", "Invalid at-minutes"),
        ("weekdays=%00Mon", "weekdays"),
    ],
)
def test_cron_endpoint_bad_input_is_400(client: httpx.Client, params: dict | str, message: str) -> None:
    if isinstance(params, str):
        response = client.get(f"/api/job/cron?{params}")
    else:
        response = client.get("/api/job/cron", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_cron_endpoint_needs_a_session(sandbox: RunningSandbox) -> None:
    with httpx.Client(base_url=sandbox.url) as anonymous:
        response = anonymous.get("/api/job/cron", params={"at-hours": "1"})
    assert response.status_code == 401 and "error" in response.json()
