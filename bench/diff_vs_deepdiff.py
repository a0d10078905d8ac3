"""The core's field diff against deepdiff on the same canonical data: 10,000 declared objects
(users with groups, KV entries with ACLs) compared with their live form, none changed and then
one field in ten changed. CPU seconds of `time.process_time()`, best of 3.

    python bench/diff_vs_deepdiff.py            # 10,000 objects
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from deepdiff import DeepDiff
from platforge.provider.datatailr.kinds import KvKind, UserKind

from platforge.core.diff import diff_resource
from platforge.core.model import LiveObject, Resource


def pairs(n: int, changed_every: int = 0) -> list[tuple[Any, Resource, LiveObject]]:
    user, kv = UserKind(), KvKind()
    out = []
    for i in range(n):
        if i % 2:
            spec = {"name": f"u{i}", "email": f"u{i}@example.com", "first_name": f"User {i}",
                    "groups": ["dtusers", f"g{i % 50}"]}
            live = dict(spec, last_name="", enabled=True, system=False)
            kind: Any = user
        else:
            spec = {"environment": "dev", "key": f"k{i}", "value": f"v{i}",
                    "acl": {"read": {"groups": [f"g{i % 50}"], "users": []}}}
            live = json.loads(json.dumps(spec))
            kind = kv
        if changed_every and i % changed_every == 0:
            live = dict(live)
            live["email" if i % 2 else "value"] = "changed"
        resource = Resource(kind=kind.name, name=str(i), spec=spec, identity=(i,))
        out.append((kind, resource, LiveObject(kind=kind.name, identity=(i,), fields=live)))
    return out


def best(run: Any) -> float:
    times = []
    for _ in range(3):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()
    report: dict[str, Any] = {"n": args.n}
    for label, every in (("no change", 0), ("one in ten changed", 10)):
        data = pairs(args.n, every)
        ours = best(lambda data=data: [diff_resource(k, r, live, {}, {}) for k, r, live in data])
        theirs = best(lambda data=data: [DeepDiff(live.fields, {**live.fields, **r.spec}) for k, r, live in data])
        found = sum(1 for k, r, live in data if diff_resource(k, r, live, {}, {}))
        report[label] = {"platforge_cpu_s": round(ours, 3), "deepdiff_cpu_s": round(theirs, 3),
                         "ratio": round(theirs / ours, 1), "objects_with_changes": found}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
