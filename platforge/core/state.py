"""Stack state: what the stack owns, what it last applied, and the apply journal.

Format `platforge.state/v1` (documented in docs/state-format.md) is JSON. It never holds a
secret value: sensitive fields keep only their reference (`{"from_env": ...}`) and a keyed
fingerprint. Two backends share one protocol: a local file (the demo default) and an object
store on the platform itself, so that every CI run and teammate sees the same state and lock.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import LockError
from .fingerprint import key_from_env, new_key

STATE_FORMAT = "platforge.state/v1"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResourceState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    identity: list[Any]
    platform_id: Any = None
    applied: dict[str, Any] = Field(default_factory=dict)
    fingerprints: dict[str, str] = Field(default_factory=dict)
    applied_at: str = Field(default_factory=now_iso)


class JournalEntry(BaseModel):
    """One intended write. `pending` entries left by a killed apply are adopted next run."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    address: str
    kind: str
    identity: list[Any]
    op: str
    status: Literal["pending", "done", "failed"] = "pending"
    started_at: str = Field(default_factory=now_iso)
    finished_at: str | None = None
    error: str | None = None


class State(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["platforge.state/v1"] = STATE_FORMAT
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    stack: str = ""
    platform: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, ResourceState] = Field(default_factory=dict)
    journal: list[JournalEntry] = Field(default_factory=list)

    def owned(self, kind: str, identity: tuple) -> str | None:
        for address, entry in self.resources.items():
            if entry.kind == kind and tuple(entry.identity) == tuple(identity):
                return address
        return None

    def pending(self) -> list[JournalEntry]:
        return [e for e in self.journal if e.status == "pending"]

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> State:
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"{where}: state is not valid JSON ({exc})") from exc
        if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(f"{where}: unsupported state format {found!r}, expected {STATE_FORMAT!r}")
        return cls.model_validate(raw)


class LockInfo(BaseModel):
    owner: str
    host: str
    pid: int
    created: float
    operation: str

    def describe(self) -> str:
        age = time.time() - self.created
        return f"held by {self.owner} (pid {self.pid} on {self.host}) for {self.operation}, {age:.0f}s ago"


def _lock_info(operation: str) -> LockInfo:
    user = os.environ.get("USER") or os.environ.get("GITHUB_ACTOR") or "unknown"
    return LockInfo(owner=f"{user}:{uuid.uuid4().hex[:8]}", host=socket.gethostname(), pid=os.getpid(),
                    created=time.time(), operation=operation)


class StateBackend(ABC):
    """Where a stack's state, lock and fingerprint key live."""

    lock_ttl_seconds = 3600.0

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def load(self) -> State | None: ...

    @abstractmethod
    def save(self, state: State) -> None: ...

    @abstractmethod
    def lock(self, operation: str) -> Any:
        """A context manager holding the stack's exclusive lock."""

    @abstractmethod
    def fingerprint_key(self) -> bytes: ...


