"""Webhook signing secrets sealed at rest (AES-256-GCM): a copy of intake's database — a backup, a replica, a
dump for support — does not hand out the keys that sign deliveries. The first of `webhook_secret_keys` seals,
every one of them opens, so a key is rotated by putting the new one first, letting the service reseal what is
stored, then dropping the old one. A value stored before any key was set is plain text and opens as it is.
Pure: the caller brings the randomness."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12


class SealError(ValueError):
    """A stored secret cannot be opened: sealed under a key no longer configured, or altered."""


def key_id(key: bytes) -> str:
    """A short, public name of a key (not the key): which one sealed a value."""
    return hashlib.sha256(b"switchboard webhook key\x00" + key).hexdigest()[:12]


def parse_key(text: str) -> bytes:
    """A key as configured: 32 random bytes in base64 (`openssl rand -base64 32`)."""
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret key is 32 bytes in base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"a webhook secret key is {KEY_BYTES} bytes in base64, not {len(key)}")
    return key


class Sealer:
    def __init__(self, keys: Sequence[bytes], random: Callable[[int], bytes]) -> None:
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self._current = key_id(keys[0]) if keys else None
        self._random = random

    @property
    def sealing(self) -> bool:
        return self._current is not None

    def seal(self, secret: str) -> str:
        """`secret` sealed under the first key (as it is when no key is set)."""
        if self._current is None:
            return secret
        nonce = self._random(NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, secret.encode(), self._current.encode())
        return f"{PREFIX}{self._current}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        kid, _, payload = stored[len(PREFIX) :].partition(":")
        aead = self._keys.get(kid)
        if aead is None:
            raise SealError(f"sealed under key {kid}, which is not in webhook_secret_keys")
        try:
            raw = base64.b64decode(payload, validate=True)
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode()).decode()
        except (binascii.Error, InvalidTag, UnicodeDecodeError) as exc:
            raise SealError(f"a value sealed under key {kid} does not open: altered") from exc

    def stale(self, stored: str | None) -> bool:
        """Stored otherwise than under the first key (in the clear, or under an older key): to be sealed again."""
        if stored is None or self._current is None:
            return False
        return not stored.startswith(f"{PREFIX}{self._current}:")
