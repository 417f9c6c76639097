"""Credential primitives: API key format and digest, signed bearer tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deploy.cli import build_parser
from shared.auth import AuthError, generate_api_key, issue_token, split_api_key, verify_token

SECRET = "s" * 48
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_api_key_carries_its_id_and_only_a_digest_of_the_secret_is_kept() -> None:
    key = generate_api_key()
    key_id, secret = split_api_key(key.key)
    assert key_id == key.key_id
    assert secret not in key.digest.hex() and len(key.digest) == 32
    assert generate_api_key().key != key.key


@pytest.mark.parametrize("text", ["", "sbk_", "sbk__x", "abc_def_ghi", "Bearer sbk"])
def test_malformed_api_keys_are_rejected(text: str) -> None:
    with pytest.raises(AuthError):
        split_api_key(text)


def test_token_round_trip_keeps_role_and_subject() -> None:
    token = issue_token(SECRET, role="supervisor", subject="S-7", ttl=timedelta(hours=1), now=datetime.now(UTC))
    principal = verify_token(SECRET, token)
    assert (principal.role, principal.subject) == ("supervisor", "S-7")


def test_expired_token_is_refused() -> None:
    token = issue_token(SECRET, role="agent", subject="A-1", ttl=timedelta(minutes=5), now=NOW - timedelta(days=1))
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, token)


def test_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("o" * 48, role="admin", subject="root", ttl=timedelta(hours=1), now=datetime.now(UTC))
    with pytest.raises(AuthError, match="invalid"):
        verify_token(SECRET, token)


def test_short_secrets_and_unknown_roles_cannot_mint_tokens() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        issue_token("short", role="agent", subject="A", ttl=timedelta(hours=1), now=NOW)
    with pytest.raises(ValueError, match="unknown role"):
        issue_token(SECRET, role="superuser", subject="A", ttl=timedelta(hours=1), now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("region", ["zz", "XX", "China"])
def test_keys_create_refuses_a_region_that_is_not_a_country_code(region: str) -> None:
    args = build_parser().parse_args(
        ["keys", "create", "--name", "hk-sms", "--channels", "sms", "--region", region]
    )
    assert args.func(args) == 2