class LocalStateBackend(StateBackend):
    """`state.json` in a directory, with `state.lock` and a 0600 `fingerprint.key` beside it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")
        self.key_path = self.path.parent / "fingerprint.key"

    def describe(self) -> str:
        return f"local file {self.path}"

    def load(self) -> State | None:
        if not self.path.exists():
            return None
        return State.from_bytes(self.path.read_bytes(), str(self.path))

    def save(self, state: State) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_bytes(state.to_bytes())
        os.replace(tmp, self.path)

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = _lock_info(operation)
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if self._break_stale_lock():
                    continue
                raise LockError(self._held_message()) from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(info.model_dump_json())
            break
        try:
            yield info
        finally:
            try:
                current = LockInfo.model_validate_json(self.lock_path.read_text(encoding="utf-8"))
                if current.owner == info.owner:
                    self.lock_path.unlink()
            except (OSError, ValueError):
                pass

    def _current_lock(self) -> LockInfo | None:
        try:
            return LockInfo.model_validate_json(self.lock_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _held_message(self) -> str:
        info = self._current_lock()
        holder = info.describe() if info else "by an unknown process"
        return f"state {self.path} is locked {holder}; if that run is dead, delete {self.lock_path}"

    def _break_stale_lock(self) -> bool:
        """A lock whose process is gone from this host, or older than the TTL, is stale."""
        info = self._current_lock()
        if info is None:
            return False
        stale = time.time() - info.created > self.lock_ttl_seconds
        if info.host == socket.gethostname():
            try:
                os.kill(info.pid, 0)
            except ProcessLookupError:
                stale = True
            except PermissionError:
                pass
        if stale:
            try:
                self.lock_path.unlink()
            except FileNotFoundError:
                pass
        return stale

    def fingerprint_key(self) -> bytes:
        env = key_from_env()
        if env:
            return env
        if self.key_path.exists():
            return bytes.fromhex(self.key_path.read_text(encoding="utf-8").strip())
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        key = new_key()
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key.hex() + "\n")
        return key


class MemoryStateBackend(StateBackend):
    """State held in memory for one process: for front doors that keep their own state (Pulumi
    records outputs itself), so the core's apply can run unchanged."""

    def __init__(self, key: bytes | None = None) -> None:
        self.state: State | None = None
        self._key = key or new_key()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "memory"

    def load(self) -> State | None:
        return self.state

    def save(self, state: State) -> None:
        self.state = state

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        with self._lock:
            yield _lock_info(operation)

    def fingerprint_key(self) -> bytes:
        return self._key


class ObjectStore(ABC):
    """What a platform offers to hold state: named byte objects and one secret value."""

    @abstractmethod
    def get(self, name: str) -> bytes | None: ...

    @abstractmethod
    def put(self, name: str, data: bytes) -> None: ...

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def get_secret(self, name: str) -> str | None: ...

    @abstractmethod
    def put_secret(self, name: str, value: str) -> None: ...

    def describe(self) -> str:
        return type(self).__name__


class ObjectStoreStateBackend(StateBackend):
    """State on the platform (e.g. Datatailr blob storage) for GitOps runs on fresh machines.

    Object stores without compare-and-swap get a write-then-verify lock: write a lock object
    carrying a unique owner, wait `settle_seconds`, read it back, and proceed only if it is
    still ours. Two contenders both read back the last writer, so at most one proceeds.
    """

    settle_seconds = 0.3

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.strip("/")
        self.state_name = f"{self.prefix}/state.json"
        self.lock_name = f"{self.prefix}/state.lock"
        self.key_name = f"{self.prefix}/fingerprint-key"

    def describe(self) -> str:
        return f"{self.store.describe()} {self.state_name}"

    def load(self) -> State | None:
        data = self.store.get(self.state_name)
        return None if data is None else State.from_bytes(data, self.describe())

    def save(self, state: State) -> None:
        self.store.put(self.state_name, state.to_bytes())

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        info = _lock_info(operation)
        current = self._read_lock()
        if current is not None and time.time() - current.created <= self.lock_ttl_seconds:
            raise LockError(f"state {self.describe()} is locked {current.describe()}; "
                            f"if that run is dead, delete {self.lock_name}")
        self.store.put(self.lock_name, info.model_dump_json().encode())
        time.sleep(self.settle_seconds)
        winner = self._read_lock()
        if winner is None or winner.owner != info.owner:
            holder = winner.describe() if winner else "by another run"
            raise LockError(f"state {self.describe()} is locked {holder}")
        try:
            yield info
        finally:
            latest = self._read_lock()
            if latest is not None and latest.owner == info.owner:
                self.store.delete(self.lock_name)

    def _read_lock(self) -> LockInfo | None:
        data = self.store.get(self.lock_name)
        if data is None:
            return None
        try:
            return LockInfo.model_validate_json(data)
        except ValueError:
            return None

    def fingerprint_key(self) -> bytes:
        env = key_from_env()
        if env:
            return env
        stored = self.store.get_secret(self.key_name)
        if stored:
            return bytes.fromhex(stored)
        key = new_key()
        self.store.put_secret(self.key_name, key.hex())
        return key
