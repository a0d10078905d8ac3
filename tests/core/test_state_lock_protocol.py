"""The platform lock without compare-and-swap: intents with leases, list after write.

The property test runs many trials of two or three contenders against an in-memory,
linearizable object store that sleeps a random time before and after *every* request (so any
interleaving of requests, and any request taking effect long after it was sent, is exercised),
and that now and then delivers a put a second time, late (a retried request whose first attempt
was still in flight). It counts simultaneous holders: there must be none.

`PLATFORGE_LOCK_TRIALS` sets the number of trials (200 by default, the CI size; the benchmark
`bench/lock_contention.py` runs more and prints the figures).
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from platforge.core.errors import LockError
from platforge.core.state import ObjectInfo, ObjectStore, ObjectStoreStateBackend, State

# ── an in-memory linearizable store with injected delays ─────────────────────────────────────


class LinearizableStore(ObjectStore):
    """Every request takes effect atomically at one instant, between a random delay before it
    (the request travelling) and one after it (the answer travelling), each up to `max_delay`,
    or, for a `long_delay_rate` share of them, up to `long_delay` (a throttled request that is
    retried after its Retry-After, a stalled connection). With `duplicate_rate`,
    a put is delivered once more after a random extra delay, possibly long after it was
    acknowledged (a retried request whose first attempt arrives late)."""

    def __init__(self, rng: random.Random | None = None, max_delay: float = 0.0, duplicate_rate: float = 0.0,
                 max_duplicate_delay: float = 0.05, long_delay_rate: float = 0.0, long_delay: float = 0.0) -> None:
        self.objects: dict[str, tuple[bytes, float]] = {}
        self.secrets: dict[str, str] = {}
        self.rng = rng or random.Random()
        self.max_delay = max_delay
        self.duplicate_rate = duplicate_rate
        self.max_duplicate_delay = max_duplicate_delay
        self.long_delay_rate = long_delay_rate
        self.long_delay = long_delay
        self.requests: Counter[str] = Counter()
        self.hooks: dict[str, object] = {}  # op -> callable(name) run before the delay (tests)
        self._mutex = threading.Lock()
        self._timers: list[threading.Timer] = []

    def _travel(self) -> None:
        with self._mutex:
            slow = self.long_delay_rate and self.rng.random() < self.long_delay_rate
            delay = self.rng.uniform(0, self.long_delay if slow else self.max_delay)
        if delay:
            time.sleep(delay)

    def _request(self, op: str, name: str, action):
        hook = self.hooks.get(op)
        if hook is not None:
            hook(name)  # type: ignore[operator]
        self._travel()
        with self._mutex:
            self.requests[op] += 1
            result = action()
        self._travel()
        return result

    def get(self, name: str) -> bytes | None:
        return self._request("get", name, lambda: (self.objects.get(name) or (None,))[0])

    def put(self, name: str, data: bytes) -> None:
        self._request("put", name, lambda: self.objects.__setitem__(name, (data, time.time())))
        with self._mutex:
            duplicate = self.duplicate_rate and self.rng.random() < self.duplicate_rate
            late = self.rng.uniform(0, self.max_duplicate_delay)
        if duplicate:
            timer = threading.Timer(late, self._land_late, (name, data))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def _land_late(self, name: str, data: bytes) -> None:
        with self._mutex:
            self.requests["late put"] += 1
            self.objects[name] = (data, time.time())

    def delete(self, name: str) -> bool:
        return self._request("delete", name, lambda: self.objects.pop(name, None) is not None)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self._request("list", prefix, lambda: [ObjectInfo(n, modified=t) for n, (_, t) in sorted(self.objects.items())
                                                      if n.startswith(prefix)])

    def get_secret(self, name: str) -> str | None:
        return self._request("get_secret", name, lambda: self.secrets.get(name))

    def put_secret(self, name: str, value: str) -> None:
        self._request("put_secret", name, lambda: self.secrets.__setitem__(name, value))

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()


def backend_for(store: ObjectStore, prefix: str = "platforge/stacks/s", lease: float = 5.0, skew: float = 0.0,
                backoff: float = 0.005) -> ObjectStoreStateBackend:
    backend = ObjectStoreStateBackend(store, prefix)
    backend.lease_seconds = lease
    backend.clock_skew_seconds = skew
    backend.backoff_seconds = backoff
    return backend


# ── the contention harness (also used by bench/lock_contention.py) ───────────────────────────


@dataclass
class ContentionReport:
    trials: int = 0
    contenders: int = 0
    acquisitions: int = 0
    double_holders: int = 0  # pairs of holders whose entitled windows overlapped
    peak_holders: int = 0
    lost_leases: int = 0  # holders whose lease lapsed inside their critical section (they stop writing)
    killed: int = 0  # holders that "died" holding the lock (their lease had to expire)
    gave_up: int = 0  # contenders that never got the lock within the trial's time limit
    lock_errors: int = 0  # LockErrors seen (a held lock or a tie), each followed by a retry
    errors: list[str] = field(default_factory=list)  # anything else a contender died of
    late_puts: int = 0
    requests: Counter = field(default_factory=Counter)
    acquire_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        latencies = sorted(self.acquire_seconds) or [0.0]
        return {
            "trials": self.trials, "contenders": self.contenders, "acquisitions": self.acquisitions, "double_holders": self.double_holders,
            "peak_holders": self.peak_holders, "lost_leases": self.lost_leases, "killed_holders": self.killed,
            "gave_up": self.gave_up, "lock_errors_retried": self.lock_errors, "late_duplicate_puts": self.late_puts,
            "errors": self.errors,
            "requests": dict(self.requests), "seconds": round(self.seconds, 2),
            "acquire_ms_median": round(statistics.median(latencies) * 1000, 1),
            "acquire_ms_p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        }


def _peak(windows: list[tuple[float, float]]) -> tuple[int, int]:
    """(overlapping pairs, the most windows open at once) of [start, end) windows."""
    pairs = sum(1 for i, a in enumerate(windows) for b in windows[i + 1:] if a[0] < b[1] and b[0] < a[1])
    events = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows], key=lambda e: (e[0], e[1]))
    peak = inside = 0
    for _, step in events:
        inside += step
        peak = max(peak, inside)
    return pairs, peak


def _trial(trial: int, seed: float, store, lease: float, kill_rate: float, long_hold_rate: float,
           trial_timeout: float, report: ContentionReport, mutex: threading.Lock) -> None:
    """One round: 2 or 3 contenders race for one stack's lock. Each holder's *entitled window*
    runs from the moment it learns it holds the lock until it leaves, dies, or its lease
    deadline passes, whichever is first: a holder may act only inside it."""
    rng = random.Random(seed)
    contenders = rng.choice((2, 3))
    victim = rng.randrange(contenders) if rng.random() < kill_rate else None
    barrier = threading.Barrier(contenders)
    prefix = f"platforge/stacks/trial-{trial}"
    windows: list[tuple[float, float]] = []
    counts: Counter[str] = Counter()
    latencies: list[float] = []
    local_mutex = threading.Lock()

    def count(what: str) -> None:
        with local_mutex:
            counts[what] += 1

    dead: list = []  # the lock context managers of dead holders, kept from being finalised

    def contender(index: int, seed: float) -> None:
        local = random.Random(seed)
        backend = backend_for(store, prefix, lease=lease, skew=0.0, backoff=0.002)
        barrier.wait()
        give_up = time.monotonic() + trial_timeout
        while time.monotonic() < give_up:
            began = time.monotonic()
            lock = backend.lock("apply")  # the public interface, entered and left by hand
            try:
                lock.__enter__()
            except LockError:
                count("lock_errors")
                time.sleep(local.uniform(0, 0.01))
                continue
            held = getattr(backend, "_lease", None)
            entered = time.monotonic()
            latencies.append(entered - began)
            long = local.random() < long_hold_rate
            time.sleep(local.uniform(lease / 3, lease / 2) if long else local.uniform(0, 0.004))
            if index == victim:  # dies holding the lock: no more renewals, no release
                if held is not None:
                    held._stop.set()
                dead.append(lock)
                windows.append((entered, time.monotonic()))
                count("killed")
                return
            left = deadline = time.monotonic()
            if held is not None:
                try:
                    held.check("finish", after=True)
                except LockError:
                    count("lost")
                with held._mutex:
                    deadline = held.deadline
            windows.append((entered, min(left, deadline)))
            lock.__exit__(None, None, None)
            return
        count("gave_up")

    errors: list[str] = []

    def guarded(index: int, seed: float) -> None:
        # A contender that dies of anything but a LockError must show in the report, not only
        # as a thread warning: the counts would otherwise silently come up short.
        try:
            contender(index, seed)
        except Exception as exc:  # noqa: BLE001
            with local_mutex:
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=guarded, args=(i, rng.random())) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pairs, peak = _peak(windows)
    for lock in dead:  # the trial is over: let the dead holders' context managers go quietly
        generator = getattr(lock, "gen", None)
        if generator is not None:
            generator.close()
    with mutex:
        report.trials += 1
        report.contenders += contenders
        report.acquisitions += len(windows)
        report.double_holders += pairs
        report.peak_holders = max(report.peak_holders, peak)
        report.lost_leases += counts["lost"]
        report.killed += counts["killed"]
        report.gave_up += counts["gave_up"]
        report.lock_errors += counts["lock_errors"]
        report.errors += errors
        report.acquire_seconds += latencies
        if isinstance(store, LinearizableStore):
            store.close()
            report.requests.update(store.requests)
            report.late_puts += store.requests["late put"]


def run_contention(trials: int, seed: int = 0, max_delay: float = 0.002, duplicate_rate: float = 0.005,
                   long_delay_rate: float = 0.01, long_delay: float = 0.6, lease: float = 0.3,
                   kill_rate: float = 0.03, long_hold_rate: float = 0.04, trial_timeout: float = 10.0,
                   parallel: int = 8, store_factory=None) -> ContentionReport:
    """`trials` rounds of 2 or 3 contenders, each taking the lock once and holding it briefly
    (a `long_hold_rate` share hold it for a third to half a lease, so that renewals happen
    under contention); a `kill_rate` share of trials has a holder die without releasing (the
    others must wait for its lease). Rounds are independent (one store each) and `parallel`
    of them run at once. `store_factory(rng)` builds the store of one round (default: an
    in-memory `LinearizableStore` with delays up to `max_delay` on each side of every request,
    now and then one up to `long_delay` (longer than the lease), and late duplicate puts)."""
    rng = random.Random(seed)
    report = ContentionReport()
    mutex = threading.Lock()
    started = time.monotonic()
    rounds = []
    for trial in range(trials):
        store_rng = random.Random(rng.random())
        store = (store_factory(store_rng) if store_factory is not None
                 else LinearizableStore(store_rng, max_delay, duplicate_rate, long_delay_rate=long_delay_rate,
                                        long_delay=long_delay))
        rounds.append((trial, rng.random(), store))
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for future in [pool.submit(_trial, trial, seed_, store, lease, kill_rate, long_hold_rate, trial_timeout,
                                   report, mutex) for trial, seed_, store in rounds]:
            future.result()
    report.seconds = time.monotonic() - started
    return report


TRIALS = int(os.environ.get("PLATFORGE_LOCK_TRIALS", "200"))


def test_no_two_holders_under_random_delays_on_every_request():
    report = run_contention(TRIALS, seed=int(os.environ.get("PLATFORGE_LOCK_SEED", "1")))
    summary = report.summary()
    print("lock contention:", summary)
    assert report.trials == TRIALS
    assert report.double_holders == 0 and report.peak_holders == 1, summary
    assert report.gave_up == 0 and report.errors == [] and report.acquisitions == report.contenders, summary  # everyone got it in the end
    if TRIALS >= 100:
        assert report.killed > 0 and report.late_puts > 0, "the trials exercise dead holders and late duplicates"
    assert report.requests["put"] and report.requests["list"] and report.requests["delete"]


# ── deterministic scenarios ──────────────────────────────────────────────────────────────────


class Intervals:
    """Records when each contender held the lock, to check that no two overlap."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[float, float]] = {}
        self.errors: dict[str, str] = {}

    def run(self, name: str, backend, hold: float, start_after: float = 0.0) -> threading.Thread:
        """Take the lock in a thread named `name`, hold it for `hold` seconds."""
        def body() -> None:
            time.sleep(start_after)
            try:
                with backend.lock("apply"):
                    began = time.monotonic()
                    time.sleep(hold)
                    self.held[name] = (began, time.monotonic())
            except LockError as exc:
                self.errors[name] = str(exc)

        thread = threading.Thread(target=body, name=name)
        thread.start()
        return thread

    def overlapping(self) -> bool:
        spans = sorted(self.held.values())
        return any(b[0] < a[1] for a, b in itertools.pairwise(spans))


