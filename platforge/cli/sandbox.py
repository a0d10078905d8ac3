"""`platforge sandbox <platform>`: run a local platform API for demos, tests and CI.

One command per registered platform sandbox; the commands, their common flags and the serving
are the provider's (`platforge.provider.sandbox`), so a new platform's sandbox needs no change
here.
"""

from __future__ import annotations

from ..provider.sandbox import command_line

app = command_line()
