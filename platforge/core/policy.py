"""What a stack says about the objects it does not declare: which it only refers to
(`[external]`), which it may take over (`[adopt]`, `--adopt`), and which unmanaged objects
nobody needs to hear about (`[unmanaged] ignore`).

Patterns are addresses with shell wildcards, the same `kind.name` form plans and reports
print: `user.svc-*`, `kv.prod/*`, `*`. `kind:pattern` is accepted as a spelling of
`kind.pattern`, since that is how people write a kind-qualified name elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


def normalise_pattern(pattern: str) -> str:
    kind, colon, rest = pattern.partition(":")
    if colon and "." not in kind and kind:
        return f"{kind}.{rest}"
    return pattern


def matches(patterns: Iterable[str], address: str) -> bool:
    return any(fnmatchcase(address, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Policy:
    external: Mapping[str, frozenset[str]] = field(default_factory=dict)
    adopt: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    @classmethod
    def build(cls, external: Mapping[str, Iterable[str]] | None = None, adopt: Iterable[str] = (),
              ignore: Iterable[str] = ()) -> Policy:
        return cls(
            external={kind: frozenset(names) for kind, names in (external or {}).items()},
            adopt=tuple(normalise_pattern(p) for p in adopt),
            ignore=tuple(normalise_pattern(p) for p in ignore),
        )

    def with_adopt(self, patterns: Iterable[str]) -> Policy:
        return Policy(self.external, self.adopt + tuple(normalise_pattern(p) for p in patterns), self.ignore)

    def adopts(self, address: str) -> bool:
        return matches(self.adopt, address)

    def ignores(self, address: str) -> bool:
        return matches(self.ignore, address)

    def is_external(self, kind: str, name: str) -> bool:
        return name in self.external.get(kind, ())


NO_POLICY = Policy()

__all__ = ["NO_POLICY", "Policy", "matches", "normalise_pattern"]
