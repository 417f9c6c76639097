"""Who is calling: adapter API keys (stored hashed, scoped to channels) and signed bearer tokens (role + subject).

Key format `sbk_<key id>_<secret>`: the id finds the row, the secret is compared by SHA-256 digest in constant
time (the secret is 192 random bits, so a slow hash adds nothing). Our own tokens are HS256 JWTs; with an
OpenID Connect provider configured, its RS256/ES256 access tokens are accepted too, checked against its JWKS.
The algorithm in a token's header only chooses which of the two checks runs: HS256 is never checked with a
provider's key, nor a provider's algorithm with our secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import httpx
import jwt
from fastapi import Request, Security, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared import audit
from shared.config import ServiceSettings
from shared.db import Conn
from shared.errors import Problem
from shared.jwks import JwksCache, JwksError
from shared.limits import RateLimits, rate_limited

Role = Literal["adapter", "agent", "supervisor", "admin", "ops"]
ROLES: tuple[Role, ...] = ("adapter", "agent", "supervisor", "admin", "ops")
USER_ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin", "ops")
ROLE_STRENGTH: tuple[Role, ...] = ("admin", "supervisor", "agent", "ops")
"""When a provider's token names several roles, the first of these it names is the one that counts."""
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
    issued_at: datetime | None = field(default=None, compare=False)
    """When the token was issued (None for keys): a subject revoked later no longer passes with it."""
    expires_at: datetime | None = field(default=None, compare=False)
    """When the token expires: an open socket is closed then."""


class AuthError(Exception):
    pass


MIN_SECRET_CHARS = 32


def check_secrets(secret: str, previous: Sequence[str], *, provider: bool) -> None:
    """Refuse to run with a missing or weak token secret (anyone could mint an admin token), saying how to make
    one. An identity provider that signs every token may stand in for it."""
    if not secret and provider:
        return
    how = (
        "set SWITCHBOARD_TOKEN_SECRET to at least 32 random characters, e.g. the output of "
        "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'` (the local stack keeps one in "
        ".switchboard/token-secret)"
    )
    if not secret:
        raise ValueError(f"no token secret: {how}")
    if len(secret) < MIN_SECRET_CHARS or len(set(secret)) < 5:
        raise ValueError(f"the token secret is too weak ({len(secret)} characters): {how}")
    for old in previous:
        if len(old) < MIN_SECRET_CHARS:
            raise ValueError(f"a previous token secret is too weak: {how}")


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


REVOKE_SUBJECT = """
INSERT INTO revoked_subject (subject, revoked_at, revoked_by, reason) VALUES ($1, $2, $3, $4)
ON CONFLICT (subject) DO UPDATE SET revoked_at = EXCLUDED.revoked_at, revoked_by = EXCLUDED.revoked_by,
                                    reason = EXCLUDED.reason
"""


async def revoke_subject(conn: Conn, *, subject: str, by: str, reason: str | None, now: datetime) -> None:
    """Every token issued to `subject` until now stops working (within a minute); new ones work again."""
    await conn.execute(REVOKE_SUBJECT, subject, now, by, reason)


async def audit_access(
    conn: Conn, *, actor: str, action: str, target: str, detail: dict[str, Any], now: datetime
) -> None:
    """Who created or revoked a key or a user's access (RULES.md: every admin change audited)."""
    await audit.record(conn, actor=actor, action=action, target=target, detail=detail, at=now)


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


MAX_TOKEN_TTL = timedelta(hours=24)


def issue_token(
    secret: str,
    *,
    role: Role,
    subject: str,
    ttl: timedelta,
    now: datetime,
    issuer: str = "switchboard",
    max_ttl: timedelta = MAX_TOKEN_TTL,
) -> str:
    if ttl > max_ttl:
        raise ValueError(f"a token lives at most {max_ttl}; ask for a shorter ttl (services refuse longer ones)")
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


def verify_token(
    secret: str,
    token: str,
    *,
    issuer: str = "switchboard",
    previous: Sequence[str] = (),
    max_lifetime_s: float | None = None,
) -> Principal:
    """Our HS256 token, signed with `secret` or, while a rotation rolls out, one of the `previous` secrets; its
    lifetime no longer than `max_lifetime_s`."""
    claims: dict[str, Any] | None = None
    for key in (secret, *previous):
        try:
            claims = jwt.decode(
                token, key, algorithms=["HS256"], issuer=issuer, options={"require": ["exp", "sub", "role"]}
            )
            break
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token") from exc
    if claims is None:
        raise AuthError("invalid token")
    role = claims["role"]
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    issued = claims.get("iat")
    if max_lifetime_s is not None:
        if not isinstance(issued, int | float):
            raise AuthError("the token says not when it was issued")
        if float(claims["exp"]) - float(issued) > max_lifetime_s:
            raise AuthError(f"the token lives longer than {max_lifetime_s / 3600:g} hours; ask for a shorter one")
    return Principal(
        role=role,
        subject=str(claims["sub"]),
        issued_at=datetime.fromtimestamp(float(issued), UTC) if isinstance(issued, int | float) else None,
        expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
    )


# --- tokens of an identity provider (OpenID Connect) ---------------------------------------------------------


