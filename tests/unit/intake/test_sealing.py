"""Webhook signing secrets sealed at rest: the first key seals, every key opens, plain text opens as it is."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from services.intake.config import IntakeSettings
from services.intake.domain.sealing import PREFIX, Sealer, SealError, key_id, parse_key

K1, K2 = os.urandom(32), os.urandom(32)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_sealed_secret_opens_to_itself_and_shows_nothing_of_it() -> None:
    sealer = Sealer([K1], os.urandom)
    stored = sealer.seal(SECRET)
    assert stored.startswith(f"{PREFIX}{key_id(K1)}:") and SECRET not in stored and "MfKQ9r8G" not in stored
    assert sealer.open(stored) == SECRET
    assert sealer.seal(SECRET) != stored, "a fresh nonce each time"


def test_the_first_key_seals_and_every_key_opens_so_keys_rotate() -> None:
    old = Sealer([K1], os.urandom).seal(SECRET)
    rotating = Sealer([K2, K1], os.urandom)
    assert rotating.open(old) == SECRET
    assert rotating.stale(old) and not rotating.stale(rotating.seal(SECRET))
    with pytest.raises(SealError, match=f"sealed under key {key_id(K1)}, which is not in webhook_secret_keys"):
        Sealer([K2], os.urandom).open(old)


def test_plain_text_from_before_any_key_opens_as_it_is_and_is_stale_once_a_key_is_set() -> None:
    assert Sealer([], os.urandom).seal(SECRET) == SECRET
    assert Sealer([K1], os.urandom).open(SECRET) == SECRET
    assert Sealer([K1], os.urandom).stale(SECRET) and not Sealer([], os.urandom).stale(SECRET)
    assert not Sealer([K1], os.urandom).stale(None)


def test_an_altered_sealed_value_does_not_open() -> None:
    sealer = Sealer([K1], os.urandom)
    stored = sealer.seal(SECRET)
    head, payload = stored.rsplit(":", 1)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    with pytest.raises(SealError, match="altered"):
        sealer.open(f"{head}:{base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(SealError):
        sealer.open(f"{head}:not base64!")


def test_keys_are_32_bytes_in_base64_and_a_wrong_one_is_refused_without_showing_it() -> None:
    assert parse_key(base64.b64encode(K1).decode()) == K1
    with pytest.raises(ValueError, match="32 bytes in base64, not 16"):
        parse_key(base64.b64encode(os.urandom(16)).decode())
    settings = IntakeSettings(
        webhook_secret_keys=[SecretStr(base64.b64encode(K1).decode()), SecretStr("hunter2!")]
    )
    [refusal] = settings.refusals()
    assert refusal.startswith("SWITCHBOARD_WEBHOOK_SECRET_KEYS[1]:") and "hunter2" not in refusal
    assert IntakeSettings(webhook_secret_keys=[SecretStr(base64.b64encode(K1).decode())]).refusals() == []
