"""Assembling a platform's sandbox: its routes and rules in, a served FastAPI app out.

What a platform brings is a `SandboxSpec` (its routers, its error envelope, its auth scheme,
the paths never faulted) and an open `Store`; `assemble` adds what every sandbox has, in the
same order for all: the error handlers in the platform's envelope, the public routes, the
protected routes behind the auth scheme, `GET /healthz`, the fault middleware and, outermost,
the access log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from .accesslog import AccessLog, AccessLogMiddleware
from .errors import Envelope, install_error_handlers
from .faults import FaultMiddleware
from .settings import SandboxSettings
from .store import Store

__all__ = ["DEFAULT_EXEMPT_PATHS", "SandboxSpec", "assemble"]

#: Never faulted: the API description and the health probe, which say nothing about the API's
#: behaviour. Platforms add their login.
DEFAULT_EXEMPT_PATHS = ("/openapi.json", "/docs", "/healthz")


@dataclass(frozen=True)
class SandboxSpec:
    title: str
    version: str
    description: str
    envelope: Envelope
    #: A FastAPI dependency returning the caller (raising `Unauthorized` otherwise), run before
    #: every route of `routers`: a `sessions.SessionAuth`, a `sessions.ApiKeyAuth` or the
    #: platform's own. Routes that need the caller name the same dependency (FastAPI runs it once).
    auth: Callable[..., Any]
    routers: Sequence[APIRouter] = ()
    #: Mounted before `routers` and without auth (login, token exchange).
    public_routers: Sequence[APIRouter] = ()
    #: Where `routers` are mounted (`/api`); several prefixes mount them under each, in order,
    #: for platforms whose clients disagree on the base path (DSS: `/public/api`, `/dip/publicapi`).
    prefix: str | Sequence[str] = ""
    exempt_paths: Sequence[str] = DEFAULT_EXEMPT_PATHS
    #: The router's own 404 and 405 reworded in the platform's terms.
    http_messages: Mapping[int, str] = field(default_factory=dict)
    #: The body of `GET /healthz` (in the platform's success shape).
    health: Any = field(default_factory=lambda: {"status": "ok"})


def assemble(spec: SandboxSpec, settings: SandboxSettings, store: Store, **state: Any) -> FastAPI:
    """The app for `spec` over `store`. `app.state` gets `config`, `store`, `envelope`,
    `server_limits` (read by `serve`), `access_log`, and every keyword in `state` (the platform's
    sessions, say)."""
    app = FastAPI(title=spec.title, version=spec.version, description=spec.description)
    app.state.config = settings
    app.state.store = store
    app.state.envelope = spec.envelope
    for name, value in state.items():
        setattr(app.state, name, value)
    app.state.server_limits = settings.server_limits
    install_error_handlers(app, spec.envelope, spec.http_messages)

    for router in spec.public_routers:
        app.include_router(router)
    protected = [Depends(spec.auth)]
    for prefix in [spec.prefix] if isinstance(spec.prefix, str) else spec.prefix:
        for router in spec.routers:
            app.include_router(router, prefix=prefix, dependencies=protected)

    health = spec.health

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict:
        return health

    access_log = AccessLog(settings.access_log) if settings.access_log else None
    app.state.access_log = access_log
    app.add_middleware(FaultMiddleware, faults=settings.faults, envelope=spec.envelope, exempt_paths=spec.exempt_paths)
    if access_log is not None:
        app.add_middleware(AccessLogMiddleware, access_log=access_log)
    return app
