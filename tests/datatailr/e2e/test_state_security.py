"""The `platform` state backend against a non-admin attacker (issue 8), and damaged local state
files through the CLI: every refusal is exit 1 with a clear message, never a traceback.

The attacker, `mallory`, is an ordinary user of the same Datatailr installation: he may write
anywhere in the shared blob bucket that no ACL protects, and create KV secrets."""

from __future__ import annotations

import json
import secrets as pysecrets

import pytest
from platforge.provider._kit.client import PermissionDenied
from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin
from platforge.provider.datatailr.models import Acl
from platforge.provider.datatailr.platform import DatatailrObjectStore

from platforge.core.errors import StateError
from platforge.core.state import ObjectStoreStateBackend, ResourceState, State

STACK = "team"
PREFIX = f"platforge/stacks/{STACK}"
STATE = f'[state]\nbackend = "platform"\nprefix = "{PREFIX}"\n'
BODY = """
[user.uma]
email = "uma@example.com"
"""


def login(url: str, user: str, password: str) -> DatatailrClient:
    client = DatatailrClient(url, PasswordLogin(user, password))
    client.login()
    return client


@pytest.fixture
def admin(world) -> DatatailrClient:
    client = login(world.sandbox.url, world.sandbox.admin_user, world.sandbox.admin_password)
    yield client
    client.close()


def make_user(admin: DatatailrClient, world, name: str, groups: list[str] | None = None) -> DatatailrClient:
    password = "pw-" + pysecrets.token_urlsafe(12)
    admin.users.add(name, email=f"{name}@example.com", password=password, groups=groups)
    return login(world.sandbox.url, name, password)


@pytest.fixture
def mallory(admin, world) -> DatatailrClient:
    client = make_user(admin, world, "mallory")
    yield client
    client.close()


def plant_state(client: DatatailrClient, owned: dict[str, tuple[str, list]], prefix: str = PREFIX) -> None:
    state = State(stack=STACK, resources={address: ResourceState(kind=kind, identity=identity)
                                          for address, (kind, identity) in owned.items()})
    client.blobs.put(client.blobs.uri(f"{prefix}/state.json"), state.to_bytes())


