"""An apply against a platform that throttles: the default client-side limiter learns the limit
from the first 429s instead of provoking a storm of them (each costs a Retry-After), and writes
are verified from listing pages, so the request budget goes to writes."""

from __future__ import annotations

from .conftest import World


def test_an_apply_under_a_rate_limit_meets_few_429s(sandbox_factory, tmp_path, monkeypatch):
    world = World(sandbox_factory(access_log=True, rate_limit=15), tmp_path, monkeypatch)
    stack = world.stack("".join(f'[kv.k{n}]\nvalue = "v{n}"\n' for n in range(150)))
    result = world.cli("apply", stack, "--yes", "--parallelism", "8")
    assert result.exit_code == 0, result.stdout + result.stderr
    answers = world.log_lines()
    throttled = sum(1 for r in answers if r["status"] == 429)
    writes = sum(1 for r in answers if r["method"] != "GET" and r["path"] != "/login" and r["status"] != 429)
    assert writes == 150
    # Without the limiter 29% of answers were 429 (bench/RESULTS.md); the bench measures 0.82%
    # at 1,000 creates. Here the run is short, so the first 429 weighs: it finds up to
    # `--parallelism` (8) requests already in flight, answered 429 before the limiter could hold
    # them. Beyond those, at most 3% (a loaded CI machine bunches requests: 6 of 162 was seen).
    assert throttled <= 8 + 0.03 * len(answers), (throttled, len(answers))
    # verified from listing pages, not one read per object: the budget goes to writes
    assert writes >= 0.9 * len(answers), (writes, len(answers))
    assert world.cli("plan", stack).exit_code == 0


def test_plan_with_per_object_refresh_agrees_with_the_listing_plan(world):
    """The baseline (`--refresh per-object`, one read per object) plans the same changes as the
    default listing, with one request per object instead of per page."""
    import json

    stack = world.stack("[group.g]\n" + "".join(
        f'[user.u{n}]\nemail = "u{n}@example.com"\ngroups = ["g"]\n[kv.k{n}]\nvalue = "v{n}"\n' for n in range(12)))
    assert world.cli("apply", stack, "--yes").exit_code == 0
    main = stack / "main.toml"
    main.write_text(main.read_text().replace('value = "v3"', 'value = "changed"'))

    def planned(*extra):
        mark = world.mark()
        result = world.cli("plan", stack, "--json", *extra)
        assert result.exit_code == 2, result.stderr
        actions = {a["address"]: (a["op"], [c["path"] for c in a["changes"]])
                   for a in json.loads(result.stdout)["actions"] if a["op"] != "no-op"}
        reads = sum(1 for r in world.log_lines()[mark:] if r["method"] == "GET")
        return actions, reads

    listed, list_reads = planned()
    per_object, object_reads = planned("--refresh", "per-object")
    assert listed == per_object == {"kv.k3": ("update", ["value"])}
    assert object_reads >= 25 > list_reads  # 25 objects read one by one, against a few pages
