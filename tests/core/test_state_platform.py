"""The platform state backend's integrity rules, over in-memory stores: the state is signed
with a key derived from the fingerprint key, the key is ours only if its check (written before
it, under the protected prefix) matches, two first runs agree on one key, and on a store with
ACLs nothing is written before the prefix is protected and nothing planted is used.

The same rules against the real sandbox, with a non-admin attacker, are in
tests/datatailr/e2e/test_state_security.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import pytest

from platforge.core.errors import StateError
from platforge.core.fingerprint import KEY_ENV
from platforge.core.state import ADOPT_ENV, Exposure, ObjectStoreStateBackend, ResourceState, State, keyed_mac

from .test_state_lock_protocol import LinearizableStore, backend_for

PREFIX = "platforge/stacks/s"
STATE = f"{PREFIX}/state.json"
KEY = f"{PREFIX}/fingerprint-key"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(ADOPT_ENV, raising=False)


def owning_victim() -> State:
    return State(stack="s", resources={"user.victim": ResourceState(kind="user", identity=["victim"])})


def test_the_state_is_signed_and_a_planted_or_altered_state_is_refused():
    store = LinearizableStore()
    backend = backend_for(store)
    backend.fingerprint_key()
    backend.save(State(stack="s"))
    document = json.loads(store.objects[STATE][0])
    assert document["signature"].startswith("hmac-sha256:")
    assert backend_for(store).load().stack == "s"

    store.objects[STATE] = (owning_victim().to_bytes(), 0.0)  # planted: no signature
    with pytest.raises(StateError, match="not signed"):
        backend_for(store).load()

    document["resources"] = json.loads(owning_victim().to_bytes())["resources"]  # altered, old signature
    store.objects[STATE] = (json.dumps(document).encode(), 0.0)
    with pytest.raises(StateError, match="does not match its signature"):
        backend_for(store).load()


def test_a_state_signed_for_another_stack_is_refused(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "k" * 32)  # one CI secret shared by two stacks
    store = LinearizableStore()
    backend_for(store, prefix="platforge/stacks/other").save(owning_victim())
    store.objects[STATE] = store.objects["platforge/stacks/other/state.json"]  # replayed into our prefix
    with pytest.raises(StateError, match="does not match its signature"):
        backend_for(store).load()


def test_with_the_key_from_the_environment_a_state_planted_by_anyone_is_refused(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "k" * 32)
    store = LinearizableStore()
    backend_for(store).save(State(stack="s"))
    assert backend_for(store).load() is not None
    attacker_key = b"x" * 32
    from platforge.core.state import sign_state

    store.objects[STATE] = (sign_state(owning_victim(), attacker_key, PREFIX), 0.0)
    with pytest.raises(StateError, match="does not match its signature"):
        backend_for(store).load()


def test_a_key_without_its_check_is_planted_and_refused():
    store = LinearizableStore()
    store.secrets[KEY] = "ab" * 32  # planted before the stack's first run
    with pytest.raises(StateError, match="not created by platforge"):
        backend_for(store).fingerprint_key()
    store.objects[f"{PREFIX}/fingerprint-key.check"] = (b"hmac-sha256:" + b"0" * 64, 0.0)
    with pytest.raises(StateError, match="does not match the key check"):
        backend_for(store).fingerprint_key()


@pytest.mark.parametrize("value", ["", "xyz", "abcd"])
def test_a_damaged_key_on_the_platform_is_a_clear_error(value):
    store = LinearizableStore()
    store.secrets[KEY] = value
    with pytest.raises(StateError, match="fingerprint key .* (empty|damaged|too short)"):
        backend_for(store).fingerprint_key()


def test_adopting_a_legacy_state_and_key_once_signs_them(monkeypatch):
    store = LinearizableStore()
    store.secrets[KEY] = "cd" * 32
    store.objects[STATE] = (owning_victim().to_bytes(), 0.0)
    with pytest.raises(StateError):
        backend_for(store).load()
    monkeypatch.setenv(ADOPT_ENV, "1")
    backend = backend_for(store)
    state = backend.load()
    assert "user.victim" in state.resources and backend.fingerprint_key() == bytes.fromhex("cd" * 32)
    with backend.lock("apply"):
        backend.save(state)
    monkeypatch.delenv(ADOPT_ENV)
    assert "user.victim" in backend_for(store).load().resources  # signed now, key checked


def test_two_first_runs_agree_on_one_key():
    store = LinearizableStore(max_delay=0.003)
    keys: list[bytes] = []
    barrier = threading.Barrier(3)

    def first_run() -> None:
        backend = backend_for(store)
        barrier.wait()
        keys.append(backend.fingerprint_key())

    threads = [threading.Thread(target=first_run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 3 and len(set(keys)) == 1
    assert bytes.fromhex(store.secrets[KEY]) == keys[0]
    assert store.objects[f"{PREFIX}/fingerprint-key.check"][0].decode() == keyed_mac(keys[0], "key-check", PREFIX, b"")


# ── stores with access control ──────────────────────────────────────────────────────────────


class AclStore(LinearizableStore):
    """A store with ACLs reduced to what the backend asks: per target, the untrusted writers
    and readers, and whether it carries an ACL. Records every write in order."""

    has_access_control = True

    def __init__(self) -> None:
        super().__init__()
        self.acls: dict[str, Exposure] = {}
        self.log: list[tuple[str, str]] = []

    def identity(self) -> str:
        return "admin"

    def put(self, name: str, data: bytes) -> None:
        self.log.append(("put", name))
        super().put(name, data)

    def put_secret(self, name: str, value: str) -> None:
        self.log.append(("put_secret", name))
        super().put_secret(name, value)

    def exposure(self, name: str, operators: Sequence[str], kind) -> Exposure:
        if name in self.acls:
            return self.acls[name]
        if kind == "secret":
            return Exposure(name, exists=name in self.secrets, has_acl=name in self.secrets)
        if kind == "directory":
            inside = any(n.startswith(name) for n in self.objects)
            return Exposure(name, exists=inside, has_acl=False)
        return Exposure(name, exists=name in self.objects, has_acl=name in self.objects)

    def protect(self, name: str, operators: Sequence[str], kind) -> bool:
        self.log.append(("protect", name))
        self.acls[name] = Exposure(name, has_acl=True)
        return True


def test_first_use_protects_the_prefix_before_writing_anything_else():
    store = AclStore()
    backend = ObjectStoreStateBackend(store, PREFIX)
    backend.fingerprint_key()
    with backend.lock("apply"):
        backend.save(State(stack="s"))
    first_protect = store.log.index(("protect", f"{PREFIX}/"))
    assert store.log[:first_protect] == [("put", f"{PREFIX}/protection.json")]  # what makes the directory exist
    key_index = store.log.index(("put_secret", KEY))
    assert store.log.index(("put", f"{PREFIX}/fingerprint-key.check")) < key_index
    assert ("protect", KEY) in store.log[key_index:]


def test_objects_under_an_unprotected_prefix_are_refused():
    store = AclStore()
    store.objects[STATE] = (owning_victim().to_bytes(), 0.0)
    with pytest.raises(StateError, match="never protected"):
        ObjectStoreStateBackend(store, PREFIX).load()
    store.objects.clear()
    store.objects[f"{PREFIX}/lock/9999999999999-deadbeefdeadbeef-h.json"] = (b"{}", 0.0)  # lock flooding
    with pytest.raises(StateError, match="never protected"), ObjectStoreStateBackend(store, PREFIX).lock("apply"):
        pass
    assert not store.log, "nothing was written"


def test_a_concurrent_first_run_between_its_marker_and_its_acl_is_not_refused():
    """Two first runs of one stack: the other wrote the protection marker and has not yet put the
    directory's ACL in place. Before: 'objects exist under ... never protected', and one of the
    runs failed (seen in the sandbox contention bench, 3 in 200 trials)."""
    store = AclStore()
    store.objects[f"{PREFIX}/protection.json"] = (b"{}", 0.0)
    backend = ObjectStoreStateBackend(store, PREFIX)
    with backend.lock("apply"):
        backend.save(State(stack="s"))
    assert ("protect", f"{PREFIX}/") in store.log
    assert ObjectStoreStateBackend(store, PREFIX).load() is not None


def test_a_planted_marker_with_an_untrusted_writer_is_still_refused():
    store = AclStore()
    store.objects[f"{PREFIX}/protection.json"] = (b"{}", 0.0)
    store.acls[f"{PREFIX}/protection.json"] = Exposure(f"{PREFIX}/protection.json", exists=True, has_acl=True,
                                                        writers=("user mallory",))
    with pytest.raises(StateError, match="mallory"), ObjectStoreStateBackend(store, PREFIX).lock("apply"):
        pass


def test_a_planted_key_under_a_fresh_prefix_is_refused():
    store = AclStore()
    store.secrets[KEY] = "ab" * 32
    with pytest.raises(StateError, match="fingerprint key already exists"):
        ObjectStoreStateBackend(store, PREFIX).fingerprint_key()
    assert not store.log


@pytest.mark.parametrize("target, what", [("", "enclosing"), ("platforge/stacks/", "enclosing"),
                                          (f"{PREFIX}/", "state directory"), (f"{PREFIX}/lock/", "lock directory")])
def test_anyone_else_who_can_write_the_state_is_named_and_refused(target, what):
    store = AclStore()
    backend = ObjectStoreStateBackend(store, PREFIX)
    backend.fingerprint_key()
    backend.save(State(stack="s"))
    store.acls[target] = Exposure(target, has_acl=True, writers=("user mallory",))
    with pytest.raises(StateError, match=f"{what}.*written by user mallory"):
        ObjectStoreStateBackend(store, PREFIX).load()


def test_a_key_others_can_read_is_refused():
    store = AclStore()
    backend = ObjectStoreStateBackend(store, PREFIX)
    backend.fingerprint_key()
    store.acls[KEY] = Exposure(KEY, has_acl=True, readers=("group analysts",))
    with pytest.raises(StateError, match="fingerprint key.*read or written by group analysts"):
        ObjectStoreStateBackend(store, PREFIX).fingerprint_key()
