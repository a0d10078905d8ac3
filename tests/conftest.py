"""Shared fixtures: sandboxes on 127.0.0.1 free ports, each over its own SQLite file."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from platforge.provider._kit.sandbox.faults import FaultConfig
from platforge.provider._kit.sandbox.serve import EmbeddedServer


@dataclass
class RunningSandbox:
    url: str
    admin_user: str
    admin_password: str
    db_path: str
    access_log: str | None
    server: EmbeddedServer = field(repr=False)

    def stop(self) -> None:
        self.server.stop()


SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[SandboxFactory]:
    """Start Datatailr sandboxes; keyword arguments go to FaultConfig or SandboxConfig."""
    running: list[RunningSandbox] = []

    def start(db_path: str | None = None, access_log: bool | str = False, **kwargs) -> RunningSandbox:
        from platforge.provider.datatailr.sandbox.app import create_app
        from platforge.provider.datatailr.sandbox.config import SandboxConfig

        fault_keys = set(FaultConfig.__dataclass_fields__)
        faults = FaultConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in fault_keys})
        password = kwargs.pop("admin_password", None) or secrets.token_urlsafe(12)
        db = db_path or str(tmp_path / f"sandbox-{len(running)}.db")
        log = (str(tmp_path / f"access-{len(running)}.jsonl") if access_log is True else access_log) or None
        config = SandboxConfig(db_path=db, admin_password=password, access_log=log, faults=faults, **kwargs)
        server = EmbeddedServer(create_app(config)).start()
        box = RunningSandbox(server.url, config.admin_user, password, db, log, server)
        running.append(box)
        return box

    yield start
    for box in running:
        box.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    return sandbox_factory()
