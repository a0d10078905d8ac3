"""Stack state: what the stack owns, what it last applied, and the apply journal.

Format `platforge.state/v1` (documented in docs/state-format.md) is JSON. It never holds a
secret value: sensitive fields keep only their reference (`{"from_env": ...}`) and a keyed
fingerprint. Two backends share one protocol: a local file (the demo default) and an object
store on the platform itself, so that every CI run and teammate sees the same state and lock.

What the backends protect, and how (ACLs, signatures, the lock protocol and why it is safe
without compare-and-swap), is in docs/state-security.md.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import random
import re
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .collector import collector_paused
from .errors import LockError, StateError
from .fingerprint import key_from_env, new_key

try:
    import fcntl
except ImportError:  # pragma: no cover  (not POSIX: the local lock says so when used)
    fcntl = None  # type: ignore[assignment]

STATE_FORMAT: Literal["platforge.state/v1"] = "platforge.state/v1"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ResourceState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    identity: list[Any]
    platform_id: Any = None
    #: The version a save or create produced (versioned kinds), for later actions to use.
    revision: Any = None
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
    #: `unknown`: the write may or may not have happened (an ambiguous failure and no read that
    #: could tell); the next plan decides from live state, and a create counts as owned meanwhile.
    status: Literal["pending", "done", "failed", "unknown"] = "pending"
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

    def pending(self) -> list[JournalEntry]:
        return [e for e in self.journal if e.status == "pending"]

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> State:
        """The state in `data`: parsed and validated in one pass by pydantic, with the cyclic
        collector paused (a 10,000-object state is a large graph built at once, see
        `collector`); anything it refuses is read again below to say what is wrong."""
        with collector_paused():
            try:
                return cls.model_validate_json(data)
            except ValueError:  # pydantic's ValidationError included
                pass
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"{where}: state is not valid JSON ({exc})") from exc
        if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(f"{where}: unsupported state format {found!r}, expected {STATE_FORMAT!r}")
        return cls.model_validate(raw)


# ── locks: who holds them, and how a blocked run says so ─────────────────────────────────────

#: Set to 1 for one run to adopt a state, fingerprint key or other objects that platforge cannot
#: vouch for (written before platforge protected and signed its state): the operator vouches.
ADOPT_ENV = "PLATFORGE_ADOPT_STATE"
#: Lease of a platform lock (seconds): a killed run blocks the stack at most this long (plus the
#: clock skew allowance).
LEASE_ENV = "PLATFORGE_LOCK_LEASE_SECONDS"
#: How far apart the clocks of two machines sharing a stack may be (seconds).
SKEW_ENV = "PLATFORGE_LOCK_CLOCK_SKEW_SECONDS"

LOCK_FORMAT = "platforge.lock/v1"
LOCK_EVENT_FORMAT = "platforge.lock-event/v1"
SIGNATURE_FIELD = "signature"

KEY_ADVICE = (
    "Restore it from a backup, or delete it and run again to create a new key (or set "
    "$PLATFORGE_FINGERPRINT_KEY). Fingerprints recorded with the old key then no longer match: the next "
    "drift may report recorded secrets as changed until an apply records them again"
)


class LockInfo(BaseModel):
    """Who holds (or held) a stack's lock: written into the local lock file and into every lock
    intent on the platform, so that a blocked run can name the holder."""

    model_config = ConfigDict(extra="ignore")

    owner: str  # unique per acquisition: `<login>:<random>`
    host: str
    pid: int
    created: float  # seconds since the epoch
    operation: str
    user: str = ""  # the platform identity (platform backend) or the login name
    expires: float | None = None  # end of the lease (platform backend), seconds since the epoch

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        who = self.user or self.owner.rpartition(":")[0] or self.owner
        started = datetime.fromtimestamp(self.created, UTC).isoformat(timespec="seconds")
        text = (f"{who} (pid {self.pid} on {self.host}, running {self.operation} since {started}, "
                f"{max(0.0, now - self.created):.0f} s ago")
        if self.expires is not None:
            left = self.expires - now
            text += f"; lease ends in {left:.0f} s" if left >= 0 else f"; lease ended {-left:.0f} s ago"
        return text + ")"


@dataclass
class LockStatus:
    """What `platforge lock status` shows."""

    where: str
    holders: list[LockInfo] = field(default_factory=list)  # live holders (or contenders)
    stale: list[LockInfo] = field(default_factory=list)  # expired leases nobody cleaned up yet
    events: list[dict[str, Any]] = field(default_factory=list)  # recent forced releases, newest last
    notes: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.holders)


def _login() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or os.environ.get("GITHUB_ACTOR") or "unknown"


def _lock_info(operation: str, user: str = "") -> LockInfo:
    login = _login()
    return LockInfo(owner=f"{login}:{uuid.uuid4().hex[:12]}", host=socket.gethostname(), pid=os.getpid(),
                    created=time.time(), operation=operation, user=user or login)


def _holders_text(holders: list[str]) -> str:
    return holders[0] if len(holders) == 1 else ", ".join(holders[:-1]) + " and " + holders[-1]


# ── keys and signatures ──────────────────────────────────────────────────────────────────────


def parse_key(data: bytes, where: str) -> bytes:
    """A fingerprint key as stored (hex text), or a clear StateError naming what is wrong."""
    text = data.decode("ascii", errors="replace").strip()
    if not text:
        raise StateError(f"the fingerprint key {where} is empty: a run was probably killed while creating it. "
                         + KEY_ADVICE)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise StateError(f"the fingerprint key {where} is damaged: it is not hexadecimal text. " + KEY_ADVICE) from None
    if len(key) < 16:
        raise StateError(f"the fingerprint key {where} is too short ({len(key)} bytes, at least 16 expected): "
                         "it was truncated. " + KEY_ADVICE)
    return key


def keyed_mac(key: bytes, purpose: str, context: str, data: bytes) -> str:
    """HMAC-SHA256 under a key derived from the fingerprint key for one `purpose` only, so a
    signature can never be mistaken for a fingerprint (domain separation), bound to `context`
    (the stack's prefix: a state cannot be replayed into another stack)."""
    derived = hmac.new(key, f"platforge/{purpose}/v1".encode(), hashlib.sha256).digest()
    return "hmac-sha256:" + hmac.new(derived, context.encode() + b"\n" + data, hashlib.sha256).hexdigest()


def _canonical(raw: dict[str, Any]) -> bytes:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_state(state: State, key: bytes, context: str) -> bytes:
    """The state document with a `signature` field: a keyed MAC over its canonical JSON."""
    raw = state.model_dump(mode="json")
    raw[SIGNATURE_FIELD] = keyed_mac(key, "state-signature", context, _canonical(raw))
    return (json.dumps(raw, indent=2, sort_keys=True) + "\n").encode()


def _problem(exc: ValueError, where: str) -> str:
    """The first thing wrong with a state document, in one line."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ())) or "document"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{location}: {first.get('msg', 'invalid')}{more}"
    text = str(exc).replace(f"{where}: ", "", 1).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise StateError(f"${name} must be a number of seconds, got {value!r}") from None
    if not 0 <= seconds < 86400:
        raise StateError(f"${name} must be between 0 and 86400 seconds, got {value!r}")
    return seconds


# ── the backend interface ────────────────────────────────────────────────────────────────────


class StateBackend(ABC):
    """Where a stack's state, lock and fingerprint key live."""

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

    def lock_status(self) -> LockStatus:
        """Who holds the lock now (for `platforge lock status`)."""
        return LockStatus(where=self.describe(), notes=[f"{self.describe()} keeps no lock outside this process"])

    def release_lock(self, force: bool = False) -> list[LockInfo]:
        """Remove expired lock claims; with `force`, live ones too, recording who did it.
        Returns the holders released."""
        raise StateError(f"{self.describe()} keeps no lock outside this process: nothing to release")


@contextmanager
def lock_waiting(backend: StateBackend, operation: str, timeout: float, clock: Any = time.monotonic,
                 sleep: Any = time.sleep, on_wait: Any = None) -> Iterator[Any]:
    """Hold the stack's lock, waiting up to `timeout` seconds for another run to release it
    (Terraform's `-lock-timeout`): two CI jobs of one stack queue instead of one failing. Only
    taking the lock is retried; a lock lost while held still stops the run. With no timeout, a
    held lock fails at once, naming its holder. `on_wait(message, seconds_left)` hears of each
    wait (a CI log should say why the job is idle)."""
    deadline = clock() + max(0.0, timeout)
    delay = 0.5
    while True:
        held = ExitStack()
        try:
            info = held.enter_context(backend.lock(operation))
        except LockError as exc:
            remaining = deadline - clock()
            if remaining <= 0:
                raise LockError(f"{exc} (waited {timeout:g} s)" if timeout > 0 else str(exc)) from None
            if on_wait is not None:
                on_wait(str(exc), remaining)
            sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)
            continue
        with held:
            yield info
        return


