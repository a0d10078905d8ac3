"""Settings of one Dataloop sandbox instance: the kit's common settings plus Dataloop's own."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..._kit.sandbox.settings import SandboxSettings

__all__ = ["KINDS_WITH_NAMES", "SandboxConfig"]

#: Kinds whose names `--unique-names` can make unique within their scope (contract §5.8).
KINDS_WITH_NAMES = ("projects", "datasets", "packages", "services", "triggers", "pipelines", "integrations", "groups")
_EMAIL = re.compile(r"[^@\s/\\?#%]+@[^@\s/\\?#%]+")


@dataclass(frozen=True)
class SandboxConfig(SandboxSettings):
    #: The organisation seeded at first start, owned by the administrator (`--org`).
    org: str = "sandbox-org"
    #: The seeded administrator's e-mail, which is the user's id on Dataloop's wire (`--admin-email`).
    #: `admin_user` stays its display name.
    admin_email: str = "admin@sandbox.local"
    #: Comma-separated kinds (or `all`) whose names must be unique in their scope: a duplicate
    #: create or rename answers 409 (contract §5.8). Empty: duplicates are accepted, as on Dataloop.
    unique_names: str = ""

    def validate(self) -> None:
        super().validate()
        if not _EMAIL.fullmatch(self.admin_email) or len(self.admin_email) > 200:
            raise ValueError(f"--admin-email must be an e-mail address, got {self.admin_email!r}")
        if not self.org.strip() or len(self.org) > 200:
            raise ValueError("--org must be a non-empty name of at most 200 characters")
        for kind in self.unique_kinds:
            if kind not in KINDS_WITH_NAMES:
                raise ValueError(f"--unique-names: unknown kind {kind!r} (expected all or some of {', '.join(KINDS_WITH_NAMES)})")
        if self.admin_password is not None and len(self.admin_password) < 8:
            raise ValueError("--admin-password must be at least 8 characters")

    @property
    def unique_kinds(self) -> frozenset[str]:
        names = {part.strip().lower() for part in self.unique_names.split(",") if part.strip()}
        return frozenset(KINDS_WITH_NAMES) if "all" in names else frozenset(names)