def test_a_delayed_lock_write_cannot_make_two_holders():
    """The write of B's lock is delayed past the old 0.3 s settle time (a throttled request
    retried later): B must not hold the lock while A does."""
    store = LinearizableStore()
    delayed = {"done": False}

    def slow_first_put(name: str) -> None:
        if threading.current_thread().name == "b" and not delayed["done"]:
            delayed["done"] = True
            time.sleep(0.6)

    store.hooks["put"] = slow_first_put
    intervals = Intervals()
    b = intervals.run("b", backend_for(store), hold=0.1)
    a = intervals.run("a", backend_for(store), hold=1.2, start_after=0.1)
    a.join()
    b.join()
    assert delayed["done"]
    assert not intervals.overlapping(), intervals.held
    assert "a" in intervals.held and "b" in intervals.errors
    assert "is locked by" in intervals.errors["b"]


def test_the_lock_message_names_the_holder_grammatically():
    store = LinearizableStore()
    with backend_for(store).lock("apply"), pytest.raises(LockError) as blocked, backend_for(store).lock("apply"):
        pass
    message = str(blocked.value)
    assert "is locked by" in message and "locked held by" not in message
    assert f"pid {os.getpid()} on" in message and "running apply since" in message and "lease ends in" in message


def test_an_intent_deleted_after_the_listing_is_no_phantom_holder():
    """The holder renews (a new intent, the old one deleted) between a contender's listing and
    its read of each intent: the deleted one blocks nobody, so the message names the holder
    only, not also "an unidentified run (...-a.json)" (seen by two CI jobs of one stack)."""
    store = LinearizableStore()
    with backend_for(store).lock("apply"):
        (held,) = [n for n in store.objects if "/lock/" in n]
        phantom = held.replace(held.rsplit("/", 1)[-1], "9999999999999-0123456789abcdef-a.json")
        store.objects[phantom] = store.objects[held]  # listed ...
        store.hooks["get"] = lambda name: store.objects.pop(name, None) if name == phantom else None  # ... then gone
        with pytest.raises(LockError) as blocked, backend_for(store).lock("apply"):
            pass
        store.hooks.clear()
    message = str(blocked.value)
    assert f"pid {os.getpid()} on" in message
    assert "unidentified" not in message, message