@dataclass(frozen=True)
class ClaimRules:
    """Where a provider's token keeps what Switchboard needs (see ServiceSettings.oidc_*)."""

    role_claim: str = "role"
    role_map: tuple[tuple[str, str], ...] = ()
    subject_claim: str = "sub"


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def principal_from_claims(claims: dict[str, Any], rules: ClaimRules) -> Principal:
    """The role (mapped, the strongest of several) and subject a verified token's claims carry."""
    raw = _claim(claims, rules.role_claim)
    listed = raw if isinstance(raw, list) else [raw]
    names = [name for name in listed if isinstance(name, str)]
    mapping = dict(rules.role_map)
    roles = {mapping.get(name, name) for name in names}
    role = next((r for r in ROLE_STRENGTH if r in roles), None)
    if role is None:
        raise AuthError(f"the token's {rules.role_claim!r} claim names no Switchboard role")
    subject = _claim(claims, rules.subject_claim)
    if not isinstance(subject, str | int) or isinstance(subject, bool) or not str(subject).strip():
        raise AuthError(f"the token has no {rules.subject_claim!r} claim")
    return Principal(role=role, subject=str(subject).strip())


class TokenVerifier:
    """Checks bearer tokens: ours (HS256, the shared secret) and, when configured, an identity provider's
    (asymmetric, by its JWKS, with issuer, audience and expiry)."""

    def __init__(
        self,
        *,
        secret: str,
        issuer: str = "switchboard",
        previous: Sequence[str] = (),
        max_lifetime_s: float | None = None,
        oidc_issuer: str | None = None,
        oidc_audience: str | None = None,
        jwks_url: str | None = None,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        rules: ClaimRules = ClaimRules(),
        leeway_s: float = 30.0,
        jwks_cache_s: float = 600.0,
        timeout_s: float = 5.0,
    ) -> None:
        if oidc_issuer and not oidc_audience:
            raise ValueError("an OpenID Connect issuer needs the audience its tokens carry for Switchboard")
        self.secret = secret
        self.issuer = issuer
        self.previous = tuple(previous)
        self.max_lifetime_s = max_lifetime_s
        self.oidc_issuer = oidc_issuer
        self.oidc_audience = oidc_audience
        self.algorithms = tuple(a for a in algorithms if a != "HS256")
        self.rules = rules
        self.leeway_s = leeway_s
        self.timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None
        self.jwks = (
            JwksCache(issuer=oidc_issuer, jwks_url=jwks_url, http=self.http, ttl_s=jwks_cache_s)
            if oidc_issuer
            else None
        )

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenVerifier:
        return cls(
            secret=settings.token_secret.get_secret_value(),
            issuer=settings.token_issuer,
            previous=[old.get_secret_value() for old in settings.token_secrets_previous],
            max_lifetime_s=settings.token_max_lifetime_s,
            oidc_issuer=settings.oidc_issuer,
            oidc_audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            algorithms=settings.oidc_algorithms,
            rules=ClaimRules(
                role_claim=settings.oidc_role_claim,
                role_map=tuple(sorted(settings.oidc_role_map.items())),
                subject_claim=settings.oidc_subject_claim,
            ),
            leeway_s=settings.oidc_leeway_s,
            jwks_cache_s=settings.oidc_jwks_cache_s,
        )

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token") from exc
        algorithm = header.get("alg")
        if algorithm == "HS256":
            if not self.secret:
                raise AuthError("tokens signed with the shared secret are not accepted here")
            return verify_token(
                self.secret, token, issuer=self.issuer, previous=self.previous, max_lifetime_s=self.max_lifetime_s
            )
        if self.jwks is None or algorithm not in self.algorithms:
            raise AuthError(f"tokens signed with {algorithm!r} are not accepted")
        return principal_from_claims(await self.provider_claims(token, audience=self.oidc_audience), self.rules)

    async def provider_claims(
        self, token: str, *, audience: str | None, nonce: str | None = None
    ) -> dict[str, Any]:
        """A provider token's claims once its signature (by the provider's key), issuer, audience and expiry
        hold — and its `nonce`, for an ID token."""
        if self.jwks is None:
            raise AuthError("no identity provider is configured")
        try:
            header = jwt.get_unverified_header(token)
            algorithm = str(header.get("alg"))
            if algorithm not in self.algorithms:
                raise AuthError(f"tokens signed with {algorithm!r} are not accepted")
            key = await self.jwks.key(header.get("kid"), algorithm)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=self.oidc_issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except JwksError as exc:
            raise AuthError(str(exc)) from exc
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token ({exc})") from exc
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise AuthError("the ID token answers another sign-in")
        return claims


def token_verifier(state: Any) -> TokenVerifier:
    """The app's verifier (made by the app factory; made here from the settings for apps built without it)."""
    verifier: TokenVerifier | None = getattr(state, "token_verifier", None)
    if verifier is None:
        verifier = state.token_verifier = TokenVerifier.from_settings(state.settings)
    return verifier


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


REVOCATION_CACHE_SECONDS = 30.0
SELECT_REVOKED = "SELECT subject, revoked_at FROM revoked_subject"


