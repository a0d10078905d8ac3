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
    assert throttled <= 0.02 * len(answers), (throttled, len(answers))
    # verified from listing pages, not one read per object: the budget goes to writes
    assert writes >= 0.9 * len(answers), (writes, len(answers))
    assert world.cli("plan", stack).exit_code == 0
