"""The platform lock against the real sandbox: contention with a delay injected before and after
every lock request (and a throttled lock write answered 429 with Retry-After), a killed holder
whose lease runs out, and `platforge lock status | release --force` through the CLI."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import threading
import time

import httpx
import pytest
from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin
from platforge.provider.datatailr.platform import DatatailrObjectStore

from platforge.core.errors import LockError
from platforge.core.state import ObjectInfo, ObjectStore, ObjectStoreStateBackend
from tests.core.test_state_lock_protocol import run_contention

PREFIX = "platforge/stacks/team"
STATE = f'[state]\nbackend = "platform"\nprefix = "{PREFIX}"\n'
BODY = '[kv.k]\nvalue = "v"\n'
SANDBOX_TRIALS = int(os.environ.get("PLATFORGE_LOCK_SANDBOX_TRIALS", "12"))


class Delayed(ObjectStore):
    """Wraps a store: a random delay before and after every request."""

    def __init__(self, inner: ObjectStore, rng: random.Random, max_delay: float) -> None:
        self.inner, self.rng, self.max_delay = inner, rng, max_delay
        self.has_access_control = inner.has_access_control

    def _call(self, fn, *args):
        time.sleep(self.rng.uniform(0, self.max_delay))
        try:
            return fn(*args)
        finally:
            time.sleep(self.rng.uniform(0, self.max_delay))

    def get(self, name):
        return self._call(self.inner.get, name)

    def put(self, name, data):
        return self._call(self.inner.put, name, data)

    def delete(self, name):
        return self._call(self.inner.delete, name)

    def list(self, prefix) -> list[ObjectInfo]:
        return self._call(self.inner.list, prefix)

    def get_secret(self, name):
        return self._call(self.inner.get_secret, name)

    def put_secret(self, name, value):
        return self._call(self.inner.put_secret, name, value)

    def identity(self):
        return self.inner.identity()

    def exposure(self, name, operators, kind):
        return self._call(self.inner.exposure, name, operators, kind)

    def protect(self, name, operators, kind):
        return self._call(self.inner.protect, name, operators, kind)

    def describe(self):
        return self.inner.describe()


class ThrottleFirstLockWrite(httpx.BaseTransport):
    """Answers the first blob put of a lock 429 with `Retry-After: 1`; the client waits and
    sends it again (a single delayed lock write)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.fired = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (not self.fired.is_set() and request.url.path.endswith("/blob/put")
                and (b"/lock/" in request.content or b"state.lock" in request.content)):
            self.fired.set()
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "Too many requests"},
                                  request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def client_for(box, transport: httpx.BaseTransport | None = None) -> DatatailrClient:
    client = DatatailrClient(box.url, PasswordLogin(box.admin_user, box.admin_password), http_transport=transport)
    client.login()
    return client