def test_a_killed_holder_blocks_only_until_its_lease_ends():
    store = LinearizableStore()
    dead = backend_for(store, lease=0.5, skew=0.1)
    dead._acquire("apply")._stop.set()  # killed holding the lock: no more renewals, no release
    with pytest.raises(LockError, match="is locked by"), backend_for(store, lease=0.5, skew=0.1).lock("apply"):
        pass
    time.sleep(0.7)
    with backend_for(store, lease=0.5, skew=0.1).lock("apply"):
        pass
    assert not [n for n in store.objects if "/lock/" in n], "the dead holder's intent was cleaned up"


def test_a_live_holder_keeps_its_lock_beyond_the_lease_by_renewing():
    store = LinearizableStore()
    backend = backend_for(store, lease=0.3)
    with backend.lock("apply"):
        time.sleep(0.8)  # more than two leases
        with pytest.raises(LockError, match="is locked by"), backend_for(store, lease=0.3).lock("apply"):
            pass
        backend.save(State(stack="s"))
    assert store.requests["put"] >= 5  # renewals happened


def test_a_holder_that_cannot_renew_stops_writing():
    store = LinearizableStore()
    backend = backend_for(store, lease=0.4)
    broken = {"on": False}

    def fail_puts(name: str) -> None:
        if broken["on"] and "/lock/" in name:
            raise ConnectionError("the platform is unreachable")

    store.hooks["put"] = fail_puts
    with backend.lock("apply"):
        broken["on"] = True
        time.sleep(0.5)
        with pytest.raises(LockError, match="lost the lock|could not be renewed"):
            backend.save(State(stack="s"))
        broken["on"] = False
        assert store.get("platforge/stacks/s/state.json") is None, "nothing was written"
        with backend_for(store, lease=0.4).lock("apply"):  # and someone else may take over
            pass


