"""`platforge drift --accept ADDRESS` against a Datatailr sandbox: the live values of the chosen
objects' out-of-band changes are written into the stack file in place (the file is byte-identical
but for those values: comments, blank lines, spacing, quoting and CRLF line ends elsewhere
survive), `plan` then shows no change for them; secrets are never written; an address with
nothing to accept is an error and nothing is written."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest

from tests.datatailr.e2e.conftest import World as DatatailrWorld

BODY = """\
# Team data stack: comments, blank lines and odd spacing must survive an accept.

[group.analysts]   # the analysts
[group.engineers]


[kv.config]
# what the pipeline reads
value    =   'first'     # edited by hand sometimes

[kv.other]
value = "also-first"   # changed on the platform, but not accepted

[kv.untouched]
value = "keep"  # never changes

[user.alice]
email = "alice@example.com"
groups = [ "analysts" ]   # odd spacing

[secret.token]
value = { from_env = "ACCEPT_SECRET" }   # a secret: never written
"""


@pytest.fixture
def world(sandbox_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatatailrWorld:
    world = DatatailrWorld(sandbox_factory(access_log=True), tmp_path, monkeypatch)
    monkeypatch.setenv("ACCEPT_SECRET", "s-" + secrets.token_hex(12))
    return world


def drifted(world: DatatailrWorld, newline: str = "\n") -> tuple[Path, bytes]:
    """The stack applied, then changed on the platform behind its back."""
    stack = world.stack(BODY)
    main = stack / "main.toml"
    if newline != "\n":
        main.write_bytes(main.read_bytes().replace(b"\n", newline.encode()))
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stderr
    with httpx.Client(base_url=world.sandbox.url) as http:
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password)).raise_for_status()
        for key, value in (("config", "changed-by-hand"), ("other", "also-changed")):
            http.put("/api/kv/put", json={"key": key, "value": value, "environment": "dev"}).raise_for_status()
        http.put("/api/kv/put", json={"key": "token", "value": "rotated-" + secrets.token_hex(6), "secure": True,
                                      "environment": "dev"}).raise_for_status()
        http.post("/api/group/add-users", json={"group_name": "engineers", "username": "alice"}).raise_for_status()
    return stack, main.read_bytes()


def plan_ops(world: DatatailrWorld, stack: Path) -> dict[str, str]:
    result = world.cli("plan", stack, "--json")
    assert result.exit_code in (0, 2), result.stderr
    return {a["address"]: a["op"] for a in json.loads(result.stdout)["actions"]}


def test_accepting_writes_only_the_live_values_in_place(world):
    stack, before = drifted(world)
    assert plan_ops(world, stack)["kv.config"] == "update"  # the plan would put the stack's value back

    result = world.cli("drift", stack, "--accept", "kv.config", "--accept", "user.alice")
    assert result.exit_code == 0, result.stderr
    assert "kv.config: accepted the live value of value into" in result.stdout
    assert "user.alice: accepted the live value of groups into" in result.stdout

    report = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    (groups,) = [c["new"] for f in report["findings"] if f["address"] == "user.alice" for c in f["changes"]
                 if f["cause"] == "out_of_band"]
    assert "engineers" in groups  # the live value, as the platform has it (with its default group)
    live = json.dumps(groups).encode()
    after = (stack / "main.toml").read_bytes()
    expected = (before
                .replace(b"value    =   'first'     # edited", b'value    =   "changed-by-hand"     # edited')
                .replace(b'groups = [ "analysts" ]   # odd', b"groups = " + live + b"   # odd"))
    assert expected != before
    assert after == expected  # byte-identical except the two accepted values

    ops = plan_ops(world, stack)
    assert ops["kv.config"] == "no-op" and ops["user.alice"] == "no-op"
    pending = world.cli("plan", stack)  # says why drift still differs: the state records the old values
    assert "the next apply records the declarations of 2 object(s)" in pending.stderr
    assert "(kv.config, user.alice)" in pending.stderr
    assert ops["kv.other"] == "update"  # not chosen: still planned back to the stack's value
    # Accept the rest too; then an apply has nothing to send, records the accepted values as
    # applied, and drift is clean but for the secret (which only an apply of its source settles).
    assert world.cli("drift", stack, "--accept", "kv.other").exit_code == 0
    mark = world.mark()
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0 and "No changes" in applied.stdout
    assert world.writes_since(mark) == []
    report = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {(f["cause"], f["address"]) for f in report["findings"]} == {("out_of_band", "secret.token")}
    assert "the next apply records" not in world.cli("plan", stack).stderr  # recorded now


def test_crlf_files_keep_their_line_ends(world):
    stack, before = drifted(world, newline="\r\n")
    assert b"\r\n" in before
    result = world.cli("drift", stack, "--accept", "kv.config")
    assert result.exit_code == 0, result.stderr
    after = (stack / "main.toml").read_bytes()
    assert after == before.replace(b"'first'", b'"changed-by-hand"')


@pytest.mark.parametrize(("addresses", "message"), [
    (["kv.untouched"], "kv.untouched: nothing to accept: no field changed on the platform since the last apply "
                       "(it is in sync)"),
    (["secret.token"], "platforge never writes a secret into a stack file"),
    (["group.nobody"], "group.nobody: not declared in this stack"),
    (["kv.config", "kv.untouched"], "kv.untouched: nothing to accept"),  # one bad address: nothing is written
])
def test_nothing_to_accept_is_an_error_and_writes_nothing(world, addresses, message):
    stack, before = drifted(world)
    result = world.cli("drift", stack, *[arg for a in addresses for arg in ("--accept", a)])
    assert result.exit_code == 1
    assert "nothing was accepted; no file was changed" in result.stderr
    assert message in " ".join(result.stderr.split())
    assert (stack / "main.toml").read_bytes() == before
    assert sorted(p.name for p in stack.iterdir() if p.name.endswith(".accept")) == []


def test_the_secret_s_value_never_reaches_the_file_or_the_output(world, monkeypatch):
    stack, before = drifted(world)
    secret = __import__("os").environ["ACCEPT_SECRET"]
    result = world.cli("drift", stack, "--accept", "secret.token")
    assert result.exit_code == 1
    assert secret not in result.stdout + result.stderr
    assert (stack / "main.toml").read_bytes() == before and secret.encode() not in before
