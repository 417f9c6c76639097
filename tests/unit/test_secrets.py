"""Token secrets and lifetimes: no service runs with a weak secret, rotation keeps old tokens working for a while,
and no token lives longer than the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import AuthError, check_secrets, issue_token, verify_token

OLD = "old-secret-" + "abcdefghij" * 4
NEW = "new-secret-" + "klmnopqrst" * 4
NOW = datetime.now(UTC)


@pytest.mark.parametrize("secret", ["", "short", "x" * 64, "abab" * 10])
def test_a_missing_or_weak_secret_stops_the_service_and_says_how_to_make_one(secret: str) -> None:
    with pytest.raises(ValueError, match=r"secrets\.token_urlsafe"):
        check_secrets(secret, [], provider=False)


def test_an_identity_provider_may_stand_in_for_the_secret_and_a_good_one_passes() -> None:
    check_secrets("", [], provider=True)
    check_secrets(NEW, [OLD], provider=False)
    with pytest.raises(ValueError, match="previous"):
        check_secrets(NEW, ["weak"], provider=False)


def test_a_rotation_accepts_tokens_of_the_previous_secret_until_it_is_removed() -> None:
    old_token = issue_token(OLD, role="agent", subject="A-1", ttl=timedelta(hours=1), now=NOW)
    assert verify_token(NEW, old_token, previous=[OLD]).subject == "A-1"
    with pytest.raises(AuthError, match="invalid"):
        verify_token(NEW, old_token)


def test_no_token_lives_longer_than_the_limit() -> None:
    with pytest.raises(ValueError, match="at most"):
        issue_token(NEW, role="admin", subject="root", ttl=timedelta(days=30), now=NOW)
    forged = jwt.encode(  # signed with the right secret, but for a year
        {"iss": "switchboard", "sub": "root", "role": "admin", "iat": int(NOW.timestamp()),
         "exp": int((NOW + timedelta(days=365)).timestamp())},
        NEW, algorithm="HS256",
    )  # fmt: skip
    with pytest.raises(AuthError, match="lives longer"):
        verify_token(NEW, forged, max_lifetime_s=24 * 3600)
    principal = verify_token(
        NEW, issue_token(NEW, role="agent", subject="A-2", ttl=timedelta(hours=8), now=NOW), max_lifetime_s=86400
    )
    assert principal.issued_at is not None and principal.expires_at is not None
