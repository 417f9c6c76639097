"""The gateway's rules without a server: passwords, where a sign-in may lead, which paths reach which service,
which headers cross, sign-in throttling and PKCE."""

from __future__ import annotations

import pytest

from services.web.config import UPSTREAMS
from services.web.domain import (
    UNKNOWN_USER_HASH,
    NotForwarded,
    SignInThrottle,
    TooManyAttempts,
    cookie_name,
    hash_password,
    password_matches,
    pkce_challenge,
    request_headers,
    response_headers,
    safe_next,
    same_origin,
    split_api_path,
)


def test_a_password_is_kept_only_as_a_salted_scrypt_hash_that_checks_it() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$16384$8$1$") and "correct" not in stored
    assert password_matches("correct horse battery", stored)
    assert not password_matches("correct horse batterY", stored)
    assert hash_password("correct horse battery") != stored  # a new salt each time


def test_unknown_names_are_checked_against_a_hash_nothing_matches_and_broken_hashes_match_nothing() -> None:
    assert not password_matches("", UNKNOWN_USER_HASH)
    assert not password_matches("anything at all", UNKNOWN_USER_HASH)
    assert not password_matches("x", "md5$abc")
    assert not password_matches("x", "scrypt$not$a$hash")


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match="8 characters"):
        hash_password("short")


@pytest.mark.parametrize(
    ("target", "role", "expected"),
    [
        ("/workspace", "agent", "/workspace"),
        ("/wallboard", "supervisor", "/wallboard"),
        ("/wallboard", "agent", "/workspace"),  # not an agent's page: their home instead
        ("//evil.example/workspace", "agent", "/workspace"),
        ("https://evil.example/", "agent", "/workspace"),
        ("/\\evil.example", "admin", "/wallboard"),
        ("/workspace?x=1", "supervisor", "/workspace"),
        ("/api/routing/v1/agents", "admin", "/wallboard"),
        (None, "ops", "/wallboard"),
    ],
)
def test_after_signing_in_only_our_own_pages_are_a_destination(
    target: str | None, role: str, expected: str
) -> None:
    assert safe_next(target, role) == expected


@pytest.mark.parametrize(
    ("path", "service", "rest"),
    [
        (b"/api/routing/v1/me/work", "routing", "/v1/me/work"),
        (b"/api/intake/v1/contacts/4184d169/timeline", "intake", "/v1/contacts/4184d169/timeline"),
        (b"/api/knowledge/v1/search", "knowledge", "/v1/search"),
        (b"/api/sla/v1/sla/at-risk", "sla", "/v1/sla/at-risk"),
        (b"/api/intake/v1/customers/%E9%99%88", "intake", "/v1/customers/%E9%99%88"),  # kept as received
    ],
)
def test_a_service_api_path_is_forwarded_as_received(path: bytes, service: str, rest: str) -> None:
    assert split_api_path(path, UPSTREAMS) == (service, rest)


@pytest.mark.parametrize(
    "path",
    [
        b"/api/routing/metrics",
        b"/api/routing/health/ready",
        b"/api/billing/v1/x",
        b"/api/routing",
        b"/api/routing/v1/../metrics",
        b"/api/routing/v1/%2e%2e/metrics",
        b"/api/routing/v1/%2E%2E/health/ready",
        b"/api/routing/v1/work%2F..%2Fmetrics",
        b"/api/routing/v1/x%5C..",
        b"/api/routing/v1/a%00b",
        b"/apix/routing/v1/x",
    ],
)
def test_nothing_outside_a_service_api_is_reachable(path: bytes) -> None:
    with pytest.raises(NotForwarded):
        split_api_path(path, UPSTREAMS)


def test_cookies_csrf_tokens_and_the_page_s_own_credentials_never_reach_a_service() -> None:
    sent = request_headers(
        [
            ("Cookie", "sb_session=secret"),
            ("Authorization", "Bearer forged"),
            ("X-CSRF-Token", "t"),
            ("Origin", "http://localhost"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("Host", "localhost"),
            ("Content-Type", "application/json"),
            ("Accept-Language", "zh-CN"),
            ("If-Match", '"3"'),
        ]
    )
    assert sent == [("Content-Type", "application/json"), ("Accept-Language", "zh-CN"), ("If-Match", '"3"')]


def test_a_service_never_sets_cookies_on_the_gateway_s_origin() -> None:
    back = response_headers(
        [
            ("Set-Cookie", "x=1"),
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
            ("ETag", '"4"'),
        ]
    )
    assert back == [("Content-Type", "application/json"), ("ETag", '"4"')]


def test_failed_sign_ins_lock_a_name_for_the_window_and_a_success_forgets_them() -> None:
    throttle = SignInThrottle(attempts=3, window_s=60)
    keys = ("user:alice", "client:10.0.0.1")
    for at in (0.0, 1.0, 2.0):
        throttle.check(keys, at)
        throttle.failed(keys, at)
    with pytest.raises(TooManyAttempts) as refused:
        throttle.check(keys, 3.0)
    assert refused.value.retry_after_s == pytest.approx(57.0)
    throttle.check(("user:alice", "client:10.0.0.2"), 61.0)  # the window slid past the first failure
    throttle.succeeded("user:alice")
    throttle.check(("user:alice",), 3.5)
    with pytest.raises(TooManyAttempts):
        throttle.check(("client:10.0.0.1",), 3.5)  # the address still counts its failures


def test_pkce_s256_matches_rfc_7636() -> None:
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_origins_and_cookie_names() -> None:
    assert same_origin(None, scheme="http", host="127.0.0.1:8100")
    assert same_origin("http://127.0.0.1:8100", scheme="http", host="127.0.0.1:8100")
    assert not same_origin("http://evil.example", scheme="http", host="127.0.0.1:8100")
    assert not same_origin("http://127.0.0.1:8100", scheme="https", host="127.0.0.1:8100")
    assert (cookie_name(True), cookie_name(False)) == ("__Host-sb_session", "sb_session")
