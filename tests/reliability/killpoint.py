"""Run the `platforge` command and SIGKILL it at a fixed point of an apply.

    python -m tests.reliability.killpoint <point> <nth> -- apply STACK --yes

Points (each fires at its `nth` occurrence, counting from 1):

- `mid-state-write`: a state save has written half of its temporary file (not yet fsync'ed,
  not yet renamed over `state.json`);
- `after-journal`: the journal of a level (its writes recorded as pending) is saved, and none
  of the level's requests has been sent;
- `after-request`: the platform answered a write with success, and the run has not recorded it
  in the state.

A fixed point is where a random kill would rarely land; the crash suite uses both. The hooks
wrap private functions of this checkout, which is the point: they are where a crash hurts.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

_lock = threading.Lock()
_seen = {"count": 0}


def _fires(nth: int) -> bool:
    with _lock:
        _seen["count"] += 1
        return _seen["count"] == nth


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, nth: int) -> None:
    if point == "mid-state-write":
        from platforge.core import state

        real_write = state._write_new_file

        def write_half(path: Any, data: bytes, mode: int) -> None:
            if path.name.startswith("state.json.tmp-") and _fires(nth):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
                os.write(fd, data[: len(data) // 2])
                _die()
            real_write(path, data, mode)

        state._write_new_file = write_half
    elif point == "after-journal":
        from platforge.core.apply import Applier

        real_journal = Applier._journal

        def journal_then_die(self: Any, state: Any, batch: Any) -> Any:
            entries = real_journal(self, state, batch)
            if _fires(nth):
                _die()
            return entries

        Applier._journal = journal_then_die
    elif point == "after-request":
        from platforge.provider._kit.client._transport import Transport

        real_judge = Transport._judge  # every answer passes here, by httpx's way or the plain lane

        def judge_then_die(self: Any, response: Any) -> Any:
            outcome = real_judge(self, response)
            if (outcome.response is not None and response.request.method != "GET"
                    and response.request.url.path not in ("/login", "/logout") and _fires(nth)):
                _die()
            return outcome

        Transport._judge = judge_then_die
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def main(argv: list[str]) -> None:
    point, nth, separator, *rest = argv
    assert separator == "--", argv
    install(point, int(nth))
    from platforge.cli import main as platforge_main

    sys.argv = ["platforge", *rest]
    platforge_main()


if __name__ == "__main__":
    main(sys.argv[1:])