def test_a_renewal_acknowledged_after_the_lease_loses_the_lock():
    store = LinearizableStore()
    backend = backend_for(store, lease=0.4)
    slow = {"on": False}

    def slow_renewal(name: str) -> None:
        if slow["on"] and name.endswith("-h.json"):
            slow["on"] = False
            time.sleep(0.5)

    store.hooks["put"] = slow_renewal
    with backend.lock("apply"):
        slow["on"] = True
        time.sleep(0.75)
        with pytest.raises(LockError, match="lost the lock"):
            backend.save(State(stack="s"))


def test_forced_release_is_recorded_and_noticed_by_the_holder():
    store = LinearizableStore()
    holder = backend_for(store, lease=0.4)
    with holder.lock("apply"):
        other = backend_for(store, lease=0.4)
        with pytest.raises(LockError, match="--force"):
            other.release_lock()
        released = other.release_lock(force=True)
        assert len(released) == 1 and released[0].operation == "apply"
        status = other.lock_status()
        assert not status.held and status.events[-1]["event"] == "force-release"
        assert status.events[-1]["released"][0]["pid"] == os.getpid()
        time.sleep(0.25)  # the holder's next renewal notices
        with pytest.raises(LockError, match="removed by someone else"):
            holder.save(State(stack="s"))