def test_a_throttled_lock_write_cannot_make_two_holders(sandbox_factory):
    """B's lock write is answered 429 with Retry-After: 1 and lands a second later, well after A
    took the lock (today: after the 0.3 s settle time, so both proceeded)."""
    box = sandbox_factory()
    throttle = ThrottleFirstLockWrite()
    a_client, b_client = client_for(box), client_for(box, throttle)
    held: dict[str, tuple[float, float]] = {}
    errors: dict[str, str] = {}

    def run(name: str, client: DatatailrClient, start_after: float, hold: float) -> None:
        time.sleep(start_after)
        try:
            with ObjectStoreStateBackend(DatatailrObjectStore(client, "dev"), PREFIX).lock("apply"):
                began = time.monotonic()
                time.sleep(hold)
                held[name] = (began, time.monotonic())
        except LockError as exc:
            errors[name] = str(exc)

    # first use protects the prefix: do it before the race, as an earlier apply would have
    ObjectStoreStateBackend(DatatailrObjectStore(a_client, "dev"), PREFIX).fingerprint_key()
    threads = [threading.Thread(target=run, args=("b", b_client, 0.0, 0.2)),
               threading.Thread(target=run, args=("a", a_client, 0.2, 2.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert throttle.fired.is_set()
    spans = sorted(held.values())
    assert not any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), held
    assert "a" in held and "is locked by" in errors.get("b", ""), (held, errors)


def test_no_two_holders_on_the_sandbox_with_delays_on_every_lock_request(sandbox_factory):
    box = sandbox_factory(latency_ms=2)
    clients = [client_for(box) for _ in range(3)]
    turn = iter(range(10**6))
    guard = threading.Lock()

    def store_factory(rng: random.Random) -> ObjectStore:
        with guard:
            client = clients[next(turn) % len(clients)]
        return Delayed(DatatailrObjectStore(client, "dev"), rng, max_delay=0.01)

    report = run_contention(SANDBOX_TRIALS, seed=7, lease=3.0, duplicate_rate=0.0, kill_rate=0.0,
                            long_hold_rate=0.0, parallel=2, store_factory=store_factory)
    summary = report.summary()
    print("sandbox lock contention:", summary)
    assert report.double_holders == 0 and report.gave_up == 0, summary
    assert report.errors == [] and report.acquisitions == report.contenders, summary


HOLDER = """
import os, sys, time
from platforge.core.state import ObjectStoreStateBackend
from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin
from platforge.provider.datatailr.platform import DatatailrObjectStore
from platforge.core.errors import LockError
client = DatatailrClient(sys.argv[1], PasswordLogin(os.environ["DATATAILR_USER_NAME"], os.environ["DATATAILR_USER_PASSWORD"]))
client.login()
backend = ObjectStoreStateBackend(DatatailrObjectStore(client, "dev"), sys.argv[2])
lease = backend._acquire("apply")
import signal
def finish(*_):  # SIGTERM: the job ends and lets go (SIGKILL: killed, its lease runs out)
    lease.release()
    sys.exit(0)
signal.signal(signal.SIGTERM, finish)
print("held", flush=True)
while True:
    time.sleep(0.1)
    try:
        lease.check("write the state")
    except LockError as exc:
        print("lost:", exc, flush=True)
        sys.exit(3)
"""


@pytest.fixture
def short_leases(monkeypatch):
    monkeypatch.setenv("PLATFORGE_LOCK_LEASE_SECONDS", "2")
    monkeypatch.setenv("PLATFORGE_LOCK_CLOCK_SKEW_SECONDS", "0.5")


def start_holder(world, prefix: str = PREFIX) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, world.sandbox.url, prefix], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    line = holder.stdout.readline()
    assert line.strip() == "held", (line, holder.stderr.read() if holder.poll() is not None else "")
    return holder


def test_a_killed_apply_blocks_the_stack_only_until_its_lease_ends(world, short_leases):
    stack = world.stack(BODY, state=STATE)
    assert world.cli("plan", stack).exit_code == 2  # first use: the prefix is protected, the key made
    holder = start_holder(world)
    try:
        status = world.cli("lock", "status", stack)
        assert status.exit_code == 2, status.stderr
        assert f"is locked by {world.sandbox.admin_user} (pid {holder.pid} on " in status.stdout
        assert "running apply since" in status.stdout and "lease ends in" in status.stdout
        blocked = world.cli("apply", stack, "--yes")
        assert blocked.exit_code == 1 and f"is locked by {world.sandbox.admin_user}" in blocked.stderr
    finally:
        holder.kill()  # SIGKILL: no cleanup, no release
        holder.wait()
    killed = time.monotonic()
    time.sleep(2.5)  # lease + clock skew allowance
    result = world.cli("apply", stack, "--yes")
    while result.exit_code != 0 and time.monotonic() - killed < 10:  # a loaded machine may add a renewal
        time.sleep(0.5)
        result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stderr
    assert time.monotonic() - killed < 10, "blocked for the lease (2 s) and a renewal's slack, never an hour"
    assert world.cli("lock", "status", stack).exit_code == 0


def test_lock_release_force_releases_a_live_lock_and_records_who_did_it(world, short_leases):
    stack = world.stack(BODY, state=STATE)
    assert world.cli("plan", stack).exit_code == 2
    holder = start_holder(world)
    try:
        refused = world.cli("lock", "release", stack)
        assert refused.exit_code == 1 and "--force" in refused.stderr
        released = world.cli("lock", "release", stack, "--force")
        assert released.exit_code == 0, released.stderr
        assert f"Released the lock of {world.sandbox.admin_user} (pid {holder.pid}" in released.stdout
        out, _ = holder.communicate(timeout=10)  # the holder notices at its next renewal and stops
        assert holder.returncode == 3 and "removed by someone else" in out
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    status = world.cli("lock", "status", stack)
    assert status.exit_code == 0 and "is not locked" in status.stdout
    assert "Forced release: " in status.stdout and f"{world.sandbox.admin_user} (on " in status.stdout
    # The released claims are listed; a holder that renewed while the release ran has two.
    assert "forced the release of " in status.stdout
    assert f"{world.sandbox.admin_user} (pid {holder.pid}" in status.stdout.split("forced the release of ", 1)[1]
    assert world.cli("apply", stack, "--yes").exit_code == 0


def test_lock_status_as_json(world):
    stack = world.stack(BODY, state=STATE)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    import json

    free = world.cli("lock", "status", stack, "--json")
    assert free.exit_code == 0 and json.loads(free.stdout)["held"] is False


def test_local_lock_status_and_release(world):
    stack = world.stack(BODY)
    assert world.cli("lock", "status", stack).exit_code == 0
    script = ("import sys, time; from platforge.core.state import LocalStateBackend\n"
              "cm = LocalStateBackend(sys.argv[1]).lock('apply'); cm.__enter__()\n"
              "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(stack / ".platforge" / "state.json")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        status = world.cli("lock", "status", stack)
        assert status.exit_code == 2 and f"(pid {holder.pid} on " in status.stdout
        refused = world.cli("lock", "release", stack, "--force")
        assert refused.exit_code == 1 and "cannot be released from outside" in refused.stderr
    finally:
        holder.kill()
        holder.wait()
    assert world.cli("lock", "status", stack).exit_code == 0


def test_an_apply_with_a_lock_timeout_waits_for_the_holder_instead_of_failing(world):
    """`apply --lock-timeout` (Terraform's -lock-timeout): a second CI job of the same stack waits
    for the first to finish; a holder that outlasts the timeout still fails it, saying how long
    it waited; only taking the lock is retried."""
    stack = world.stack(BODY, state=STATE)
    assert world.cli("plan", stack).exit_code == 2
    holder = start_holder(world)
    try:
        started = time.monotonic()
        short = world.cli("apply", stack, "--yes", "--lock-timeout", "1")
        assert short.exit_code == 1 and f"is locked by {world.sandbox.admin_user}" in short.stderr
        assert "(waited 1 s)" in short.stderr and time.monotonic() - started >= 1
        killer = threading.Timer(1.5, holder.terminate)  # the first job ends and lets go (a 60 s lease)
        killer.start()
        started = time.monotonic()
        waited = world.cli("apply", stack, "--yes", "--lock-timeout", "30")
        killer.join()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
    assert waited.exit_code == 0, waited.stderr
    assert time.monotonic() - started >= 1.5  # it did wait for the holder
    assert "waiting for the state lock" in waited.stderr and f"locked by {world.sandbox.admin_user}" in waited.stderr
    assert world.cli("plan", stack).exit_code == 0


def test_lock_status_needs_no_secret_and_no_valid_declaration(world, monkeypatch):
    """Seeing or releasing a lock reads only where the state is: a job that holds no secret (or a
    stack whose declarations are broken mid-edit) can still ask who holds the stack."""
    stack = world.stack(BODY + '[secret.db]\nvalue = { from_env = "LOCK_TEST_UNSET_SECRET" }\n', state=STATE)
    monkeypatch.delenv("LOCK_TEST_UNSET_SECRET", raising=False)
    assert world.cli("plan", stack).exit_code == 1  # a plan needs the value
    holder = start_holder(world)
    try:
        status = world.cli("lock", "status", stack)
        assert status.exit_code == 2, status.stderr
        assert f"is locked by {world.sandbox.admin_user} (pid {holder.pid} on " in status.stdout
        (stack / "main.toml").write_text((stack / "main.toml").read_text() + "[kv.broken]\nvalu = 1\n")
        assert world.cli("lock", "status", stack).exit_code == 2
    finally:
        holder.kill()
        holder.wait()
