"""Jobs: workflows (`batch`), services, apps and Excel add-ins (contract §2.6, §2.7, §3, §4).

Every `job save` appends an immutable version of `(name, environment)`; `job modify` is the only
in-place edit. The sandbox builds and executes nothing: a saved version's build is simulated
(`building` for the `build_seconds` setting, 0 by default, then `ready`, or `failed` for a
documented test hook), services and apps stay `running` until stopped, one-off workflow runs
complete immediately, and a scheduled workflow is merely `scheduled`. Everything the contract
leaves open is decided in DECISIONS.md ("Jobs"), and each decision is pinned by a test.

The feature is split by concern, each module importing only those before it:
`values` (scalar parsers) -> `definition` (the job JSON and its edits) -> `models` (request
bodies) -> `build` (build state and log, derived when read) -> `versions` (tables, version rows,
resolving names) -> `render` (wire shapes) -> `runs` (start/stop state) -> `routes` and
`lifecycle` (the HTTP handlers). This package exposes what `app` wires in: the `/job` router and
the tables' `DDL`.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import lifecycle, routes
from .versions import DDL

__all__ = ["DDL", "router"]

router = APIRouter(prefix="/job", tags=["jobs"])
router.include_router(routes.router)  # registered first, so the OpenAPI order is unchanged
router.include_router(lifecycle.router)
