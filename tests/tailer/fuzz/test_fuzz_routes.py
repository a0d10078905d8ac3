"""Seeded random fuzzing of every Tailer sandbox route: generated requests (the SDK's own bodies
bent out of shape, wrong types for real keys, random JSON, junk bytes, random and hostile
pickles, odd identities and run ids) sent with a valid ID token, a forged one and none. The
sandbox must answer each with a 2xx, or a 4xx in the error shape of the service the path
belongs to, never a 5xx and never a dropped connection; afterwards the database must be whole
(SQLite's integrity and foreign-key checks; documents agreeing with their columns; deploy counts
agreeing with the deploy log; runs pointing at configurations) and `/_sandbox/configurations`
must equal the database.

`PLATFORGE_TAILER_FUZZ_REQUESTS` sets the number of requests (default 2,000, the CI size, well
under a minute; the bench size is 20,000) and `PLATFORGE_TAILER_FUZZ_SEED` the seed.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.tailer.sandbox.conftest import Tailer, start_tailer
from tests.tailer.sandbox.docs import ACCOUNT, configuration, dag_body, deploy_body, seal

pytestmark = pytest.mark.fuzz

REQUESTS = int(os.environ.get("PLATFORGE_TAILER_FUZZ_REQUESTS", "2000"))
SEED = int(os.environ.get("PLATFORGE_TAILER_FUZZ_SEED", "20261130"))
TYPES = ["context", "storage-to-storage", "storage-to-tables", "table-to-storage", "workflow", "vm-launcher",
         "api-to-storage", "xml-conversion", "file-utilities"]
KEYS = ["configuration_type", "configuration_id", "environment", "account", "activated", "archived", "version", "source",
        "destinations", "tables", "type", "parameters", "value", "resource", "resource_type", "payload", "uid",
        "project_profile", "deploy_cf", "execute_dag", "dag_file", "name", "data", "action", "run_id", "job_id", "status",
        "limit", "execution_date", "context-id", "gcp_credentials_secret", "tasks", "sql", "target_dag", "workflow"]
ROUTES = [("POST", "/configuration/v2"), ("PUT", "/configuration/v2"), ("POST", "/configuration/v2/help"),
          ("POST", "/project-profile"), ("PUT", "/dag-generator-v2"), ("POST", "/v1/dag/launch"), ("POST", "/v1/dag/status"),
          ("POST", "/v1/workflow/status"), ("POST", "/v1/configuration/status"), ("GET", "/_sandbox/configurations"),
          ("GET", "/_sandbox/deploys"), ("POST", "/_sandbox/runs"), ("POST", "/securetoken/v1/token"),
          ("GET", "/v1/dag/status"), ("DELETE", "/configuration/v2"), ("POST", "/nowhere"), ("GET", "/healthz")]
WEIGHTS = [14, 22, 2, 2, 10, 6, 12, 4, 8, 1, 1, 3, 4, 1, 1, 1, 1]


def _scalar(rng: random.Random) -> Any:
    return rng.choice([None, True, False, 0, -1, 1, 2**63, 2**64, 1.5, -0.0, 1e308, "", "x", "é✓", "a" * 300, "\u202e",
                       ACCOUNT, "000000", "DEV", "PROD", "qa", "table-to-table", "gbq-to-gbq", "workflow", "context",
                       "SUCCESS", "FAILED", "RUNNING", "../../etc/passwd", "%00", "{{sa}}", "2024-01-01", "None"])


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.55:
        return _scalar(rng)
    if roll < 0.75:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _mutate(rng: random.Random, doc: Any, times: int) -> Any:
    """Change `times` random places of a nested document: drop, replace or add a key, anywhere."""
    for _ in range(times):
        target = doc
        for _ in range(rng.randint(0, 3)):
            children = list(target.values()) if isinstance(target, dict) else target if isinstance(target, list) else []
            children = [c for c in children if isinstance(c, dict | list) and c]
            if not children:
                break
            target = rng.choice(children)
        if isinstance(target, dict) and target:
            key = rng.choice(sorted(target, key=str))
            action = rng.choice(["drop", "set", "add"])
            if action == "drop":
                target.pop(key)
            elif action == "set":
                target[key] = _value(rng)
            else:
                target[rng.choice(KEYS)] = _value(rng)
        elif isinstance(target, list) and target:
            target[rng.randrange(len(target))] = _value(rng)
    return doc


class World:
    """What the generator aims at: deployed identities and run ids, refreshed from the database."""

    def __init__(self, box: Tailer, sealed: dict[str, str]) -> None:
        self.box = box
        self.sealed = sealed
        self.configs: list[tuple[str, str, str, str]] = []
        self.runs: list[tuple[str, str, str, str, str]] = []
        self.refresh()

    def refresh(self) -> None:
        with self.box.app.state.store.read() as db:
            self.configs = [tuple(r) for r in db.all(
                "SELECT account, environment, configuration_type, configuration_id FROM tl_configurations")]
            self.runs = [tuple(r) for r in db.all(
                "SELECT c.account, c.environment, c.configuration_type, c.configuration_id, r.run_id FROM tl_runs r "
                "JOIN tl_configurations c ON c.id = r.config")]

    def identity(self, rng: random.Random) -> dict[str, Any]:
        if self.configs and rng.random() < 0.8:
            account, environment, kind, cid = rng.choice(self.configs)
            kind = {"gbq-to-gbq": rng.choice(["gbq-to-gbq", "table-to-table"])}.get(kind, kind)
        else:
            account, environment, kind, cid = (ACCOUNT, rng.choice(["DEV", "PROD", "X"]), rng.choice(TYPES + ["table-to-table"]),
                                               rng.choice(["nope", f"{ACCOUNT}_x_DEV", "", "a/b"]))
        return {"account": account, "environment": environment, "configuration_type": kind, "configuration_id": cid}

    def run(self, rng: random.Random) -> dict[str, Any]:
        if self.runs and rng.random() < 0.8:
            account, environment, kind, cid, run_id = rng.choice(self.runs)
            return {"account": account, "environment": environment, "configuration_type": kind, "configuration_id": cid,
                    "run_id": run_id}
        return {**self.identity(rng), "run_id": rng.choice(["20240101-" + "0" * 36, "x", "", secrets.token_hex(8)])}


def _ops_body(rng: random.Random, world: World, path: str) -> dict[str, Any]:
    if path == "/v1/dag/launch":
        body = {"action": "launch_job", **world.identity(rng)}
        if rng.random() < 0.3:
            body["execution_date"] = rng.choice(["2024-01-01", "2024-13-01", "x", 5])
    elif path == "/v1/dag/status":
        action = rng.choice(["check_run_status", "get_last_status", "get_by_status", "set_run_status", "nope"])
        body = {"action": action, **(world.run(rng) if action in ("check_run_status", "set_run_status") else world.identity(rng))}
        body.update({k: v for k, v in {"status": rng.choice(["SUCCESS", "FAILED", "RUNNING", "NO_MATCH", "CHECKED", "DONE", None]),
                                       "limit": rng.choice([None, 1, 5, 0, 1001, "3", -1]),
                                       "execution_date": rng.choice([None, None, "2024-01-01", "bad"])}.items() if v is not None})
    elif path == "/v1/workflow/status":
        body = {"action": "reset_workflow_status", **world.identity(rng)}
    else:
        body = {"action": "set_configuration_status", **world.identity(rng), "activated": rng.choice([True, False, True, "x"]),
                "archived": rng.choice([False, False, True, None])}
    return body


def _proxy_body(rng: random.Random, world: World, method: str, path: str) -> Any:
    if path == "/dag-generator-v2":
        name = rng.choice([f"{ACCOUNT}_fz{rng.randint(0, 9)}_DEV", f"{ACCOUNT}_x_DEV"])
        roll = rng.random()
        if roll < 0.15:
            return {"payload": {"resource": "check_dag_exists", "dag_file": {"name": rng.choice([name + ".py", "../x.py", 3])}}}
        body = dag_body(name, tasks=rng.choice([("prep_sales", "agg_sales"), ("q1",), ("only_one",)]))
        if roll < 0.35:
            body["payload"]["resource"] = base64.b64encode(rng.randbytes(rng.randint(0, 80))).decode()
        elif roll < 0.45:
            body["payload"]["resource"] = base64.b64encode(pickle.dumps(_value(rng), protocol=rng.randint(0, 5))).decode()
        elif roll < 0.5:
            raw = bytearray(pickle.dumps({"configuration": _value(rng)}))
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            body["payload"]["resource"] = base64.b64encode(bytes(raw)).decode()
        return _mutate(rng, body, rng.randint(0, 2))
    if path == "/configuration/v2" and method == "PUT":
        doc = configuration(rng.choice(TYPES), world.sealed, rng.choice([None, f"{ACCOUNT}-fz-{rng.randint(0, 15)}"]))
        body = deploy_body(doc, execute_dag=rng.random() < 0.2)
        return _mutate(rng, body, rng.choice([0, 0, 0, 1, 1, 2, 3]))
    if path == "/configuration/v2":
        kind = rng.choice(["check-configuration", "get-gcp-project-id", "get-context-for-user", "retrieve-context",
                           "configuration-type", "other", None])
        resource: Any = configuration(rng.choice(TYPES), world.sealed)
        if kind == "retrieve-context":
            contexts = [c[3] for c in world.configs if c[2] == "context"]
            resource = rng.choice(contexts + ["nope", 5]) if contexts else "nope"
        elif kind == "configuration-type":
            resource = rng.choice(TYPES + ["table-to-table", "x", 1])
        return _mutate(rng, {"payload": {"resource_type": kind, "resource": resource, "uid": "sandbox-user"}},
                       rng.choice([0, 1, 2]))
    if path == "/_sandbox/runs":
        return {**world.identity(rng), "status": rng.choice(["RUNNING", "FAILED", "X"])}
    return {"payload": {"resource_type": "help", "resource": rng.choice(["deploy_help", "check_help", "x"]), "uid": "u"}}


def _request(rng: random.Random, world: World) -> tuple[str, str, dict[str, str], bytes | None, dict[str, str]]:
    method, path = rng.choices(ROUTES, WEIGHTS)[0]
    params: dict[str, str] = {}
    headers = {"content-type": "application/json"}
    if path.startswith("/securetoken/"):
        params["key"] = rng.choice([world.box.api_key] * 3 + ["", "x" * 40])
        doc: Any = {"grantType": rng.choice(["refresh_token", "password", None]),
                    "refreshToken": rng.choice([world.box.refresh_token, secrets.token_urlsafe(20), 5, ""])}
    elif path.startswith("/v1/"):
        doc = _mutate(rng, _ops_body(rng, world, path), rng.choice([0, 0, 1, 2]))
    else:
        doc = _proxy_body(rng, world, method, path)
    roll = rng.random()
    if method in ("GET", "DELETE"):
        body = None
    elif roll < 0.8:
        body = json.dumps(doc).encode()
    elif roll < 0.88:
        body = json.dumps(_value(rng)).encode()
    elif roll < 0.94:
        body = rng.randbytes(rng.randint(0, 60))
    else:
        body = rng.choice([b"[" * 200, b'{"payload":' * 100, b"NaN", b'"\\ud800"', b'{"payload": {"uid": "\\u0000"}}', b"1e999",
                           b'{"payload": {"resource": {"configuration_id": "\\udfff"}}}', b"grant_type=refresh_token"])
        if body.startswith(b"grant"):
            headers = {"content-type": "application/x-www-form-urlencoded"}
    return method, path, params, body, headers


def _check_error_shape(path: str, response: httpx.Response) -> None:
    error = response.json()
    if path.startswith("/v1/"):
        assert set(error) == {"code", "data", "message"} and error["code"] == response.status_code, response.text
    elif path.startswith("/securetoken/"):
        assert set(error) == {"error"} and error["error"]["message"], response.text
    else:
        assert set(error) == {"payload"} and error["payload"]["message"], response.text


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Tailer, Counter[str]]]:
    from platforge.provider.tailer.sandbox.crypto import Keys

    box = start_tailer(tmp_path_factory.mktemp("tailer-fuzz"), 0, rsa_key=Keys.generate(), run_seconds=0.05,
                       max_body_bytes=256 * 1024)
    stats: Counter[str] = Counter()
    yield box, stats
    print(f"\ntailer fuzz summary: {json.dumps(dict(sorted(stats.items())))}")
    report = os.environ.get("PLATFORGE_FUZZ_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"tailer": dict(stats)}) + "\n")
    box.stop()


def test_no_server_errors(target: tuple[Tailer, Counter[str]]) -> None:
    from platforge.provider.tailer.sandbox import public_key_pem

    box, stats = target
    rng = random.Random(SEED)
    world = World(box, seal(json.dumps({"type": "service_account", "k": secrets.token_hex(8)}), public_key_pem(box.app)))
    token = box.id_token()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    started = time.monotonic()
    with httpx.Client(base_url=box.url, timeout=30, trust_env=False) as client:
        for n in range(REQUESTS):
            method, path, params, body, headers = _request(rng, world)
            caller = rng.choices(["valid", "forged", "none"], [90, 5, 5])[0]
            if caller != "none":
                headers = {**headers, "authorization": f"Bearer {token if caller == 'valid' else forged}"}
            response = client.request(method, path, params=params, content=body, headers=headers)
            status = response.status_code
            stats["requests"] += 1
            stats[str(status)] += 1
            assert status < 500, f"{method} {path} {body[:300] if body else b''!r} answered {status}: {response.text[:300]}"
            if status >= 400:
                _check_error_shape(path, response)
            else:
                response.json()
            if n % 25 == 0:
                world.refresh()
    stats["seconds"] = round(time.monotonic() - started, 1)
    assert stats["requests"] >= REQUESTS
    assert sum(v for k, v in stats.items() if k.startswith("2")) > REQUESTS // 5, stats
    assert sum(v for k, v in stats.items() if k.startswith("4")) > REQUESTS // 10, stats
    assert stats["401"] > 0
    # In the same test, so that `pytest -n` cannot hand the check a fresh sandbox on another worker.
    the_database_is_whole_and_agrees_with_the_api(box)


def the_database_is_whole_and_agrees_with_the_api(box: Tailer) -> None:
    from platforge.provider.tailer.sandbox.rules import ALIASES, deployed_id

    with box.app.state.store.read() as db:
        assert db.scalar("PRAGMA integrity_check") == "ok"
        assert db.all("PRAGMA foreign_key_check") == []
        rows = db.all("SELECT * FROM tl_configurations ORDER BY seq")
        assert rows, "the fuzzer deployed nothing"
        for row in rows:
            doc = json.loads(row["document"])
            kind = ALIASES.get(doc["configuration_type"], doc["configuration_type"])
            assert kind == row["configuration_type"]
            assert (doc["account"], doc["environment"]) == (row["account"], row["environment"])
            if kind != "gbq-to-gbq":
                assert deployed_id(kind, doc["account"], doc["configuration_id"]) == row["configuration_id"]
            assert row["deploys"] == db.scalar("SELECT COUNT(*) FROM tl_deploys WHERE config = ?", (row["id"],))
        for run in db.all("SELECT r.*, c.configuration_type FROM tl_runs r JOIN tl_configurations c ON c.id = r.config"):
            assert run["status"] in ("SUCCESS", "FAILED", "RUNNING", "NO_MATCH", "CHECKED")
            assert (run["finish_at"] is None) or run["status"] == "RUNNING"
        runs = db.scalar("SELECT COUNT(*) FROM tl_runs")
        assert runs == db.scalar("SELECT COUNT(*) FROM tl_runs r JOIN tl_configurations c ON c.id = r.config")
        expected = [(r["configuration_type"], r["configuration_id"], r["environment"], bool(r["activated"]), bool(r["archived"]),
                     r["deploys"]) for r in rows]
        deploys = db.scalar("SELECT COUNT(*) FROM tl_deploys")
    with box.client() as c:
        listed = c.get("/_sandbox/configurations").json()["configurations"]
        assert [(x["configuration_type"], x["configuration_id"], x["environment"], x["activated"], x["archived"], x["deploys"])
                for x in listed] == expected
        assert len(c.get("/_sandbox/deploys").json()["deploys"]) == deploys
        assert c.post("/project-profile", json={"payload": {}}).status_code == 200
    assert Path(box.db_path).exists()
