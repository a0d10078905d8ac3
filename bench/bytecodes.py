"""Interpreter work of a no-op plan, counted rather than timed: Python bytecodes and calls.

Why counted: this machine's speed varies up to 2x from one minute to the next (a fixed Python loop
took 0.33-0.68 s within one hour), which hides a 15% change in CPU seconds; the number of
bytecodes the interpreter executes does not vary. It leaves out work done in C (JSON parsing,
socket calls, pydantic-core), which these changes do not touch.

1. **One exchange**: `DataikuClient.get_permissions` against the DSS sandbox (a settings
   document a plan reads per project), bytecodes and calls per request, mean of `--requests`.
2. **One no-op plan** (`--plan-n N`, default 1,000; 0 skips it): the Dataiku mix of
   `bench/dataiku_scale.py` applied at full speed, then `Engine(...)` + `Engine.plan()` traced in
   this process, the reading threads included; the core's planning (`_make_plan`) apart.

    python bench/bytecodes.py                    # one exchange; a plan of 1,000 objects
    python bench/bytecodes.py --plan-n 10000     # the 10,000-object plan of bench/dataiku_scale.py (about 5 min)
"""

from __future__ import annotations

import argparse
import concurrent.futures.thread as pool_threads
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox import Sandbox  # noqa: E402
from dataiku_scale import stack_text  # noqa: E402


class Tracer:
    """Counts bytecodes and calls of Python code run inside `traced` (in any thread it starts
    through a thread pool)."""

    def __init__(self) -> None:
        self.ops = 0
        self.calls = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _trace(self, frame: Any, event: str, arg: Any) -> Any:
        local = self._local
        if event == "call":
            frame.f_trace_opcodes = True
            local.calls = getattr(local, "calls", 0) + 1
        elif event == "opcode":
            local.ops = getattr(local, "ops", 0) + 1
        return self._trace

    def traced(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            sys.settrace(self._trace)
            try:
                return fn(*args, **kwargs)
            finally:
                sys.settrace(None)
                with self._lock:
                    self.ops += getattr(self._local, "ops", 0)
                    self.calls += getattr(self._local, "calls", 0)
                self._local.ops = self._local.calls = 0
        return run


def one_exchange(requests: int) -> dict[str, float]:
    from platforge.provider.dataiku.client import DataikuClient

    key = "K" + secrets.token_hex(16)
    box = Sandbox(Path(tempfile.mkdtemp(prefix="bytecodes-")), key, platform="dataiku")
    try:
        client = DataikuClient(box.url, key)
        client.create_project({"projectKey": "PX", "name": "px", "owner": "admin"})
        for _ in range(20):  # connections, caches
            client.get_permissions("PX")
        tracer = Tracer()
        tracer.traced(lambda: [client.get_permissions("PX") for _ in range(requests)])()
        return {"bytecodes_per_request": round(tracer.ops / requests), "calls_per_request": round(tracer.calls / requests)}
    finally:
        box.stop()


def one_plan(n: int) -> dict[str, Any]:
    from platforge.provider import get_platform

    from platforge.core import plan as planning
    from platforge.core.engine import Engine, make_backend
    from platforge.core.stack import load_stack

    key = "K" + secrets.token_hex(16)
    scratch = Path(tempfile.mkdtemp(prefix="bytecodes-"))
    box = Sandbox(scratch, key, platform="dataiku")
    env = {**os.environ, "DATAIKU_API_KEY": key, "BENCH_USER_PASSWORD": secrets.token_urlsafe(12),
           "BENCH_PG_PASSWORD": secrets.token_urlsafe(12)}
    stack = scratch / "stack"
    stack.mkdir()
    try:
        (stack / "main.toml").write_text(stack_text(box.url, n), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "platforge", "apply", str(stack), "--yes"], env=env, check=True,
                       capture_output=True)
        os.environ.update(env)
        loaded, platform = load_stack(str(stack), get_platform)
        client = platform.connect(loaded.platform_config)
        engine = Engine(loaded, platform, client, make_backend(loaded, platform, client))
        engine.plan()  # connections and imports, as a second plan in a process finds them
        client = platform.connect(loaded.platform_config)
        engine = Engine(loaded, platform, client, make_backend(loaded, platform, client))
        whole = Tracer()
        real_run = pool_threads._WorkItem.run
        pool_threads._WorkItem.run = whole.traced(real_run)  # type: ignore[method-assign]
        try:
            result = whole.traced(engine.plan)()
        finally:
            pool_threads._WorkItem.run = real_run  # type: ignore[method-assign]
        assert not result.has_changes, "the plan should be empty after the apply"
        state = engine.load_state()
        live = planning.read_live(platform, engine.ctx, loaded.resources, state, engine.policy)
        core = Tracer()
        core.traced(planning._make_plan)(platform, engine.ctx, engine.target, loaded.resources, state, live, False,
                                         engine.policy)
        return {"n": n, "plan_bytecodes": whole.ops, "plan_calls": whole.calls,
                "make_plan_bytecodes": core.ops, "make_plan_calls": core.calls}
    finally:
        box.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="exchanges counted (default 200)")
    parser.add_argument("--plan-n", type=int, default=1000, help="objects in the traced plan (0: no plan)")
    args = parser.parse_args()
    report: dict[str, Any] = {"exchange": one_exchange(args.requests)}
    if args.plan_n:
        report["plan"] = one_plan(args.plan_n)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
