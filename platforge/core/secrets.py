"""References to secret values: from an environment variable or a file, never inline.

A stack in Git says where a secret comes from (`{ from_env = "DB_PASSWORD" }` or
`{ from_file = "/run/secrets/db" }`); the value is read at plan/apply time and kept only in
memory.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_env: str | None = None
    from_file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("a secret reference needs exactly one of from_env or from_file")
        if self.from_env is not None and not self.from_env.strip():
            raise ValueError("from_env must name an environment variable")
        return self

    def describe(self) -> dict[str, str]:
        return {"from_env": self.from_env} if self.from_env else {"from_file": str(self.from_file)}


class SecretUnavailable(Exception):
    pass


def resolve_secret(ref: SecretRef, base_dir: str, where: str) -> str:
    if ref.from_env is not None:
        value = os.environ.get(ref.from_env)
        if value is None:
            raise SecretUnavailable(f"{where}: environment variable {ref.from_env} is not set")
        return value
    path = Path(ref.from_file or "")
    if not path.is_absolute():
        path = Path(base_dir) / path
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as exc:
        raise SecretUnavailable(f"{where}: cannot read secret file {path}: {exc.strerror}") from exc