class Revocations:
    """Subjects revoked by an operator, read from the database at most every 30 s: a revoked user's tokens stop
    working within a minute everywhere, sockets included."""

    def __init__(self, ttl: float = REVOCATION_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._revoked: dict[str, datetime] = {}
        self._loaded = float("-inf")

    async def refresh(self, pool: Any) -> None:
        if time.monotonic() - self._loaded < self.ttl:
            return
        async with pool.acquire() as conn:
            rows = await conn.fetch(SELECT_REVOKED)
        self._revoked = {r["subject"]: r["revoked_at"] for r in rows}
        self._loaded = time.monotonic()

    def revoked(self, principal: Principal) -> bool:
        """Revoked after this token was issued (a token without an issue time counts as older)."""
        if principal.role == "adapter":
            return False
        at = self._revoked.get(principal.subject)
        return at is not None and (principal.issued_at is None or principal.issued_at <= at)


async def check_revoked(state: Any, principal: Principal) -> None:
    revocations: Revocations | None = getattr(state, "revocations", None)
    if revocations is None:
        revocations = state.revocations = Revocations()
    await revocations.refresh(state.pool)
    if revocations.revoked(principal):
        raise AuthError(f"access for {principal.subject!r} was revoked; sign in again if it is restored")


def still_valid(state: Any, principal: Principal, *, now: datetime) -> str | None:
    """Why an open connection's principal no longer holds (expired, revoked), or None: for long-lived sockets."""
    if principal.expires_at is not None and principal.expires_at <= now:
        return "token expired"
    revocations: Revocations | None = getattr(state, "revocations", None)
    if revocations is not None and revocations.revoked(principal):
        return "access revoked"
    return None


ADAPTER_KEY = HTTPBearer(
    scheme_name="adapterKey",
    bearerFormat="sbk_<key id>_<secret>",
    description="A channel adapter's API key (`switchboard keys create`), scoped to channels: "
    "`Authorization: Bearer sbk_…`.",
    auto_error=False,
)
BEARER_TOKEN = HTTPBearer(
    scheme_name="bearerToken",
    bearerFormat="JWT",
    description="A person's signed token (`switchboard token`, the web gateway's session, or the identity "
    "provider's access token) naming a role: agent, supervisor, admin or ops.",
    auto_error=False,
)
# Declared on the dependencies below only so that OpenAPI names the credential each operation takes (Swagger UI's
# Authorize); the header itself is read and checked by `_identify`.
AdapterKey = Annotated[HTTPAuthorizationCredentials | None, Security(ADAPTER_KEY)]
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_TOKEN)]


async def authenticate(request: Request, _key: AdapterKey = None, _token: BearerToken = None) -> Principal:
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
        principal = await token_verifier(state).verify(credential)
        await check_revoked(state, principal)
        return principal
    except AuthError as exc:
        raise Problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc


Check = Callable[[Request], Awaitable[Principal]]


def _secured(check: Check, roles: frozenset[str]) -> Check:
    """`check` as a dependency that declares the credential(s) `roles` can present: an adapter key, a token, or
    either."""
    if roles == {"adapter"}:

        async def key(request: Request, _key: AdapterKey = None) -> Principal:
            return await check(request)

        return key
    if "adapter" not in roles:

        async def token(request: Request, _token: BearerToken = None) -> Principal:
            return await check(request)

        return token

    async def either(request: Request, _key: AdapterKey = None, _token: BearerToken = None) -> Principal:
        return await check(request)

    return either


def require_roles(*roles: Role) -> Check:
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if principal.role not in allowed:
            raise Problem(
                403, "Forbidden", f"role {principal.role!r} may not do this; needs one of {sorted(allowed)}"
            )
        return principal

    return _secured(dependency, allowed)


def require_adapter(channels: Iterable[str] = ()) -> Check:
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

    return _secured(dependency, frozenset({"adapter"}))


def check_channel(principal: Principal, channel: str) -> None:
    if principal.role == "adapter" and channel not in principal.channels:
        raise Problem(403, "Forbidden", f"this key is not scoped to channel {channel!r}")


async def authenticate_websocket(websocket: WebSocket, *roles: Role) -> Principal | None:
    """A bearer token on a WebSocket handshake: the `Authorization` header, or the `access_token` query
    parameter (browsers cannot set headers on a WebSocket). Refused sockets are accepted and closed at once (4401
    unauthenticated, 4403 wrong role) and None is returned: closed before the accept, the client would only see
    the handshake refused with HTTP 403, telling a desktop neither to sign in again nor that it may not connect."""
    header = websocket.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else websocket.query_params.get("access_token", "")
    try:
        if not token:
            raise AuthError("send `Authorization: Bearer <token>` or `?access_token=<token>`")
        principal = await token_verifier(websocket.app.state).verify(token)
        await check_revoked(websocket.app.state, principal)
    except AuthError as exc:
        await websocket.accept()
        await websocket.close(code=4401, reason=str(exc)[:120])
        return None
    if roles and principal.role not in roles:
        await websocket.accept()
        await websocket.close(code=4403, reason=f"role {principal.role} may not connect here")
        return None
    return principal
