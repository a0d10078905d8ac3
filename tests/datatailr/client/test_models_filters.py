"""Model normalisation (users, ACLs, memory, jobs, cron) and safe filter quoting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from platforge.provider.datatailr import (
    Acl,
    AclIds,
    CronSchedule,
    Job,
    JobRun,
    StartResult,
    User,
    memory_bytes,
    memory_text,
    normalize_job_name,
    platform_job_id,
)
from platforge.provider.datatailr.filters import all_of, combine, compare, eq, is_null, quote, where
from platforge.provider.datatailr.sandbox.listing import compile_filter
from pydantic import ValidationError

# ── users ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("wire", "groups"),
    [("dtusers,analysts", ["dtusers", "analysts"]), ("", []), (None, []), (" a , ,b ", ["a", "b"]),
     (["x", "y"], ["x", "y"])],
)
def test_user_groups_comma_string_becomes_a_list(wire, groups):
    user = User.model_validate({"name": "bob", "user_id": 1002, "first_name": "B", "last_name": None,
                                "is_system": False, "groups": wire, "unknown_new_field": 1})
    assert user.groups == groups and user.last_name == "" and user.email == ""


# ── ACLs ───────────────────────────────────────────────────────────────────────────────────


def test_acl_option_form_is_merged_sorted_and_ordered_rwoap():
    acl = Acl(users={"bob": "r", "alice": ["promote", "read", "w"]}, groups={"analysts": "r"}, others="ra")
    assert acl.to_options() == {"users": "alice:rwp,bob:r", "groups": "analysts:r", "others": "ra"}


def test_acl_parse_accepts_split_and_merged_forms():
    split = Acl.parse(users="alice:r,alice:w,alice:o", groups="analysts:r")
    merged = Acl.parse(users="alice:rwo", groups="analysts:r")
    assert split == merged
    assert Acl.parse() == Acl() and Acl().is_empty() and Acl().to_options() == {}
    assert Acl().to_options(include_empty=True) == {"users": "", "groups": "", "others": ""}


@pytest.mark.parametrize(
    "kwargs",
    [{"users": {"al ice": "r"}}, {"users": {"a,b": "r"}}, {"groups": {"x:y": "r"}}, {"users": {"bob": "rx"}},
     {"users": "bob"}, {"users": "a b:r"}, {"others": "z"}, {"users": {"o'neil": "r"}}],
)
def test_acl_refuses_what_the_option_form_cannot_carry(kwargs):
    with pytest.raises(ValidationError):
        Acl(**kwargs)


def test_acl_ids_normalise_and_split_users_from_groups():
    ids = AclIds({"write": [1001], "read": [1001, -101, 1001, 0], "operate": [], "access": None})
    assert ids.root == {"read": (-101, 0, 1001), "write": (1001,)}
    assert ids == AclIds({"read": [0, 1001, -101], "write": [1001]})
    assert ids.user_ids("read") == {0, 1001} and ids.group_ids("read") == {101}
    assert ids.principal_ids() == {-101, 0, 1001}


def test_acl_ids_to_names():
    ids = AclIds({"read": [1001, -101], "write": [1001]})
    acl = ids.to_acl({1001: "alice"}, {101: "analysts"})
    assert acl.to_options() == {"users": "alice:rw", "groups": "analysts:r"}
    with pytest.raises(ValueError, match="unknown group id 101"):
        ids.to_acl({1001: "alice"}, {})


def test_acl_ids_refuse_a_non_object():
    with pytest.raises(ValidationError):
        AclIds.model_validate([1, 2])


# ── sizes, jobs, runs, cron ────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "n"),
    [("256m", 256 * 1024**2), ("2G", 2 * 1024**3), ("1gb", 1024**3), ("512Mi", 512 * 1024**2), ("100", 100),
     (4096, 4096), ("1.5g", int(1.5 * 1024**3)), ("1k", 1024)],
)
def test_memory_bytes(text, n):
    assert memory_bytes(text) == n


@pytest.mark.parametrize("bad", ["lots", "1x", "", "-1m", True])
def test_memory_bytes_refuses_garbage(bad):
    with pytest.raises(ValueError):
        memory_bytes(bad)


@given(st.integers(min_value=1, max_value=2**50))
def test_memory_text_round_trips(n):
    assert memory_bytes(memory_text(n)) == n


def test_job_normalises_quirks():
    job = Job.model_validate({"id": "u", "name": "n", "version": "3", "memory": "1g", "vram": None, "acl": None,
                              "children_full": [{"id": "c", "name": "n-0", "version": 3, "memory": 1024}],
                              "run_as": None, "extra_field": {"x": 1}})
    assert job.version == 3 and job.memory == 1024**3 and job.acl == AclIds({}) and job.run_as == ""
    assert job.children[0].name == "n-0"


def test_run_id_from_id_or_run_id():
    assert JobRun.model_validate({"id": 5}).run_id == 5
    assert JobRun.model_validate({"id": 5, "run_id": 6}).run_id == 6


def test_start_result_aliases():
    result = StartResult.model_validate({"running": [{"Id": "u", "RunId": 1}], "pending": [],
                                         "scheduled": [{"Id": "u", "Version": 2}]})
    assert result.running[0].run_id == 1 and result.scheduled[0].version == 2


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("0 0 8,16 * * 1,2,3,4,5 (At 08:00 and 16:00)", ("0 0 8,16 * * 1,2,3,4,5", "At 08:00 and 16:00")),
     ("0 8,16 * * 1,2,3,4,5 (five fields)", ("0 0 8,16 * * 1,2,3,4,5", "five fields")),
     ("", None), ("no parentheses", None), (42, None)],
)
def test_cron_reply(reply, expected):
    parsed = CronSchedule.from_reply(reply)
    if expected is None:
        assert parsed is None
    else:
        assert (parsed.cron, parsed.description) == expected


def test_job_identity_matches_the_contract():
    assert normalize_job_name("Price Server") == "price-server"
    assert normalize_job_name("  ﬁnance__Report!! 2 ") == "finance-report-2"
    assert platform_job_id("price-server", "dev") == "95131336-1461-588d-af49-7a7bbae72a94"
    assert platform_job_id("my-flow", "dev") == "78017ed4-a206-5c96-beed-be39d35e90b8"


# ── filters ────────────────────────────────────────────────────────────────────────────────


def test_quote():
    assert quote("x y") == "'x y'"
    assert quote("O'Neil") == '"O\'Neil"'
    assert quote(1002) == "1002" and quote(True) == "true" and quote(1.5) == "1.5"
    assert quote([1001, 1002]) == "[1001, 1002]" and quote(["a b", "c"]) == "['a b', 'c']"
    with pytest.raises(ValueError):
        quote("""both ' and " """)
    with pytest.raises(ValueError):
        quote(None)


