"""Tailer's sealed secrets (contract §1.4): what `tailer_crypto.encrypt_payload` makes, opened.

A sealed secret is a JSON object of four hex strings: `enc_session_key` (a random 16-byte AES
key wrapped with RSA-OAEP under the sandbox's public key), `cipher_aes` (the EAX nonce), `tag`
and `ciphertext` (AES-128-EAX of the base64 of the plaintext). The sandbox holds the RSA key
pair: the private key in its database (or given by the embedding code), the public key handed
out as PEM. A deploy whose sealed secrets the sandbox cannot open is refused, as the platform
could not use them either; the plaintext is never stored nor returned, only its SHA-256 (for
tests, under `/_sandbox/`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.PublicKey import RSA

__all__ = ["SEALED_KEYS", "Keys", "is_sealed", "redact", "unwrap_private_key", "wrap_private_key"]

SEALED_KEYS = frozenset({"cipher_aes", "tag", "ciphertext", "enc_session_key"})
KEY_BITS = 2048
#: The largest sealed ciphertext opened (a credential file, such as a service-account JSON, is a few KiB).
MAX_CIPHERTEXT_HEX = 2 * 1024 * 1024
#: The most sealed secrets one document may hold: each costs an RSA decryption to check.
MAX_SEALED = 256


def _wrapping_key(file_key: bytes) -> bytes:
    return hmac.new(file_key, b"tailer-rsa-private-key", hashlib.sha256).digest()


def wrap_private_key(pem: str, file_key: bytes) -> str:
    """The RSA private key as the database keeps it: AES-256-GCM under a key derived from
    `<db>.signing-key`, so a copy of the database alone cannot open the secrets it holds."""
    cipher = AES.new(_wrapping_key(file_key), AES.MODE_GCM)
    ciphertext, tag = cipher.encrypt_and_digest(pem.encode("ascii"))
    return "aes-gcm:" + cipher.nonce.hex() + ":" + tag.hex() + ":" + ciphertext.hex()


def unwrap_private_key(stored: str, file_key: bytes) -> str:
    try:
        scheme, nonce, tag, ciphertext = stored.split(":")
        if scheme != "aes-gcm":
            raise ValueError(scheme)
        cipher = AES.new(_wrapping_key(file_key), AES.MODE_GCM, nonce=bytes.fromhex(nonce))
        return cipher.decrypt_and_verify(bytes.fromhex(ciphertext), bytes.fromhex(tag)).decode("ascii")
    except ValueError as exc:
        raise ValueError("the sandbox's RSA key cannot be opened with this <db>.signing-key: the key file was replaced "
                         "or removed; restore it, or start over with a new database") from exc


def is_sealed(value: Any) -> bool:
    """A dict holding the four sealed-secret keys (extra keys are not part of the format)."""
    return isinstance(value, dict) and set(value) == SEALED_KEYS


class SealedError(ValueError):
    pass


class Keys:
    def __init__(self, private_pem: str) -> None:
        self._key = RSA.import_key(private_pem)
        if not self._key.has_private() or self._key.size_in_bits() < KEY_BITS:
            raise ValueError(f"the Tailer sandbox needs an RSA private key of at least {KEY_BITS} bits")
        self._oaep = PKCS1_OAEP.new(self._key)
        self.public_pem = self._key.publickey().export_key().decode("ascii") + "\n"

    @staticmethod
    def generate() -> str:
        return RSA.generate(KEY_BITS).export_key().decode("ascii")

    def open(self, sealed: dict[str, Any]) -> bytes:
        """The plaintext a sealed secret holds; `SealedError` if it is not one of ours, or damaged."""
        try:
            parts = {}
            for name in SEALED_KEYS:
                text = sealed[name]
                if not isinstance(text, str) or len(text) > MAX_CIPHERTEXT_HEX:
                    raise SealedError(f"{name} must be a hex string")
                parts[name] = bytes.fromhex(text)
            session_key = self._oaep.decrypt(parts["enc_session_key"])
            if len(session_key) not in (16, 24, 32) or len(parts["cipher_aes"]) != 16 or len(parts["tag"]) != 16:
                raise SealedError("malformed sealed secret")
            cipher = AES.new(session_key, AES.MODE_EAX, nonce=parts["cipher_aes"])
            encoded = cipher.decrypt_and_verify(parts["ciphertext"], parts["tag"])
            return base64.b64decode(encoded, validate=True)
        except SealedError:
            raise
        except (ValueError, TypeError, KeyError, binascii.Error) as exc:
            raise SealedError("the sealed secret cannot be opened with this sandbox's key") from exc

    def check_all(self, document: Any, where: str = "resource") -> int:
        """Open every sealed secret in `document` (raising `SealedError` naming the first bad one);
        how many there were."""
        count = 0
        items = _sealed_items(document, where)
        if len(items) > MAX_SEALED:
            raise SealedError(f"at most {MAX_SEALED} sealed secrets per configuration, got {len(items)}")
        for path, sealed in items:
            try:
                self.open(sealed)
            except SealedError as exc:
                raise SealedError(f"{path}: {exc}") from exc
            count += 1
        return count

    def fingerprint(self, sealed: dict[str, Any]) -> dict[str, Any]:
        ciphertext = "".join(str(sealed.get(k, "")) for k in ("enc_session_key", "cipher_aes", "tag", "ciphertext"))
        try:
            plaintext_sha256: str | None = hashlib.sha256(self.open(sealed)).hexdigest()
        except SealedError:
            plaintext_sha256 = None
        return {"sealed": True, "plaintext_sha256": plaintext_sha256,
                "ciphertext_sha256": hashlib.sha256(ciphertext.encode()).hexdigest()}


def _sealed_items(value: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if is_sealed(item):
            found.append((where, item))
        elif isinstance(item, dict):
            stack.extend((f"{where}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))
    found.reverse()
    return found


def redact(value: Any, keys: Keys) -> Any:
    """`value` with every sealed secret replaced by its fingerprint (WIRE.md §8)."""
    if is_sealed(value):
        return keys.fingerprint(value)
    if isinstance(value, dict):
        return {k: redact(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, keys) for v in value]
    return value
