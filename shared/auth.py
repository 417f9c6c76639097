"""Who is calling: adapter API keys (stored hashed, scoped to channels) and signed bearer tokens (role + subject).

Key format `sbk_<key id>_<secret>`: the id finds the row, the secret is compared by SHA-256 digest in constant
time (the secret is 192 random bits, so a slow hash adds nothing). Tokens are HS256 JWTs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from fastapi import Request, WebSocket

from shared.db import Conn
from shared.errors import Problem
from shared.limits import RateLimits, rate_limited

Role = Literal["adapter", "agent", "supervisor", "admin", "ops"]
ROLES: tuple[Role, ...] = ("adapter", "agent", "supervisor", "admin", "ops")
USER_ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin", "ops")
KEY_PREFIX = "sbk"
KEY_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    role: Role
    subject: str
    """Agent/user id for tokens; the key's name for adapters."""
    channels: frozenset[str] = frozenset()
    """Channels an adapter key may post to; empty for people."""
    region: str | None = None
    """An adapter key's region (ISO 3166 alpha-2): its phone numbers without a country code are local to it.
    None for people, and for a key made without one (the service's default region applies)."""


class AuthError(Exception):
    pass


# --- API keys -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    key_id: str
    key: str
    """The only time the full key exists outside the caller: it is stored as a digest."""
    digest: bytes


def generate_api_key() -> NewApiKey:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    key = f"{KEY_PREFIX}_{key_id}_{secret}"
    return NewApiKey(key_id=key_id, key=key, digest=_digest(secret))


def split_api_key(key: str) -> tuple[str, str]:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        raise AuthError("not a Switchboard API key")
    return parts[1], parts[2]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


INSERT_API_KEY = """
INSERT INTO api_key (api_key_id, name, secret_sha256, channels, region, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
"""


async def insert_api_key(
    conn: Conn, *, key: NewApiKey, name: str, channels: Sequence[str], now: datetime, region: str | None = None
) -> None:
    await conn.execute(INSERT_API_KEY, key.key_id, name, key.digest, list(channels), region, now)


REVOKE_API_KEY = """
UPDATE api_key SET revoked_at = $2 WHERE (api_key_id = $1 OR name = $1) AND revoked_at IS NULL
"""


async def revoke_api_key(conn: Conn, *, key_id_or_name: str, now: datetime) -> int:
    status = await conn.execute(REVOKE_API_KEY, key_id_or_name, now)
    return int(status.rsplit(" ", 1)[-1])


SELECT_API_KEY = """
SELECT name, secret_sha256, channels, region FROM api_key WHERE api_key_id = $1 AND revoked_at IS NULL
"""


async def verify_api_key(conn: Conn, key: str) -> Principal:
    key_id, secret = split_api_key(key)
    row = await conn.fetchrow(SELECT_API_KEY, key_id)
    if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), _digest(secret)):
        raise AuthError("unknown or revoked API key")
    return Principal(
        role="adapter", subject=row["name"], channels=frozenset(row["channels"]), region=row["region"]
    )


# --- bearer tokens ------------------------------------------------------------------------------------------


def issue_token(
    secret: str, *, role: Role, subject: str, ttl: timedelta, now: datetime, issuer: str = "switchboard"
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(secret) < 32:
        raise ValueError("the token secret must be at least 32 characters")
    claims = {
        "iss": issuer,
        "sub": subject,
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str, *, issuer: str = "switchboard") -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], issuer=issuer, options={"require": ["exp", "sub", "role"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("invalid token") from exc
    role = claims["role"]
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    return Principal(role=role, subject=str(claims["sub"]))


# --- FastAPI dependencies -----------------------------------------------------------------------------------


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Problem(
            401,
            "Unauthorized",
            "Send `Authorization: Bearer <token or API key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.strip()


class KeyCache:
    """Verified keys for a few seconds, so a busy adapter costs no query per request."""

    def __init__(self, ttl: float = KEY_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, key: str) -> Principal | None:
        hit = self._entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key: str, principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, principal)


async def authenticate(request: Request) -> Principal:
    """Either kind of credential: `sbk_…` keys are looked up, anything else must be a valid token. Each caller's
    requests are rate limited (429 with Retry-After) once it is known who they are."""
    principal = await _identify(request)
    limits: dict[str, RateLimits] | None = getattr(request.app.state, "rate_limits", None)
    if limits is not None:
        if principal.role == "adapter":
            rate_limited(limits["adapter"], f"key:{principal.subject}")
        else:
            rate_limited(limits["user"], f"{principal.role}:{principal.subject}")
    return principal


async def _identify(request: Request) -> Principal:
    credential = _bearer(request)
    state = request.app.state
    try:
        if credential.startswith(KEY_PREFIX + "_"):
            cache: KeyCache = state.key_cache
            principal = cache.get(credential)
            if principal is None:
                async with state.pool.acquire() as conn:
                    principal = await verify_api_key(conn, credential)
                cache.put(credential, principal)
            return principal
        return verify_token(
            state.settings.token_secret.get_secret_value(), credential, issuer=state.settings.token_issuer
        )
    except AuthError as exc:
        raise Problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


def require_roles(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.role not in allowed:
            raise Problem(
                403, "Forbidden", f"role {principal.role!r} may not do this; needs one of {sorted(allowed)}"
            )
        return principal

    return dependency


def require_adapter(channels: Iterable[str] = ()) -> Callable[[Request], Awaitable[Principal]]:
    """An adapter key; with `channels`, the key must be scoped to every one of them."""
    needed = frozenset(channels)

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.role != "adapter":
            raise Problem(403, "Forbidden", "this endpoint takes an adapter API key")
        missing = needed - principal.channels
        if missing:
            raise Problem(403, "Forbidden", f"this key is not scoped to channel(s) {sorted(missing)}")
        return principal

    return dependency


def check_channel(principal: Principal, channel: str) -> None:
    if principal.role == "adapter" and channel not in principal.channels:
        raise Problem(403, "Forbidden", f"this key is not scoped to channel {channel!r}")


async def authenticate_websocket(websocket: WebSocket, *roles: Role) -> Principal | None:
    """A bearer token on a WebSocket handshake: the `Authorization` header, or the `access_token` query
    parameter (browsers cannot set headers on a WebSocket). Refused sockets are closed (4401 unauthenticated,
    4403 wrong role) and None is returned."""
    header = websocket.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else websocket.query_params.get("access_token", "")
    settings = websocket.app.state.settings
    try:
        if not token:
            raise AuthError("send `Authorization: Bearer <token>` or `?access_token=<token>`")
        principal = verify_token(settings.token_secret.get_secret_value(), token, issuer=settings.token_issuer)
    except AuthError as exc:
        await websocket.close(code=4401, reason=str(exc)[:120])
        return None
    if roles and principal.role not in roles:
        await websocket.close(code=4403, reason=f"role {principal.role} may not connect here")
        return None
    return principal