# ── local files ──────────────────────────────────────────────────────────────────────────────

_TEMPORARY = re.compile(r"\.tmp-(\d+)(?:-[0-9a-f]+)?$")
_TEMPORARY_MAX_AGE = 3600.0


def _temporary(path: Path) -> Path:
    """A fresh temporary name beside `path`: `<name>.tmp-<pid>-<random>` (the pid lets the next
    run tell a dead run's leftover from a live run's file in progress)."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (it must not exist), write `data` and fsync it before closing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(path: Path) -> None:
    """Make a rename or link in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but is not ours (EPERM), or we cannot tell: keep its files
    return True


class LocalStateBackend(StateBackend):
    """`state.json` in a directory, with `state.lock` and a 0600 `fingerprint.key` beside it.

    Durability: every write goes to a fresh temporary file that is fsync'ed, then renamed (state)
    or hard-linked (key, so that creation fails if the key appeared meanwhile) into place, and the
    directory is fsync'ed. The previous state is kept as `state.json.bak`. Temporary files left by
    a killed run are removed by the next run (those of live processes are left alone).

    Locking: `fcntl.flock` on `state.lock`. The kernel releases it when its process exits, however
    it exits, so there is no stale lock to break and no read-then-delete race. The lock file is
    never deleted (deleting a locked file would let a second process lock a new file of the same
    name); it holds the holder's description for the "locked by" message.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")
        self.key_path = self.path.parent / "fingerprint.key"
        self.backup_path = self.path.with_name(self.path.name + ".bak")

    def describe(self) -> str:
        return f"local file {self.path}"

    # ---- checks and housekeeping -------------------------------------------------------

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise StateError(f"[state] path {self.path} is a directory; it must name the state file, "
                             f"e.g. {self.path / 'state.json'}")
        for parent in self.path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise StateError(f"[state] path {self.path}: {parent} is a file, not a directory")
                break

    def _os_error(self, exc: OSError, action: str, path: Path) -> StateError:
        return StateError(f"cannot {action} {path}: {exc.strerror or exc}")

    def _ensure_directory(self) -> None:
        self._check_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._os_error(exc, "create the state directory", self.path.parent) from None

    def clean_temporaries(self) -> list[Path]:
        """Remove temporary files a killed run left beside the state (its process is gone, or
        the file is over an hour old). Returns what was removed."""
        removed: list[Path] = []
        try:
            entries = list(self.path.parent.iterdir())
        except OSError:
            return removed
        stems = (self.path.name, self.path.stem, self.key_path.name, self.backup_path.name)
        now = time.time()
        for entry in entries:
            match = _TEMPORARY.search(entry.name)
            if match is None or not any(entry.name.startswith(stem + ".tmp-") for stem in stems):
                continue
            try:
                age = now - entry.stat().st_mtime
            except OSError:
                continue
            if _pid_alive(int(match.group(1))) and age < _TEMPORARY_MAX_AGE:
                continue
            try:
                entry.unlink()
                removed.append(entry)
            except FileNotFoundError:
                pass
            except OSError:
                continue
        return removed

    # ---- state -------------------------------------------------------------------------

    def load(self) -> State | None:
        self._check_path()
        self.clean_temporaries()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._os_error(exc, "read the state file", self.path) from None
        if not data.strip():
            raise StateError(self._damaged("it is empty"))
        try:
            return State.from_bytes(data, str(self.path))
        except ValueError as exc:  # invalid JSON, UTF-8 or schema (pydantic errors are ValueErrors)
            raise StateError(self._damaged(_problem(exc, str(self.path)))) from None

    def _damaged(self, detail: str) -> str:
        restore = (f"The state before the last save is in {self.backup_path}: check it and copy it over "
                   f"{self.path} to restore it. " if self.backup_path.is_file() else "")
        return (f"the state file {self.path} is damaged ({detail}); nothing was changed. {restore}"
                f"Otherwise move {self.path} away and run again: this stack then owns nothing, so existing "
                "objects show as unmanaged and must be adopted again")

    def save(self, state: State) -> None:
        self._ensure_directory()
        tmp = _temporary(self.path)
        try:
            _write_new_file(tmp, state.to_bytes(), 0o644)
            if self.path.is_file():
                self._keep_backup()
            os.replace(tmp, self.path)
            _fsync_directory(self.path.parent)
        except OSError as exc:
            raise self._os_error(exc, "write the state file", self.path) from None
        finally:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                pass

    def _keep_backup(self) -> None:
        """`state.json.bak` := the current state, atomically (a hard link, or a copy where links
        are not supported), so that the state file itself is never missing."""
        tmp = _temporary(self.backup_path)
        try:
            try:
                os.link(self.path, tmp)
            except OSError:
                _write_new_file(tmp, self.path.read_bytes(), 0o644)
            os.replace(tmp, self.backup_path)
        finally:
            try:
                tmp.unlink()
            except OSError:
                pass

    # ---- lock --------------------------------------------------------------------------

    def _open_lock(self) -> int:
        if fcntl is None:
            raise StateError("the local state backend needs fcntl.flock (POSIX); use the platform backend here")
        self._ensure_directory()
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise self._os_error(exc, "open the lock file", self.lock_path) from None

    @staticmethod
    def _try_flock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _holder(self, fd: int) -> LockInfo | None:
        """The description the holder wrote (it may be a moment late: try twice)."""
        for attempt in range(2):
            try:
                data = os.pread(fd, 65536, 0)
                if data.strip():
                    return LockInfo.model_validate_json(data)
            except (OSError, ValueError):
                pass
            if attempt == 0:
                time.sleep(0.05)
        return None

    def _locked_message(self, holder: LockInfo | None) -> str:
        who = holder.describe() if holder else "another process that has not said who it is yet"
        return (f"the state in {self.describe()} is locked by {who}; wait for that run to finish "
                "(the lock is released when its process exits, even if it is killed)")

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        fd = self._open_lock()
        try:
            if not self._try_flock(fd):
                raise LockError(self._locked_message(self._holder(fd)))
        except BaseException:
            os.close(fd)
            raise
        info = _lock_info(operation)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.model_dump_json().encode(), 0)
            self.clean_temporaries()
            yield info
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def lock_status(self) -> LockStatus:
        self._check_path()
        status = LockStatus(where=self.describe())
        if not self.lock_path.exists():
            return status
        fd = self._open_lock()
        try:
            if self._try_flock(fd):
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                holder = self._holder(fd)
                status.holders.append(holder or LockInfo(owner="unknown", host="unknown", pid=0, created=time.time(),
                                                         operation="unknown", user="an unidentified process"))
        finally:
            os.close(fd)
        return status

    def release_lock(self, force: bool = False) -> list[LockInfo]:
        """A local lock is released by the kernel when its process exits, so a held lock belongs
        to a live process and cannot be taken from it safely: stop that process instead. A free
        lock may still describe the run that held it last; that description is cleared."""
        fd = self._open_lock()
        try:
            if not self._try_flock(fd):
                holder = self._holder(fd)
                pid = f" (pid {holder.pid} on {holder.host})" if holder else ""
                raise LockError(f"{self._locked_message(holder)}. A local lock cannot be released from outside: "
                                f"stop that process{pid} and the system releases its lock")
            try:
                previous = self._holder(fd)
                os.ftruncate(fd, 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return [previous] if previous else []

    # ---- fingerprint key ---------------------------------------------------------------

    def fingerprint_key(self) -> bytes:
        env = key_from_env()
        if env:
            return env
        self._check_path()
        for _ in range(3):
            try:
                data = self.key_path.read_bytes()
            except FileNotFoundError:
                key = self._create_key()
                if key is not None:
                    return key
                continue  # another run created it first: use theirs
            except OSError as exc:
                raise self._os_error(exc, "read the fingerprint key", self.key_path) from None
            return parse_key(data, str(self.key_path))
        raise StateError(f"the fingerprint key {self.key_path} keeps disappearing; is another tool deleting it?")

    def _create_key(self) -> bytes | None:
        """Write a new key to a temporary file, fsync it, then hard-link it into place: the link
        fails if the key exists, so two first runs agree on one key, and the key file is never
        seen half-written. None if another run won."""
        self._ensure_directory()
        self.clean_temporaries()
        key = new_key()
        tmp = _temporary(self.key_path)
        try:
            _write_new_file(tmp, (key.hex() + "\n").encode(), 0o600)
            try:
                os.link(tmp, self.key_path)
            except FileExistsError:
                return None
            _fsync_directory(self.key_path.parent)
        except OSError as exc:
            raise self._os_error(exc, "create the fingerprint key", self.key_path) from None
        finally:
            try:
                tmp.unlink()
            except OSError:
                pass
        return key


class MemoryStateBackend(StateBackend):
    """State held in memory for one process: for front doors that keep their own state (Pulumi
    records outputs itself), so that the core's apply can run unchanged."""

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


