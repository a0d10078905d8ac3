"""FaaS names (`GET /piper-misc/naming/{packages|services|triggers}/{name}`, contract §2.5).

Services run as Kubernetes workloads named after them, so the sandbox applies a DNS-label rule
to package and service names: 1-35 characters, lower-case letters, digits and `-`, starting with
a letter and not ending with `-`. The naming route answers 200 for a valid name and 400 (dtlpy
raises on it) for anything else. Trigger names are free text (dtlpy defaults them to the service
name), so the route checks only their length for `triggers`.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends

from .auth import Principal, current
from .errors import BadRequest, NotFound
from .wire import reply

__all__ = ["check_name", "router"]

router = APIRouter(tags=["faas"])
_DNS = re.compile(r"[a-z]([a-z0-9-]{0,33}[a-z0-9])?")


def check_name(name: str, what: str) -> str:
    if not _DNS.fullmatch(name):
        raise BadRequest(f"Invalid {what} name {name[:60]!r}: 1-35 lower-case letters, digits and '-', starting with a "
                         "letter and not ending with '-'")
    return name


@router.get("/piper-misc/naming/{kind}/{name}")
def naming(kind: str, name: str, _: Principal = Depends(current)) -> Any:
    if kind not in ("packages", "services", "triggers"):
        raise NotFound("Route not found")
    if kind == "triggers":
        if not name.strip() or len(name) > 256:
            raise BadRequest("Invalid trigger name: 1-256 characters")
    else:
        check_name(name, kind[:-1])
    return reply({"valid": True, "name": name})
