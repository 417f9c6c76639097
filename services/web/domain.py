"""The gateway's rules: passwords, sessions, CSRF, sign-in throttling, which paths go where, and which headers
cross. Pure: the standard library only, `now` passed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

ROLES = ("agent", "supervisor", "admin", "ops")
PAGES: dict[str, tuple[str, ...]] = {
    "/workspace": ("agent", "supervisor"),
    "/wallboard": ("supervisor", "admin", "ops"),
}
"""Each page and the roles it is for; the services still check every call themselves."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Only our own files run and load; no inline script or style, no other origin, no framing."""
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"cookie", "authorization", "x-csrf-token", "origin", "referer", "forwarded"}
"""Request headers a service never sees: our cookies and CSRF token stay here; the bearer token is ours to set."""
FORWARDED_PREFIX = "x-forwarded-"
"""The client's own `X-Forwarded-*` claims are dropped, never passed on as if a proxy of ours had set them."""
NOT_RETURNED = (HOP_BY_HOP - {"content-length"}) | {"set-cookie", "server", "www-authenticate"}
"""Response headers that stay behind: a service never sets cookies on the gateway's origin."""


class SignInRefused(Exception):
    """Wrong name or password (the same answer for both)."""


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class NotForwarded(Exception):
    """A path under /api/ that names no service or leaves it (`..`)."""


# --- passwords --------------------------------------------------------------------------------------------


SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
"""scrypt's cost (16 MiB, about 50 ms on this machine's core): slow for a guesser, quick enough for a sign-in."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R) -> str:
    """`scrypt$n$r$p$salt$hash` (base64), the only form a password is kept in."""
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        found = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(found, expected)


UNKNOWN_USER_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
"""Checked against for a name nobody has, so an unknown name takes as long to refuse as a wrong password."""


# --- sessions and CSRF --------------------------------------------------------------------------------------


def new_secret() -> str:
    """256 random bits, URL-safe: session cookies, CSRF tokens, OIDC state, nonce and PKCE verifier."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> bytes:
    """What is stored of a cookie's secret: its SHA-256 (a stolen table signs nobody in)."""
    return hashlib.sha256(value.encode()).digest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def same_origin(origin: str | None, *, scheme: str, host: str) -> bool:
    """A browser's `Origin` names this very origin (scheme and host with port); no Origin (not a browser, or a
    same-origin GET) is not a cross-site request."""
    if origin is None:
        return True
    return origin.lower() == f"{scheme}://{host}".lower()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class User:
    user_id: str
    display_name: str
    role: str
    subject: str
    """The id the services know: the agent id in routing (tokens carry it as `sub`)."""
    password_hash: str
    active: bool


@dataclass(frozen=True)
class Session:
    session_digest: bytes
    source: str
    """`password` (a user of our table) or `oidc` (the provider's tokens are kept and forwarded)."""
    user_id: str
    role: str
    subject: str
    display_name: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: datetime | None = None


def home_of(role: str) -> str:
    return "/workspace" if role == "agent" else "/wallboard"


def page_allows(page: str, role: str) -> bool:
    return role in PAGES.get(page, ())


def safe_next(target: str | None, role: str | None = None) -> str:
    """Where to go after signing in: a path of ours only (never `//host` or a URL), else the role's home."""
    fallback = home_of(role) if role else "/"
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return fallback
    path = target.split("?", 1)[0]
    if path in PAGES and (role is None or page_allows(path, role)):
        return path
    return fallback


def cookie_name(secure: bool) -> str:
    """`__Host-` binds the cookie to this exact origin over HTTPS (no Domain, Path=/, Secure)."""
    return "__Host-sb_session" if secure else "sb_session"


# --- throttling sign-ins ----------------------------------------------------------------------------------------


class SignInThrottle:
    """Failed sign-ins per key (a name, a client address) in a sliding window; a success forgets the name."""

    def __init__(self, *, attempts: int, window_s: float, max_keys: int = 100_000) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def check(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) >= self.attempts:
                raise TooManyAttempts(failures[0] + self.window_s - now)

    def failed(self, keys: tuple[str, ...], now: float) -> None:
        if len(self._failures) > self.max_keys:
            self._failures.clear()  # a flood of made-up names must not grow memory without bound
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures


# --- forwarding -------------------------------------------------------------------------------------------------


def split_api_path(raw_path: bytes, services: tuple[str, ...]) -> tuple[str, str]:
    """`/api/<service>/v1/…` → (service, `/v1/…` as received, still percent-encoded). Only a service's `v1` API is
    reachable (not its metrics or health), and no segment may step out of it, encoded or not."""
    path = raw_path.decode("latin-1")
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != "" or parts[1] != "api" or parts[2] not in services or parts[3] != "v1":
        raise NotForwarded("not a service's API path: /api/<intake|routing|sla|feedback|knowledge>/v1/…")
    for part in parts[3:]:
        decoded = unquote(part)
        if decoded in (".", "..") or "/" in decoded or "\\" in decoded or any(ord(c) < 0x20 for c in decoded):
            raise NotForwarded("path segments may not be `.`, `..` or hide a slash")
    return parts[2], "/" + "/".join(parts[3:])


def request_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (k, v) for k, v in headers if k.lower() not in NOT_FORWARDED and not k.lower().startswith(FORWARDED_PREFIX)
    ]


def response_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in NOT_RETURNED]