# ── object stores ────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object. `modified` is by the store's clock (seconds since the epoch)."""

    name: str
    modified: float | None = None
    size: int | None = None


AccessKind = Literal["directory", "object", "secret"]


@dataclass(frozen=True)
class Exposure:
    """What a store's ACL says about one directory, object or secret, relative to the principals
    the stack trusts (the applying identity, the `[state] operators` groups and their members,
    and platform administrators)."""

    target: str  # a human description, e.g. "blob directory blob://b/platforge/stacks/x/"
    exists: bool = True  # False: no such object, or a directory with neither an ACL nor objects
    has_acl: bool = False  # carries an ACL of its own (a directory without one is unprotected)
    writers: tuple[str, ...] = ()  # untrusted principals that may write it
    readers: tuple[str, ...] = ()  # untrusted principals that may read it
    checked: bool = True  # False: the store cannot tell (no ACLs, or no right to read this ACL)


class ObjectStore(ABC):
    """What a platform offers to hold state: named byte objects, a listing by prefix, one secret
    value, and (optionally) access control lists.

    The store needs no compare-and-swap: the lock is built from put, list and delete (see
    `ObjectStoreStateBackend`). It must be linearizable: a list returns every object whose put
    was acknowledged before the list was sent, and no object whose delete was.
    """

    #: Whether `exposure` and `protect` mean something. A store without ACLs (an in-memory
    #: store in tests) is trusted as a whole.
    has_access_control = False

    @abstractmethod
    def get(self, name: str) -> bytes | None: ...

    @abstractmethod
    def put(self, name: str, data: bytes) -> None: ...

    @abstractmethod
    def delete(self, name: str) -> bool | None:
        """Remove `name`; True if it existed, False if it did not, None if the store cannot tell."""

    @abstractmethod
    def get_secret(self, name: str) -> str | None: ...

    @abstractmethod
    def put_secret(self, name: str, value: str) -> None: ...

    @abstractmethod
    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose name starts with `prefix` (the lock protocol lists its intents)."""

    def identity(self) -> str:
        """Who this store acts as (for lock holders and audit records); empty if unknown."""
        return ""

    def exposure(self, name: str, operators: Sequence[str], kind: AccessKind) -> Exposure:
        """Who besides the trusted principals may read or write `name` (a directory ends in `/`)."""
        return Exposure(target=name, checked=False)

    def protect(self, name: str, operators: Sequence[str], kind: AccessKind) -> bool:
        """Replace the ACL of `name` with: the applying identity and the `operators` groups may
        read and write, nobody else (administrators excepted). False if there is nothing to
        protect (a directory with neither an ACL nor objects)."""
        return True

    def describe(self) -> str:
        return type(self).__name__


_INTENT = re.compile(r"/(\d{10,16})-([0-9a-f]{8,32})-([ah])\.json$")


@dataclass(frozen=True)
class _Intent:
    name: str
    expires: float  # by the writer's clock (seconds since the epoch)
    kind: str  # "a": acquiring, "h": held, "?": not a lock intent platforge wrote


class _Lease:
    """One acquisition of the platform lock: the intents it wrote, its deadline, its heartbeat.

    Invariant (what makes the lock safe): from the acknowledgement of the first intent until
    release, at least one of this acquisition's intents exists and is unexpired in everyone's
    eyes. A renewal writes a new intent under a new name and deletes the previous one only after
    the new one is acknowledged; if that acknowledgement arrives after the previous intent's
    deadline, continuity is not proven and the lease is lost (the holder stops writing).
    """

    def __init__(self, backend: ObjectStoreStateBackend, info: LockInfo) -> None:
        self.backend = backend
        self.info = info
        self.names: set[str] = set()  # intents that may exist
        self.current: str | None = None
        self.deadline = 0.0  # monotonic: after this, others may treat our intent as stale
        self.lost: str | None = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write(self, kind: str) -> tuple[str, float]:
        """Write a new intent; returns its name and monotonic deadline. The deadline is taken from
        before the request is sent, so it can only be earlier than what others compute."""
        backend = self.backend
        lease = backend.lease_seconds
        sent = time.monotonic()
        expires = time.time() + lease
        name = f"{backend.lock_dir}{int(expires * 1000):013d}-{uuid.uuid4().hex[:16]}-{kind}.json"
        with self._mutex:
            self.names.add(name)
        body = {"format": LOCK_FORMAT, **self.info.model_dump(mode="json"), "expires": expires}
        backend.store.put(name, json.dumps(body, sort_keys=True).encode())
        return name, sent + lease

    def promote(self, name: str, deadline: float) -> None:
        """We won: mark the lock as held (a renewal to an `h` intent)."""
        with self._mutex:
            self.current, self.deadline = name, deadline
        self.renew()

    def renew(self) -> None:
        with self._mutex:
            previous, previous_deadline = self.current, self.deadline
        name, deadline = self.write("h")
        if time.monotonic() >= previous_deadline:
            self._lose("a lease renewal was acknowledged only after the lease had run out")
            return
        with self._mutex:
            self.current, self.deadline = name, deadline
        if previous is None:
            return
        existed = self.backend.store.delete(previous)
        with self._mutex:
            self.names.discard(previous)
        if existed is False:
            self._lose("its lock intent was removed by someone else (a forced release?)")

    def _lose(self, why: str) -> None:
        with self._mutex:
            if self.lost is None:
                self.lost = why
        self._delete_all()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._heartbeat, name="platforge-lock-heartbeat", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        every = self.backend.lease_seconds / 4
        wait = every
        while not self._stop.wait(wait):
            try:
                self.renew()
                wait = every
            except Exception as exc:  # noqa: BLE001  (keep trying until the deadline)
                if time.monotonic() >= self.deadline:
                    self._lose(f"the lease could not be renewed in time ({type(exc).__name__}: {exc})")
                wait = max(every / 4, 0.01)
            if self.lost is not None:
                return

    def check(self, action: str, after: bool = False) -> None:
        """Raise LockError unless the lease is ours with room to spare (`after`: the write just
        acknowledged landed before the deadline)."""
        with self._mutex:
            lost, deadline = self.lost, self.deadline
        where = self.backend.describe()
        if lost is not None:
            raise LockError(f"cannot {action}: this run lost the lock on {where} ({lost}); nothing more is "
                            "written. Run `platforge plan` to see where things stand")
        remaining = deadline - time.monotonic()
        if after and remaining <= 0:
            raise LockError(f"the write to {where} was acknowledged after this run's lock lease ran out; another "
                            "run may have taken the lock meanwhile. Run `platforge plan` to see where things stand")
        if not after and remaining < self.backend.lease_seconds / 4:
            raise LockError(f"cannot {action}: this run's lock lease on {where} ends in {max(remaining, 0):.1f} s "
                            "and could not be renewed (is the platform reachable?); nothing more is written")

    def _delete_all(self) -> None:
        with self._mutex:
            names = sorted(self.names)
        for name in names:
            try:
                self.backend.store.delete(name)
            except Exception:  # noqa: BLE001, S112  (it expires anyway)
                continue
            with self._mutex:
                self.names.discard(name)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.backend.lease_seconds + 5)
        self._delete_all()


class ObjectStoreStateBackend(StateBackend):
    """State on the platform (e.g. Datatailr blob storage) for GitOps runs on fresh machines.

    Layout under `<prefix>/` (docs/state-security.md has the reasoning):

        protection.json          written first, so the directory can carry an ACL
        state.json               the state, signed (`signature`: a MAC under the fingerprint key)
        fingerprint-key.check    a MAC of the key, written before the key is created
        lock/<expiry>-<id>-<a|h>.json   lock intents (acquiring / held), one per write
        lock-events/<time>-<id>.json    audit records of forced releases
        secret <prefix>/fingerprint-key (secure KV entry; unless $PLATFORGE_FINGERPRINT_KEY)

    Protection: before anything is written the directory gets an ACL that lets only the applying
    identity and the `[state] operators` groups read and write (administrators can anyway). Every
    run reads the ACLs of the enclosing directories, of the stack's directory, of the state and
    of the key, and refuses (StateError) if anyone else can write them (or read the key). Objects
    found under a prefix that is not protected are refused: their origin is unknown.

    Lock: intents with leases, list-after-write; safe under arbitrary delays without
    compare-and-swap. See `_acquire` and docs/state-security.md for the argument.
    """

    lease_seconds = 60.0
    clock_skew_seconds = 10.0
    acquire_attempts = 8
    backoff_seconds = 0.05  # first pause after a tie with another contender (doubles, jittered)
    key_lock_wait = 15.0

    def __init__(self, store: ObjectStore, prefix: str, operators: Sequence[str] = ()) -> None:
        self.store = store
        self.prefix = prefix.strip("/")
        self.operators = tuple(sorted(set(operators)))
        self.directory = f"{self.prefix}/"
        self.state_name = f"{self.prefix}/state.json"
        self.key_name = f"{self.prefix}/fingerprint-key"
        self.check_name = f"{self.prefix}/fingerprint-key.check"
        self.protection_name = f"{self.prefix}/protection.json"
        self.lock_dir = f"{self.prefix}/lock/"
        self.events_dir = f"{self.prefix}/lock-events/"
        self.lease_seconds = _env_seconds(LEASE_ENV, type(self).lease_seconds) or type(self).lease_seconds
        self.clock_skew_seconds = _env_seconds(SKEW_ENV, type(self).clock_skew_seconds)
        self.adopt = _env_flag(ADOPT_ENV)
        self.notes: list[str] = []
        self._mutex = threading.RLock()
        self._ready = False  # the directory is verified protected (or the store has no ACLs)
        self._fresh = False  # verified: unprotected and empty (nothing to load yet)
        self._key: bytes | None = None
        self._lease: _Lease | None = None

    def describe(self) -> str:
        return f"{self.store.describe()} {self.state_name}"

    # ---- protection ------------------------------------------------------------------

    def _untrusted(self, exposure: Exposure, what: str, readers: bool = False) -> StateError:
        who = sorted(set(exposure.writers) | (set(exposure.readers) if readers else set()))
        verb = "read or write" if readers and exposure.readers else "write"
        return StateError(
            f"{what} ({exposure.target}) can be {'read or written' if verb != 'write' else 'written'} by "
            f"{_holders_text(who)}, whom this stack does not trust; platforge refuses to use it. Only the applying "
            "identity, the [state] operators groups and platform administrators may "
            f"{verb} it: remove the other grants (an administrator can), or add the group to [state] operators if "
            "it should have access")

    def _ancestors(self) -> list[str]:
        parts = self.prefix.split("/")[:-1]
        return [""] + ["/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]

    def _prepare(self, create: bool) -> None:
        """Check (and on first use, set) the protection of the stack's directory. With `create`
        false nothing is written: a fresh, empty prefix is left alone."""
        with self._mutex:
            if self._ready or (self._fresh and not create):
                return
            store, ops = self.store, self.operators
            if not store.has_access_control:
                self._ready = True
                return
            for path in self._ancestors():
                exposure = store.exposure(path, ops, "directory")
                if exposure.writers:
                    raise self._untrusted(exposure, "a directory enclosing this stack's state")
                note = (f"cannot inspect the ACL of {exposure.target} (only administrators can); the state's "
                        "signature still detects changes made through it")
                if not exposure.checked and note not in self.notes:
                    self.notes.append(note)
            top = store.exposure(self.directory, ops, "directory")
            if top.writers:
                raise self._untrusted(top, "the stack's state directory")
            if not top.checked:
                raise StateError(f"cannot read the ACL of {top.target}: this identity is not one of the stack's "
                                 "operators, or the directory belongs to someone else")
            if top.has_acl:
                self._check_subdirectories()
                self._ready = True
                return
            existing = [o.name for o in store.list(self.directory)]
            if existing:  # a concurrent first run may have protected it since we looked
                top = store.exposure(self.directory, ops, "directory")
                if top.writers:
                    raise self._untrusted(top, "the stack's state directory")
                if top.has_acl:
                    self._check_subdirectories()
                    self._ready = True
                    return
            # The protection marker alone is a concurrent first run between its marker and its ACL:
            # the marker carries no authority (its content is never read), so protecting the
            # directory ourselves is safe; the check after protecting still refuses any object
            # there that someone untrusted can write.
            untrusted = [name for name in existing if name != self.protection_name]
            if untrusted and not self.adopt:
                existing = untrusted
                shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
                raise StateError(
                    f"{len(existing)} object(s) exist under {self.directory} but platforge never protected that "
                    f"directory, so anyone could have written them ({shown}); refusing to use them. If they are this "
                    f"stack's own state from before platforge protected it, set {ADOPT_ENV}=1 for one run to adopt "
                    "them; otherwise have them removed (an administrator can) and run again")
            if key_from_env() is None and not self.adopt:
                secret = store.exposure(self.key_name, ops, "secret")
                if secret.exists:
                    raise StateError(
                        f"a fingerprint key already exists at {secret.target} although this stack's state directory "
                        "was never protected: someone else may have created it and could know it. Have it removed "
                        "(an administrator can; platforge then creates a new one), or set $PLATFORGE_FINGERPRINT_KEY")
            if not create:
                self._fresh = not existing
                return
            self._protect_directory(existing)
            self._ready = True
            self._fresh = False

    def _protect_directory(self, existing: list[str]) -> None:
        store, ops = self.store, self.operators
        record = {"format": "platforge.protection/v1", "by": store.identity() or _login(), "host": socket.gethostname(),
                  "at": now_iso(), "operators": list(ops)}
        if self.protection_name not in existing:
            store.put(self.protection_name, json.dumps(record, sort_keys=True).encode())
        store.protect(self.directory, ops, "directory")
        for sub in (self.lock_dir, self.events_dir):
            store.protect(sub, ops, "directory")  # clears any ACL planted there earlier
        top = store.exposure(self.directory, ops, "directory")
        if not top.has_acl or top.writers:
            raise StateError(f"could not protect {top.target}: its ACL did not take effect")
        # Anything else there now was written between our listing and the ACL (a concurrent first
        # run of this stack, or someone racing us): usable only if nobody untrusted can write it.
        for info in store.list(self.directory):
            exposure = store.exposure(info.name, ops, "object")
            if exposure.writers:
                raise self._untrusted(exposure, "an object in the stack's state directory")

    def _check_subdirectories(self) -> None:
        for sub in (self.lock_dir, self.events_dir):
            exposure = self.store.exposure(sub, self.operators, "directory")
            if exposure.writers:
                raise self._untrusted(exposure, "the stack's lock directory")

    # ---- state -----------------------------------------------------------------------

    def load(self) -> State | None:
        self._prepare(create=False)
        if self._fresh:
            return None
        data = self.store.get(self.state_name)
        if data is None:
            return None
        if self.store.has_access_control:
            exposure = self.store.exposure(self.state_name, self.operators, "object")
            if exposure.writers:
                raise self._untrusted(exposure, "the state")
        where = self.describe()
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise StateError(f"the state in {where} is damaged: not valid JSON ({exc}); nothing was changed") from None
        if not isinstance(raw, dict):
            raise StateError(f"the state in {where} is damaged: a JSON {type(raw).__name__}, not an object")
        signature = raw.pop(SIGNATURE_FIELD, None)
        key = key_from_env() or self._existing_key()
        if self.adopt:
            pass  # the operator vouches for this state (legacy, or a rotated key); the next save signs it
        elif signature is None:
            raise StateError(
                f"the state in {where} is not signed: platforge signs every state it writes, so this one was "
                "written by someone else or by a platforge version before state signing; refusing to use it. "
                f"If you know it is this stack's own state, set {ADOPT_ENV}=1 for one run (the next save signs it)")
        elif key is None:
            raise StateError(f"the state in {where} is signed, but this stack's fingerprint key is missing: it cannot be "
                             "verified. Set $PLATFORGE_FINGERPRINT_KEY to the key it was written with")
        elif not (isinstance(signature, str)
                  and hmac.compare_digest(signature, keyed_mac(key, "state-signature", self.prefix, _canonical(raw)))):
            raise StateError(
                f"the state in {where} does not match its signature: it was changed outside platforge, or written "
                "with another fingerprint key ($PLATFORGE_FINGERPRINT_KEY set in one run and not in another?); "
                "refusing to use it")
        try:
            return State.from_bytes(json.dumps(raw).encode(), where)
        except ValueError as exc:
            raise StateError(f"the state in {where} is damaged: {_problem(exc, where)}") from None

    def save(self, state: State) -> None:
        lease = self._lease
        if lease is not None:
            lease.check("write the state")
        self._prepare(create=True)
        key = key_from_env() or self.fingerprint_key()
        self.store.put(self.state_name, sign_state(state, key, self.prefix))
        if lease is not None:
            lease.check("write the state", after=True)

    # ---- fingerprint key -------------------------------------------------------------

    def fingerprint_key(self) -> bytes:
        env = key_from_env()
        if env:
            return env
        with self._mutex:
            if self._key is None:
                self._key = self._existing_key() or self._create_key()
            return self._key

    def _existing_key(self) -> bytes | None:
        """The stack's key from the store, refused if others can reach it or if it was not created
        by this stack (no matching key check under the protected directory)."""
        with self._mutex:
            if self._key is not None:
                return self._key
            self._prepare(create=False)
            if self._fresh:
                return None
            store = self.store
            if store.has_access_control:
                exposure = store.exposure(self.key_name, self.operators, "secret")
                if not exposure.exists:
                    return None
                if not exposure.checked:
                    raise StateError(f"the fingerprint key {exposure.target} exists but this identity may not inspect "
                                     "it: it belongs to someone else; refusing to use it")
                if exposure.writers or exposure.readers:
                    raise self._untrusted(exposure, "the fingerprint key", readers=True)
            value = store.get_secret(self.key_name)
            if value is None:
                return None
            where = f"{store.describe()} secret {self.key_name}"
            key = parse_key(value.encode("utf-8", errors="replace"), where)
            check = store.get(self.check_name)
            expected = keyed_mac(key, "key-check", self.prefix, b"")
            matches = check is not None and hmac.compare_digest(check.decode("utf-8", errors="replace").strip(),
                                                                 expected)
            if not matches and not self.adopt:
                if check is None:
                    raise StateError(
                        f"the fingerprint key {where} was not created by platforge for this stack (there is no key "
                        f"check under {self.directory}): someone else may have planted it and know it; refusing to "
                        f"use it. Have it removed (platforge then creates a new one), or, if it is this stack's key "
                        f"from before platforge checked keys, set {ADOPT_ENV}=1 for one run")
                raise StateError(f"the fingerprint key {where} does not match the key check written when it was "
                                 f"created: it was replaced; refusing to use it (if you replaced it, set {ADOPT_ENV}=1 "
                                 "for one run)")
            if not matches:  # adopted: the operator vouches for this key
                self._prepare(create=True)
                store.put(self.check_name, expected.encode())
            self._key = key
            return key

    def _create_key(self) -> bytes:
        """Create the key under the stack's lock (two first runs agree on one key), after the
        directory is protected, writing its check first: a key without a check is never ours."""
        if self._lease is not None:
            return self._create_key_locked()
        lease = self._acquire("create the fingerprint key", wait=self.key_lock_wait)
        self._lease = lease
        try:
            return self._existing_key() or self._create_key_locked()
        finally:
            self._lease = None
            lease.release()

    def _create_key_locked(self) -> bytes:
        store, ops = self.store, self.operators
        self._prepare(create=True)
        key = new_key()
        store.put(self.check_name, keyed_mac(key, "key-check", self.prefix, b"").encode())
        store.put_secret(self.key_name, key.hex())
        if store.has_access_control:
            exposure = store.exposure(self.key_name, ops, "secret")
            if exposure.writers or exposure.readers:
                raise self._untrusted(exposure, "the new fingerprint key", readers=True)
            store.protect(self.key_name, ops, "secret")
            exposure = store.exposure(self.key_name, ops, "secret")
            if exposure.writers or exposure.readers or not exposure.exists:
                raise self._untrusted(exposure, "the new fingerprint key", readers=True)
        self._key = key
        return key

    # ---- lock ------------------------------------------------------------------------

    @contextmanager
    def lock(self, operation: str) -> Iterator[LockInfo]:
        lease = self._acquire(operation)
        self._lease = lease
        try:
            self._reassert_protection()
            yield lease.info
        finally:
            self._lease = None
            lease.release()

    def _reassert_protection(self) -> None:
        """Set the ACLs of the directory, the state and the key again (a replace). A grant to
        everybody ("others") is invisible in the ACLs the platform reports, so it could not be
        refused when checking; replacing clears it on everything this stack owns, at every run
        that writes."""
        store, ops = self.store, self.operators
        if not store.has_access_control:
            return
        store.protect(self.directory, ops, "directory")  # checked by _prepare
        store.protect(self.lock_dir, ops, "directory")  # holds our intent: nobody else's
        state = store.exposure(self.state_name, ops, "object")
        if state.writers:  # checked before replacing: a replace must not launder a grant
            raise self._untrusted(state, "the state")
        if state.exists:
            store.protect(self.state_name, ops, "object")
        if key_from_env() is None:
            key = store.exposure(self.key_name, ops, "secret")
            if key.writers or key.readers:
                raise self._untrusted(key, "the fingerprint key", readers=True)
            if key.exists:
                store.protect(self.key_name, ops, "secret")

    def _scan(self, exclude: set[str] | frozenset[str] = frozenset()) -> tuple[list[_Intent], list[_Intent]]:
        """Every other intent under `lock/`, split into live and stale (expired by more than the
        clock skew allowance: its writer has stopped by its own clock)."""
        now = time.time()
        live: list[_Intent] = []
        stale: list[_Intent] = []
        for info in self.store.list(self.lock_dir):
            if info.name in exclude:
                continue
            match = _INTENT.search("/" + info.name.rsplit("/", 1)[-1])
            if match:
                intent = _Intent(info.name, int(match.group(1)) / 1000, match.group(3))
            else:  # not ours to interpret: it blocks for a lease after it was written
                intent = _Intent(info.name, (info.modified or now) + self.lease_seconds, "?")
            (stale if now > intent.expires + self.clock_skew_seconds else live).append(intent)
        return live, stale

    def _acquire(self, operation: str, wait: float = 0.0) -> _Lease:
        """Take the lock. Protocol (no compare-and-swap needed):

        1. write a fresh intent `lock/<expiry>-<random>-a.json` and wait for the acknowledgement;
        2. list `lock/`; if another unexpired intent is there, delete ours and back off (a
           held `h` intent: fail at once, naming the holder; only other `a` contenders: retry
           after a jittered pause, a bounded number of times);
        3. otherwise we hold the lock: renew to an `h` intent, and keep renewing from a
           heartbeat thread until released.

        Safety: say runs A and B both hold, and A's deciding list ran first. A's intents exist,
        unexpired, from before A's list until A releases (see `_Lease`); B's list ran after
        A's, so after A's intent was acknowledged, and while A still held: B saw it and backed
        off. Contradiction, whatever the delays, given a linearizable store and clocks within
        `clock_skew_seconds`.
        """
        self._prepare(create=True)
        info = _lock_info(operation, user=self.store.identity())
        give_up = time.monotonic() + wait
        mine: set[str] = set()
        attempt = 0
        while True:
            attempt += 1
            lease = _Lease(self, info)
            try:
                name, deadline = lease.write("a")
                mine.add(name)
                live, stale = self._scan(exclude=mine)
            except BaseException:
                lease.release()
                raise
            for intent in stale:
                try:
                    self.store.delete(intent.name)
                except Exception:  # noqa: BLE001, S110  (housekeeping only: the next run tries again)
                    pass
            if not live and time.monotonic() < deadline:
                try:
                    lease.promote(name, deadline)
                except BaseException:
                    lease.release()
                    raise
                if lease.lost is None:
                    lease.start()
                    return lease
            lease.release()
            mine.update(lease.names)  # intents of ours whose delete failed: never block ourselves
            now = time.monotonic()
            held = any(intent.kind != "a" for intent in live)
            if now >= give_up and (held or attempt >= self.acquire_attempts):
                if live:
                    raise LockError(self._locked_message(live, frozenset(mine)))
                raise LockError(f"could not take the lock on {self.describe()} in {attempt} attempts: the platform "
                                f"answered too slowly to keep a {self.lease_seconds:.0f} s lease")
            pause = min(2.0, self.backoff_seconds * 2 ** min(attempt, 6)) if not held else min(1.0, max(0.0, give_up - now))
            time.sleep(random.uniform(0.5, 1.0) * pause)

    def _read_intent(self, name: str) -> LockInfo | None | Literal["gone"]:
        """The run an intent names; None when it cannot be read as one; "gone" when it was
        deleted since the listing (a holder renewing, a contender backing off)."""
        try:
            data = self.store.get(name)
        except Exception:  # noqa: BLE001  (only used to describe a holder)
            return None
        if data is None:
            return "gone"
        try:
            return LockInfo.model_validate_json(data) if data else None
        except Exception:  # noqa: BLE001  (only used to describe a holder)
            return None

    def _describe_intents(self, intents: list[_Intent], relist: frozenset[str] | None = None) -> list[LockInfo]:
        """Who the intents stand for, one entry per run. An intent deleted since the listing
        blocks nobody and is left out (it showed as a phantom "unidentified run" beside the
        real holder). When every one is gone, the holder most likely renewed meanwhile (a new
        intent, the old one deleted): with `relist` (names to leave out), `lock/` is listed
        again, a few times, before a deleted intent is named as an unidentified run."""
        for attempt in range(3 if relist is not None else 1):
            out: dict[str, LockInfo] = {}
            gone: list[_Intent] = []
            for intent in intents:
                info = self._read_intent(intent.name)
                if info == "gone":
                    gone.append(intent)
                    continue
                out.setdefault(*self._intent_info(intent, info))
            if out or not gone:
                return list(out.values())
            if relist is not None and attempt < 2:
                again, _ = self._scan(exclude=relist)
                if not again:
                    break
                intents = again[:5]
        for intent in gone:
            out.setdefault(*self._intent_info(intent, None))
        return list(out.values())

    def _intent_info(self, intent: _Intent, info: LockInfo | None | str) -> tuple[str, LockInfo]:
        if not isinstance(info, LockInfo):
            info = LockInfo(owner=intent.name, host="unknown host", pid=0, created=intent.expires - self.lease_seconds,
                            operation="unknown operation", user=f"an unidentified run ({intent.name})",
                            expires=intent.expires)
        return info.owner, info

    def _locked_message(self, live: list[_Intent], mine: frozenset[str] = frozenset()) -> str:
        holders = [info.describe() for info in self._describe_intents(live[:5], relist=mine)]
        if any(intent.kind != "a" for intent in live):
            return (f"the state in {self.describe()} is locked by {_holders_text(holders)}. If that run was killed, "
                    f"its lock expires when its lease ends (at most {self.lease_seconds + self.clock_skew_seconds:.0f} s "
                    "after its last renewal); `platforge lock release --force` releases it now")
        return (f"the state in {self.describe()} is being locked by {_holders_text(holders)} at the same moment; "
                "try again")

    def lock_status(self) -> LockStatus:
        self._prepare(create=False)
        status = LockStatus(where=self.describe(), notes=list(self.notes))
        if self._fresh:
            status.notes.append(f"{self.directory} holds nothing yet (not protected: the first apply protects it)")
            return status
        live, stale = self._scan()
        status.holders = self._describe_intents(live, relist=frozenset())
        status.stale = self._describe_intents(stale)
        status.events = self._events()
        return status

    def release_lock(self, force: bool = False) -> list[LockInfo]:
        """Delete expired intents; with `force` every intent, and record who released whose lock
        under `lock-events/`. A live holder notices at its next renewal and stops writing."""
        self._prepare(create=False)
        if self._fresh:
            return []
        live, stale = self._scan()
        if live and not force:
            raise LockError(self._locked_message(live))
        released: dict[str, LockInfo] = {}
        forced: list[LockInfo] = []
        for _ in range(3):  # a holder renewing meanwhile writes a new intent: take that one too
            holders = self._describe_intents(stale + live)
            released.update((info.owner, info) for info in holders)
            forced += [info for info in self._describe_intents(live) if info.owner not in {f.owner for f in forced}]
            for intent in stale + live:
                self.store.delete(intent.name)
            live, stale = self._scan()
            if not force or not live:
                break
        if forced:
            event = {"format": LOCK_EVENT_FORMAT, "event": "force-release", "at": now_iso(),
                     "by": {"user": self.store.identity() or _login(), "login": _login(), "host": socket.gethostname(),
                            "pid": os.getpid()},
                     "released": [info.model_dump(mode="json") for info in forced]}
            name = f"{self.events_dir}{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:8]}.json"
            self.store.put(name, json.dumps(event, sort_keys=True).encode())
        return list(released.values())

    def _events(self, last: int = 5) -> list[dict[str, Any]]:
        events = []
        for info in sorted(self.store.list(self.events_dir), key=lambda o: o.name)[-last:]:
            try:
                data = self.store.get(info.name)
                if data:
                    events.append(json.loads(data))
            except Exception:  # noqa: BLE001, S112  (an audit display only)
                continue
        return events
