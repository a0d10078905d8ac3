"""A no-op plan of N Tailer configurations makes no request at all, and an apply of one changed
configuration makes exactly one deploy (and the token exchange it needs).

Tailer has no read API: every kind is planned from the state (`observability = NONE`), and the
client logs in lazily, so a plan that finds nothing to do never talks to Tailer. A Tailer sandbox
process (`python -m platforge sandbox tailer`, on a free port, with an access log; its refresh
token and Firebase API key generated per run and handed over in the environment variables it
reads, never argv) is given a stack of N configurations in a data team's mix: one context with a
shared secret, and the rest spread over storage-to-storage copies (a fifth of them deployed with
the context), storage-to-tables loads (each with a DDL file), table-to-storage v3 exports (each
with an SQL file), workflows and VM launchers; every kind that holds a secret reads it from the
environment. One `platforge apply` creates them; then a no-op `platforge plan` is timed several
times in fresh processes (wall time including interpreter start, CPU the planning process's own,
peak memory its `ru_maxrss`), counting its requests in the access log; then one configuration's
`short_description` changes and one `platforge apply` must send exactly one D8 deploy and one F1
token exchange.

    python bench/tailer_plan.py                       # 500 configurations, 3 plans
    python bench/tailer_plan.py --n 10000 --repeats 3 # issue 11's scale: <= 200 MB, CPU <= 2 s
    python bench/tailer_plan.py --n 40 --repeats 1    # CI size (tests/tailer/e2e/test_plan_requests.py)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import checked, plan_phases, run, timed_plans  # noqa: E402
from _sandbox import Sandbox  # noqa: E402  (the benches' shared sandbox process)

REFRESH_ENV = "PLATFORGE_TAILER_REFRESH_TOKEN"
API_KEY_ENV = "PLATFORGE_TAILER_FIREBASE_API_KEY"
SECRET_ENV = "BENCH_TAILER_SECRET"
PROJECT = "sandbox-project"
DEPLOY = "PUT /configuration/v2"
TOKEN = "POST /securetoken/v1/token"
KINDS = ("storage_to_storage", "storage_to_tables", "table_to_storage", "workflow", "vm_launcher")


def mix(n: int) -> dict[str, int]:
    """One context; the rest over the five configuration kinds, as evenly as possible."""
    rest = max(len(KINDS), n - 1)
    return {"context": 1, **{k: rest // len(KINDS) + (1 if i < rest % len(KINDS) else 0) for i, k in enumerate(KINDS)}}


def table(kind: str, i: int) -> str:
    head = f'[{kind}.c{i:05d}]\naccount = "000099"\nenvironment = "DEV"\nshort_description = "bench {kind} {i}"\n'
    secret = f'{{ from_env = "{SECRET_ENV}" }}'
    if kind == "storage_to_storage":
        with_context = i % 5 == 0
        bucket = '"{{bucket}}"' if with_context else '"in-bucket"'
        credential = '"{{sa}}"' if with_context else secret
        return (head + ('context = "shared"\n' if with_context else "")
                + f'filename_templates = [{{ filename_template = "f{i}-{{{{FD_DATE}}}}.csv" }}]\n'
                f'source = {{ type = "gcs", gcp_project_id = "{PROJECT}", gcs_source_bucket = {bucket}, '
                f'gcs_source_prefix = "in/{i}", gcp_credentials_secret = {credential} }}\n'
                f'destinations = [{{ type = "gcs", gcs_destination_bucket = "out", gcs_destination_prefix = "o/{i}", '
                f'gcp_credentials_secret = {secret} }}]\n')
    if kind == "storage_to_tables":
        return (head + 'version = "2"\n'
                f'source = {{ type = "gcs", gcp_project_id = "{PROJECT}", gcs_source_bucket = "in", '
                f'gcs_source_prefix = "stt/{i}", gcp_credentials_secret = {secret} }}\n'
                f'[[{kind}.c{i:05d}.destinations]]\ntype = "bigquery"\ngcp_project_id = "{PROJECT}"\n'
                f'gbq_dataset = "sales"\n[[{kind}.c{i:05d}.destinations.tables]]\ntable_name = "t{i}"\n'
                f'filename_template = "t{i}_{{{{FD_DATE}}}}.csv"\nddl_file = "ddl/sales.json"\n')
    if kind == "table_to_storage":
        return (head + f'version = "3"\ngcp_project_id = "{PROJECT}"\ngcs_dest_bucket = "exports"\n'
                f'gcs_dest_prefix = "daily/{i}"\n'
                f'tasks = [{{ task_id = "export_{i}", sql_file = "sql/export.sql", output_filename = "e{i}.csv" }}]\n')
    if kind == "workflow":
        return (head + f'version = "2"\ngcp_project_id = "{PROJECT}"\n'
                f'authorized_job_ids = ["storage-to-tables|000099|c{i:05d}|DEV"]\n'
                f'target_dag = {{ configuration_type = "table-to-storage", configuration_id = "c{i:05d}" }}\n')
    return (head + f'version = "2"\ngcp_project_id = "{PROJECT}"\ngcs_bucket = "vm"\ngcs_working_directory = "w{i}"\n'
            f'script_to_execute = ["run.sh"]\n[{kind}.c{i:05d}.credentials."sa.json"]\ncontent = {secret}\n')


def stack_text(url: str, public_key: str, n: int, changed: int | None = None) -> str:
    out = [f'[platform]\ntype = "tailer"\nendpoint = "{url}/"\nops_endpoint = "{url}"\n'
           f'securetoken_url = "{url}/securetoken/v1/token"\npublic_key_file = "{public_key}"\n'
           f'project_profile = "{PROJECT}"\n',
           f'[context.shared]\naccount = "000099"\nenvironment = "DEV"\ngcp_project_id = "{PROJECT}"\n'
           f'doc_md = "docs/context.md"\n[context.shared.parameters.bucket]\nvalue = "landing"\ntype = "string"\n'
           f'resource = "gcs_bucket"\ndescription = "the landing bucket"\n[context.shared.parameters.sa]\n'
           f'value = {{ from_env = "{SECRET_ENV}" }}\ntype = "object"\nresource = "gcp_credentials_secret"\n'
           f'description = "shared credentials"\n']
    i = 0
    for kind, count in mix(n).items():
        if kind == "context":
            continue
        for _ in range(count):
            text = table(kind, i)
            if i == changed:
                text = text.replace(f'short_description = "bench {kind} {i}"', f'short_description = "changed {i}"')
            out.append(text)
            i += 1
    return "\n".join(out)


def endpoint(record: dict) -> str:
    return f"{record['method']} {record['path'].split('?')[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="configurations declared (one is the context)")
    parser.add_argument("--repeats", type=int, default=3, help="no-op plans timed")
    parser.add_argument("--out", type=Path, help="the JSON report (default: in the scratch folder)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-tailer-bench-"))
    refresh, api_key = "rt-" + secrets.token_urlsafe(24), "key-" + secrets.token_urlsafe(24)
    os.environ[API_KEY_ENV] = api_key  # the sandbox reads both from the environment (argv shows in `ps`)
    env = {**os.environ, REFRESH_ENV: refresh, API_KEY_ENV: api_key, SECRET_ENV: "s-" + secrets.token_hex(16)}
    env.pop("PLATFORGE_TAILER_ID_TOKEN", None)
    cli = [sys.executable, "-m", "platforge"]
    stack = scratch / "stack"
    for rel, content in {"docs/context.md": "# Shared context\n", "sql/export.sql": "SELECT 1 AS x\n",
                         "ddl/sales.json": '{"bq_table_description": "sales", "bq_table_schema": []}\n'}.items():
        (stack / rel).parent.mkdir(parents=True, exist_ok=True)
        (stack / rel).write_text(content, encoding="utf-8")
    counts = mix(args.n)
    total = sum(counts.values())

    server = Sandbox(scratch, refresh, platform="tailer")
    try:
        public_key = str(scratch / "sandbox.db.tailer_public_key.pem")
        (stack / "main.toml").write_text(stack_text(server.url, public_key, args.n), encoding="utf-8")
        mark = len(server.requests())
        created, create_wall, create_cpu = run([*cli, "apply", str(stack), "--yes"], env)
        checked(created)
        create = Counter(endpoint(r) for r in server.requests()[mark:])
        runs = timed_plans(cli, str(stack), env, server.requests, endpoint, args.repeats)
        phases = plan_phases(str(stack), env)
        changed = total // 2
        (stack / "main.toml").write_text(stack_text(server.url, public_key, args.n, changed), encoding="utf-8")
        mark = len(server.requests())
        one, one_wall, _ = run([*cli, "apply", str(stack), "--yes"], env)
        checked(one)
        one_apply = Counter(endpoint(r) for r in server.requests()[mark:])
        mark = len(server.requests())
        after, _, _ = run([*cli, "plan", str(stack)], env)
        after_requests = len(server.requests()) - mark
    finally:
        server.stop()

    report = {
        "n": total, "mix": counts, "create_apply": {"wall_s": round(create_wall, 1), "cpu_s": round(create_cpu, 1),
                                                    "by_endpoint": dict(sorted(create.items()))},
        "plan_wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "plan_cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
        "plan_max_rss_mb": max(r["max_rss_mb"] for r in runs), "requests_per_plan": max(r["requests"] for r in runs),
        "plans": runs, "plan_phases": phases,
        "one_change_apply": {"exit": one.returncode, "wall_s": round(one_wall, 2), "by_endpoint": dict(one_apply)},
        "plan_after_exit": after.returncode, "plan_after_requests": after_requests,
    }
    out = args.out or scratch / "tailer_plan.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{total} configurations: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"create apply: {report['create_apply']['wall_s']} s, {create[DEPLOY]} deploys, {create[TOKEN]} token exchange(s)")
    print(f"no-op plan (median of {args.repeats}): wall {report['plan_wall_s_median']} s, CPU "
          f"{report['plan_cpu_s_median']} s, peak memory {report['plan_max_rss_mb']} MB, "
          f"{report['requests_per_plan']} requests")
    print(f"apply of one changed configuration: {dict(one_apply)} ({one_wall:.2f} s); plan after it: exit "
          f"{after.returncode}, {after_requests} requests")
    print(f"where a plan's CPU goes (in process): imports {phases['imports_cpu_s']} s, stack and login "
          f"{phases['load_and_login_cpu_s']} s, Engine.plan {phases['plan_cpu_s']} s")
    print(f"\nJSON: {out}")
    ok = (all(r["exit"] == 0 and r["requests"] == 0 for r in runs) and dict(one_apply) == {TOKEN: 1, DEPLOY: 1}
          and after.returncode == 0 and after_requests == 0 and create[DEPLOY] == total)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