def test_filter_builders():
    assert eq("name", "x y") == "name = 'x y'"
    assert eq("user_id", {1001}) == "user_id = [1001]"
    assert compare("name", "starts_with", "app") == "name starts_with 'app'"
    assert is_null("email") == "email is_null"
    assert where({"type": "service", "environment": "dev"}) == "(type = 'service') and (environment = 'dev')"
    assert combine("a = 1 or b = 2", {"c": 3}) == "(a = 1 or b = 2) and (c = 3)"
    assert combine(None, None) is None and all_of(None, "x = 1") == "x = 1"
    with pytest.raises(ValueError):
        eq("name; drop", "x")
    with pytest.raises(ValueError):
        compare("name", "~", "x")


# The sandbox's DSL parser is the reference reader of the filter language: anything `quote`
# produces must come back as exactly the value that went in.
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@settings(deadline=None)
@given(_text.filter(lambda s: not ("'" in s and '"' in s)), _text)
def test_quoted_values_round_trip_through_the_sandbox_parser(value, other):
    predicate = compile_filter(eq("name", value), fields=("name",))
    assert predicate({"name": value})
    assert predicate({"name": other}) == (other == value)


@settings(deadline=None)
@given(st.lists(_text.filter(lambda s: "'" not in s or '"' not in s), min_size=1, max_size=5))
def test_quoted_lists_round_trip_through_the_sandbox_parser(values):
    predicate = compile_filter(all_of(eq("name", values), "x = 1"), fields=("name", "x"))
    for value in values:
        assert predicate({"name": value, "x": 1})
