"""Dependency levels: what the apply's order rests on (level by level, deletes in reverse)."""

from __future__ import annotations

import random

import pytest

from platforge.core.errors import StackError
from platforge.core.graph import dependency_levels
from platforge.core.model import Ref, Resource, SourceLocation


def res(name: str, *refs: str, line: int = 1) -> Resource:
    return Resource("k", name, {}, (name,), refs=tuple(Ref("k", r) for r in refs),
                    source=SourceLocation("main.toml", line))


def test_a_resource_comes_one_level_after_the_deepest_thing_it_refers_to():
    levels = dependency_levels([res("app", "db", "net"), res("db", "net"), res("net"), res("solo", "builtin"),
                                res("self", "self")])
    assert levels == {"k.app": 2, "k.db": 1, "k.net": 0, "k.solo": 0, "k.self": 0}


def test_levels_do_not_depend_on_declaration_order():
    chain = [res(f"n{i}", f"n{i - 1}") if i else res("n0") for i in range(300)]  # deep: no recursion limit
    shuffled = chain[:]
    random.Random(7).shuffle(shuffled)
    assert dependency_levels(chain) == dependency_levels(shuffled) == {f"k.n{i}": i for i in range(300)}


def test_levels_are_the_longest_path_on_a_random_graph():
    rng = random.Random(11)
    names = [f"n{i}" for i in range(200)]
    refs = {n: [names[j] for j in rng.sample(range(i), min(i, rng.randrange(4)))] for i, n in enumerate(names)}
    levels = dependency_levels([res(n, *refs[n]) for n in reversed(names)])
    for n in names:  # the definition, checked directly
        assert levels[f"k.{n}"] == 1 + max((levels[f"k.{r}"] for r in refs[n]), default=-1)


def test_a_cycle_is_a_stack_problem_naming_it_in_order():
    with pytest.raises(StackError) as info:
        dependency_levels([res("ok"), res("a", "b", line=3), res("b", "c", line=5), res("c", "a", line=7)])
    (problem,) = info.value.problems
    assert problem.message == "reference cycle: k.a -> k.b -> k.c -> k.a"
    assert (problem.file, problem.line, problem.path) == ("main.toml", 3, "k.a")