def assert_clean_failure(result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# ── the attack: a planted state makes the admin's prune delete a user ───────────────


def test_a_planted_state_cannot_make_the_admins_prune_delete_a_user(world, admin, mallory):
    admin.users.add("victim", email="victim@example.com")
    with pytest.raises(PermissionDenied):
        mallory.users.rm("victim")  # 1. mallory cannot delete victim himself
    plant_state(mallory, {"user.victim": ("user", ["victim"])})  # 2. he claims the stack owns victim

    stack = world.stack(BODY, state=STATE)
    result = world.cli("apply", stack, "--prune", "--yes")  # 3. the admin's apply --prune
    assert_clean_failure(result, "never protected", f"{PREFIX}/state.json")
    assert admin.users.exists("victim"), "victim must still exist"


def test_after_the_first_apply_mallory_can_neither_plant_a_state_nor_read_anything(world, admin, mallory):
    admin.users.add("victim", email="victim@example.com")
    stack = world.stack(BODY, state=STATE)
    assert world.cli("apply", stack, "--yes").exit_code == 0

    with pytest.raises(PermissionDenied):  # the stack's directory is protected now
        plant_state(mallory, {"user.victim": ("user", ["victim"])})
    with pytest.raises(PermissionDenied):
        mallory.blobs.get(mallory.blobs.uri(f"{PREFIX}/state.json"))
    with pytest.raises(PermissionDenied):
        mallory.secrets.get(f"{PREFIX}/fingerprint-key", environment="dev")
    assert mallory.blobs.ls(mallory.blobs.uri(f"{PREFIX}/"), recursive=True) == []

    result = world.cli("apply", stack, "--prune", "--yes")
    assert result.exit_code == 0, result.stderr
    assert admin.users.exists("victim")


def test_whoever_planted_the_state_does_not_get_to_read_the_states_written_later(world, admin, mallory):
    """Today the admin's apply writes into mallory's object, whose ACL still lets him read it."""
    plant_state(mallory, {})
    stack = world.stack(BODY, state=STATE)
    assert_clean_failure(world.cli("apply", stack, "--yes"), "never protected")
    admin.blobs.rm(admin.blobs.uri(f"{PREFIX}/state.json"))  # what the message says: have it removed
    assert world.cli("apply", stack, "--yes").exit_code == 0
    with pytest.raises(PermissionDenied):
        mallory.blobs.get(mallory.blobs.uri(f"{PREFIX}/state.json"))


# ── lock flooding ────────────────────────────────────────────────────────────────────────────


def test_mallory_cannot_flood_the_lock_of_a_protected_stack(world, mallory):
    stack = world.stack(BODY, state=STATE)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    for name in (f"{PREFIX}/lock/9999999999999-deadbeefdeadbeef-h.json", f"{PREFIX}/state.lock"):
        with pytest.raises(PermissionDenied):
            mallory.blobs.put(mallory.blobs.uri(name), b"{}")
    (stack / "main.toml").write_text((stack / "main.toml").read_text() + '[kv.k]\nvalue = "v"\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0


def test_a_lock_flooded_before_the_first_apply_is_refused_not_obeyed(world, mallory):
    mallory.blobs.put(mallory.blobs.uri(f"{PREFIX}/lock/9999999999999-deadbeefdeadbeef-h.json"), b"{}")
    stack = world.stack(BODY, state=STATE)
    assert_clean_failure(world.cli("apply", stack, "--yes"), "never protected")


# ── planted keys and enclosing directories ───────────────────────────────────────────────────


def test_a_planted_fingerprint_key_is_refused(world, admin, mallory):
    mallory.secrets.put(f"{PREFIX}/fingerprint-key", "ab" * 32, environment="dev")
    stack = world.stack(BODY, state=STATE)
    assert_clean_failure(world.cli("plan", stack), "fingerprint key already exists")
    assert_clean_failure(world.cli("apply", stack, "--yes"), "fingerprint key already exists")
    assert not admin.users.exists("uma"), "nothing was applied"
    admin.secrets.rm(f"{PREFIX}/fingerprint-key", environment="dev")  # what the message says to do
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert admin.secrets.get(f"{PREFIX}/fingerprint-key", environment="dev").get_secret_value() != "ab" * 32


def test_a_directory_mallory_controls_above_the_stack_is_refused(world, admin, mallory):
    """He writes an object under `platforge/stacks/`, so that he may set that directory's ACL,
    and grants himself write there: it would reach every stack below."""
    mallory.blobs.put(mallory.blobs.uri("platforge/stacks/zz-mine"), b"x")
    mallory.blobs.set_acl(mallory.blobs.uri("platforge/stacks/"), Acl(users={"mallory": "rw"}))
    stack = world.stack(BODY, state=STATE)
    assert_clean_failure(world.cli("apply", stack, "--yes"), "user mallory", "enclosing")


def test_a_grant_to_someone_else_on_the_state_or_the_key_is_refused(world, admin, mallory):
    stack = world.stack(BODY, state=STATE)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    admin.secrets.add_acls(f"{PREFIX}/fingerprint-key", Acl(users={"mallory": "r"}), environment="dev")
    assert_clean_failure(world.cli("plan", stack), "fingerprint key", "user mallory")
    admin.secrets.set_acls(f"{PREFIX}/fingerprint-key", Acl(users={world.sandbox.admin_user: "rw"}), environment="dev")
    assert world.cli("plan", stack).exit_code == 0

    admin.blobs.set_acl(admin.blobs.uri(f"{PREFIX}/"), Acl(users={world.sandbox.admin_user: "rw", "mallory": "w"}))
    assert_clean_failure(world.cli("plan", stack), "user mallory", "can be written")


def test_with_the_key_in_ci_a_state_written_behind_platforges_back_is_refused(world, admin, monkeypatch):
    """Even someone who can write the state (here an administrator's raw API call) cannot make
    platforge use a state it did not sign: with the key outside the platform, this holds even
    for objects planted before the first run."""
    monkeypatch.setenv("PLATFORGE_FINGERPRINT_KEY", "ci-secret-" + "x" * 32)
    stack = world.stack(BODY, state=STATE)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    admin.users.add("victim", email="victim@example.com")
    plant_state(admin, {"user.victim": ("user", ["victim"])})
    assert_clean_failure(world.cli("apply", stack, "--prune", "--yes"), "not signed")
    assert admin.users.exists("victim")


# ── operators: the groups a stack names may share its state ─────────────────────────────────


def test_operators_share_the_state_and_nobody_else_can_reach_it(world, admin):
    admin.groups.add("ops")
    bob = make_user(admin, world, "bob", groups=["dtusers", "ops"])
    carol = make_user(admin, world, "carol")

    def backend(client: DatatailrClient) -> ObjectStoreStateBackend:
        return ObjectStoreStateBackend(DatatailrObjectStore(client, "dev"), PREFIX, operators=["ops"])

    first = backend(admin)
    key = first.fingerprint_key()  # the admin's first run protects the prefix and creates the key

    shared = backend(bob)  # an operator: same key, may take the lock and write the state
    assert shared.fingerprint_key() == key and shared.load() is None
    with shared.lock("apply"):
        shared.save(State(stack=STACK, serial=1))  # bob creates the state object
    assert backend(admin).load().serial == 1  # bob's writes are trusted by the admin's runs

    with pytest.raises(PermissionDenied):
        carol.blobs.get(carol.blobs.uri(f"{PREFIX}/state.json"))
    with pytest.raises(PermissionDenied):
        carol.secrets.get(f"{PREFIX}/fingerprint-key", environment="dev")
    with pytest.raises(PermissionDenied):
        carol.blobs.put(carol.blobs.uri(f"{PREFIX}/lock/9999999999999-deadbeefdeadbeef-h.json"), b"{}")

    # bob leaves the group: the state object he created still lets him write it, so it is refused
    admin.groups.rm_users("ops", ["bob"])
    with pytest.raises(StateError, match="state .* written by user bob"):
        backend(admin).load()
    with pytest.raises(StateError, match="state .* written by user bob"):
        with backend(admin).lock("apply"):  # taking the lock re-sets ACLs, but never launders a grant
            pass


# ── the stored documents ─────────────────────────────────────────────────────────────────────


def test_the_stored_state_is_signed_and_the_prefix_protected(world, admin):
    stack = world.stack(BODY, state=STATE)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    document = json.loads(admin.blobs.get(admin.blobs.uri(f"{PREFIX}/state.json")))
    assert document["signature"].startswith("hmac-sha256:") and "user.uma" in document["resources"]
    me = admin.users.get(world.sandbox.admin_user).user_id
    assert admin.blobs.get_acl(admin.blobs.uri(f"{PREFIX}/")).root == {"read": (me,), "write": (me,)}
    status = world.cli("lock", "status", stack)
    assert status.exit_code == 0 and "is not locked" in status.stdout


# ── damaged local files, through the CLI ────────────────────────────────────────────────────


DAMAGE = {
    "torn state": (lambda d: (d / ".platforge" / "state.json").write_text('{"format": "platforge.state/v1", "ser'),
                   "is damaged"),
    "empty state": (lambda d: (d / ".platforge" / "state.json").write_text(""), "is empty"),
    "invalid state": (lambda d: (d / ".platforge" / "state.json").write_text('{"format": "platforge.state/v1", '
                                                                             '"serial": "x"}'), "serial"),
    "empty key": (lambda d: (d / ".platforge" / "fingerprint.key").write_text(""), "fingerprint key"),
    "short key": (lambda d: (d / ".platforge" / "fingerprint.key").write_text("abc"), "fingerprint key"),
}
COMMANDS = {"plan": [], "apply": ["--yes"], "drift": [], "lock status": []}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_local_files_are_a_clear_error(world, damage):
    stack = world.stack(BODY)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    write, expected = DAMAGE[damage]
    write(stack)
    for command, extra in COMMANDS.items():
        if command == "lock status":  # needs neither the state nor the key
            assert world.cli("lock", "status", stack).exit_code == 0
            continue
        assert_clean_failure(world.cli(command, stack, *extra), expected)


def test_a_state_path_naming_a_directory_is_a_clear_error(world):
    stack = world.stack(BODY, state='[state]\npath = "somewhere"\n')
    (stack / "somewhere").mkdir()
    for args in (["plan", stack], ["apply", stack, "--yes"], ["lock", "status", stack]):
        assert_clean_failure(world.cli(*args), "is a directory")
