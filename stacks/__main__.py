"""A Pulumi program over a platforge TOML stack.

It validates the stack exactly as `platforge plan` does (same loader, same schemas, same errors
with file and line) and declares one resource per table, named by its address (`user.alice`).
Secret references (`{ from_env = ... }`) are resolved here and passed on as Pulumi secrets.
Objects that already exist on the platform are taken over only where the stack's `[adopt]`
table consents, as for `platforge apply` (those resources get `adopt=True`); for any other
existing object, its create fails without writing to it.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from platforge.pulumi import declare_stack

config = pulumi.Config("platforge")
stack_dir = Path(__file__).parent / (config.get("stackDir") or "../examples/quickstart")
resources = declare_stack(stack_dir)
pulumi.export("addresses", sorted(resources))
pulumi.export("platform_ids", {address: r.platform_id for address, r in resources.items()})
