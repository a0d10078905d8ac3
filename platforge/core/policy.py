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
from typing import Any


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
    #: Address -> the platform id to adopt, where several live objects share its name.
    adopt_ids: Mapping[str, str] = field(default_factory=dict)
    #: Deletes confirmed beyond `--yes` (`--confirm-delete ADDRESS`): patterns.
    confirm_deletes: tuple[str, ...] = ()

    @classmethod
    def build(cls, external: Mapping[str, Iterable[str]] | None = None, adopt: Iterable[str] = (),
              ignore: Iterable[str] = (), adopt_ids: Mapping[str, Any] | None = None) -> Policy:
        return cls(external={kind: frozenset(names) for kind, names in (external or {}).items()},
                   ignore=tuple(normalise_pattern(p) for p in ignore)).with_adopt(adopt, adopt_ids)

    def with_adopt(self, patterns: Iterable[str], ids: Mapping[str, Any] | None = None) -> Policy:
        """More consent: patterns, and `ADDRESS=ID` items naming the one object to adopt."""
        chosen = dict(self.adopt_ids)
        plain: list[str] = []
        for item in patterns:
            address, equals, platform_id = item.partition("=")
            if equals:
                chosen[address.strip()] = platform_id.strip()
                plain.append(address.strip())
            else:
                plain.append(item)
        for address, platform_id in (ids or {}).items():
            chosen[address] = str(platform_id)
            plain.append(address)
        return Policy(self.external, self.adopt + tuple(normalise_pattern(p) for p in plain), self.ignore, chosen,
                      self.confirm_deletes)

    def with_confirmed_deletes(self, patterns: Iterable[str]) -> Policy:
        return Policy(self.external, self.adopt, self.ignore, self.adopt_ids,
                      self.confirm_deletes + tuple(normalise_pattern(p) for p in patterns))

    def confirms_delete(self, address: str) -> bool:
        return matches(self.confirm_deletes, address)

    def adopts(self, address: str) -> bool:
        return matches(self.adopt, address)

    def adopt_id(self, address: str) -> str | None:
        return self.adopt_ids.get(address)

    def ignores(self, address: str) -> bool:
        return matches(self.ignore, address)

    def is_external(self, kind: str, name: str) -> bool:
        return name in self.external.get(kind, ())


NO_POLICY = Policy()

__all__ = ["NO_POLICY", "Policy", "matches", "normalise_pattern"]
