"""The default client-side limiter against a platform that throttles: an apply learns the limit
from the first 429s instead of provoking a storm of them (each costs a Retry-After)."""

from __future__ import annotations

from .conftest import World


def test_an_apply_under_a_rate_limit_meets_few_429s(sandbox_factory, tmp_path, monkeypatch):
    world = World(sandbox_factory(access_log=True, rate_limit=15), tmp_path, monkeypatch)
    stack = world.stack("".join(f'[kv.k{n}]\nvalue = "v{n}"\n' for n in range(80)))
    result = world.cli("apply", stack, "--yes", "--parallelism", "8")
    assert result.exit_code == 0, result.stdout + result.stderr
    answers = world.log_lines()
    throttled = sum(1 for r in answers if r["status"] == 429)
    assert len(answers) > 160
    assert throttled <= 0.02 * len(answers), (throttled, len(answers))
    assert world.cli("plan", stack).exit_code == 0
