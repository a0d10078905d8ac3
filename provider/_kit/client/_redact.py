"""Masking secrets in whatever a client says about a request.

Servers echo what they were sent ("invalid value hunter2 for key ..."), so an error message is
only safe to show once every secret the client knows of is masked: credentials and session
tokens (registered for the client's lifetime) and per-request values such as a secret's content.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class Redactor:
    """Replaces registered secret strings with `***` (longest first, so that a secret containing
    another is removed whole). Thread-safe, since a session renewal registers a new token while
    other threads build error messages; secrets are never part of its repr."""

    MASK = "***"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def discard(self, secret: str | None) -> None:
        with self._lock:
            self._secrets.discard(secret or "")

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        with self._lock:
            secrets = self._secrets | {s for s in extra if s}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, self.MASK)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
