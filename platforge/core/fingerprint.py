"""Keyed fingerprints of secret values.

State and plans never hold a secret, only HMAC-SHA256(key, value). The key is not in the state
(else the fingerprint would be a salted hash anyone holding the state could brute-force): it
comes from $PLATFORGE_FINGERPRINT_KEY or from the state backend's key store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

KEY_ENV = "PLATFORGE_FINGERPRINT_KEY"
PREFIX = "hmac-sha256:"


class Fingerprinter:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("fingerprint key must be at least 16 bytes")
        self._key = key

    def __call__(self, value: str) -> str:
        return PREFIX + hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never show the key
        return "Fingerprinter(<key>)"

    def __reduce__(self) -> str:  # never pickle the key
        raise TypeError("Fingerprinter holds a key and is not picklable")


def new_key() -> bytes:
    return secrets.token_bytes(32)


def key_from_env() -> bytes | None:
    value = os.environ.get(KEY_ENV)
    return value.encode("utf-8") if value else None