def test_lock_status_shows_holders_and_expired_claims():
    store = LinearizableStore()
    # Leases long enough that a loaded CI machine still renews in time, short enough to expire.
    backend = backend_for(store, lease=1.5)
    assert not backend.lock_status().held
    with backend.lock("apply"):
        status = backend_for(store, lease=1.5).lock_status()
        assert status.held and status.holders[0].operation == "apply" and status.holders[0].expires
    dead = backend_for(store, lease=1.5)
    dead._acquire("retarget")._stop.set()
    time.sleep(1.7)
    status = backend_for(store, lease=1.5).lock_status()
    assert not status.held and status.stale[0].operation == "retarget"
    assert len(backend_for(store, lease=1.5).release_lock()) == 1  # an expired claim needs no --force
    assert not backend_for(store).lock_status().stale


def test_a_holder_renewing_between_listing_and_read_is_still_named():
    """The holder's only intent is replaced by its renewal between a contender's listing and
    its read: the contender lists again and names the holder, not "an unidentified run"
    (CI, a 2 s test lease renewing every 0.7 s)."""
    store = LinearizableStore()
    with backend_for(store).lock("apply"):
        (held,) = [n for n in store.objects if "/lock/" in n]
        renewed = held.replace(held.rsplit("/", 1)[-1], "9999999999999-0123456789abcdef-h.json")

        def renew(name: str) -> None:
            if name == held and held in store.objects:
                store.objects[renewed] = store.objects.pop(held)

        store.hooks["get"] = renew
        with pytest.raises(LockError) as blocked, backend_for(store).lock("apply"):
            pass
        status = backend_for(store).lock_status()
        store.hooks.clear()
    message = str(blocked.value)
    assert f"pid {os.getpid()} on" in message and "unidentified" not in message, message
    assert [info.pid for info in status.holders] == [os.getpid()], status.holders
