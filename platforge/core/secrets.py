"""References to secret values: from an environment variable or a file, never inline.

A stack in Git says where a secret comes from (`{ from_env = "DB_PASSWORD" }` or
`{ from_file = "/run/secrets/db" }`); the value is read at plan/apply time and kept only in
memory.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, StrictStr, model_validator


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    __expected__: ClassVar[str] = 'a secret reference, { from_env = "VARIABLE" } or { from_file = "path" }'

    from_env: StrictStr | None = None
    from_file: StrictStr | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("a secret reference needs exactly one of from_env or from_file")
        if self.from_env is not None and not self.from_env.strip():
            raise ValueError("from_env must name an environment variable")
        return self

    def describe(self) -> dict[str, str]:
        return {"from_env": self.from_env} if self.from_env else {"from_file": str(self.from_file)}

    def located(self, base_dir: str) -> SecretRef:
        """The same reference with a relative `from_file` made absolute against the stack."""
        if self.from_file is None or Path(self.from_file).is_absolute():
            return self
        return SecretRef(from_file=str(Path(base_dir) / self.from_file))


#: A secret is a password or a key, not a data set: a bigger file is a mistake in the path.
MAX_SECRET_FILE_BYTES = 1 << 20


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
        # Opening a FIFO or a device would block or never end: only regular files hold secrets.
        if not stat.S_ISREG(path.stat().st_mode):
            raise SecretUnavailable(f"{where}: secret file {path} is not a regular file")
        data = path.read_bytes()
    except OSError as exc:
        raise SecretUnavailable(f"{where}: cannot read secret file {path}: {exc.strerror}") from exc
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SecretUnavailable(f"{where}: secret file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise SecretUnavailable(f"{where}: secret file {path} is not UTF-8 text") from None


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@+-]*")


class ShownOnceTarget(BaseModel):
    """Where a value the platform shows only once (a new API key's secret) is handed over by the
    command line: a file of its own, or one variable of a dotenv file. It is never printed,
    logged or stored by platforge, so without a target the value is lost (the object exists and
    works; a new secret means a new object)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    __expected__: ClassVar[str] = '{ file = "path" } or { env_file = "path", variable = "NAME" }'

    file: StrictStr | None = None
    env_file: StrictStr | None = None
    variable: StrictStr | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ShownOnceTarget:
        if (self.file is None) == (self.env_file is None):
            raise ValueError("give exactly one of file or env_file")
        if self.env_file is not None and not (self.variable and _VARIABLE.fullmatch(self.variable)):
            raise ValueError("env_file needs variable = a name of letters, digits and '_', not starting with a digit")
        if self.file is not None and self.variable is not None:
            raise ValueError("variable goes with env_file, not with file")
        return self




def deliver_shown_once(value: str, target: ShownOnceTarget, base_dir: str) -> Path:
    """Write `value` where `target` says, readable by its owner only (0600), never following a
    symbolic link at the last component. A dotenv file keeps its other lines; the variable's line
    is replaced. Returns the path written."""
    relative = Path(target.file or target.env_file or "")
    path = relative if relative.is_absolute() else Path(base_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if target.file is not None:
        text = value + "\n"
    else:
        kept: list[str] = []
        if path.is_file() and not path.is_symlink():
            prefix = f"{target.variable}="
            kept = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith(prefix)]
        quoted = value if _PLAIN.fullmatch(value) else "'" + value.replace("'", "'\"'\"'") + "'"
        text = "\n".join([*kept, f"{target.variable}={quoted}"]) + "\n"
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)  # replaces a symlink itself, never writes through it
    return path

