"""Signing in and out, finding the session behind a cookie, and the bearer token a session forwards.

The database is the truth about sessions; memory only holds them for a few seconds (`SessionCache`), so a
sign-out on one gateway reaches the others within that time. A password session forwards short tokens the
gateway mints with the shared secret; an OpenID Connect session forwards the provider's access token, renewed
with its refresh token shortly before it expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

import asyncpg

from services.web import repository as repo
from services.web.config import WebSettings
from services.web.domain import (
    UNKNOWN_USER_HASH,
    Session,
    SignInRefused,
    SignInThrottle,
    digest,
    new_secret,
    password_matches,
    pkce_challenge,
    safe_next,
)
from services.web.oidc import OidcClient, OidcError
from shared.auth import AuthError, Role, TokenVerifier, issue_token
from shared.clock import Clock

log = logging.getLogger(__name__)

SESSION_CACHE_S = 5.0
RENEW_BEFORE = timedelta(seconds=60)
SIGNIN_STATE_TTL = timedelta(minutes=10)


class NotSignedIn(Exception):
    """No session, an expired one, or one whose provider tokens can no longer be renewed."""


@dataclass
class SessionCache:
    """Sessions (and a password session's minted token) for a few seconds, keyed by the cookie's digest."""

    ttl_s: float = SESSION_CACHE_S
    sessions: dict[bytes, tuple[float, Session]] = field(default_factory=dict)
    tokens: dict[bytes, tuple[float, str]] = field(default_factory=dict)

    def get(self, key: bytes, now: float) -> Session | None:
        hit = self.sessions.get(key)
        return hit[1] if hit is not None and hit[0] > now else None

    def put(self, key: bytes, session: Session, now: float) -> None:
        if len(self.sessions) > 50_000:
            self.sessions.clear()
        self.sessions[key] = (now + self.ttl_s, session)

    def forget(self, key: bytes) -> None:
        self.sessions.pop(key, None)
        self.tokens.pop(key, None)


@dataclass(frozen=True)
class Deps:
    pool: asyncpg.Pool
    settings: WebSettings
    clock: Clock
    verifier: TokenVerifier
    oidc: OidcClient | None
    cache: SessionCache
    throttle: SignInThrottle
    on_sign_out: Callable[[bytes], None] = lambda _key: None
    """Told the digest of every session that ends here (the WebSocket proxy closes its sockets)."""
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class NewSession:
    cookie: str
    """The cookie's value: shown to the browser once, stored only as its digest."""
    session: Session
    next_path: str


async def _start_session(
    deps: Deps,
    *,
    source: str,
    user_id: str,
    role: str,
    subject: str,
    display_name: str,
    next_path: str | None,
    access_token: str | None = None,
    refresh_token: str | None = None,
    access_expires_in_s: float | None = None,
) -> NewSession:
    cookie = new_secret()
    now = deps.clock.now()
    session = Session(
        session_digest=digest(cookie),
        source=source,
        user_id=user_id,
        role=role,
        subject=subject,
        display_name=display_name,
        csrf_token=new_secret(),
        created_at=now,
        expires_at=now + timedelta(seconds=deps.settings.session_ttl_s),
        access_token=access_token,
        refresh_token=refresh_token,
        access_expires_at=now + timedelta(seconds=access_expires_in_s) if access_expires_in_s else None,
    )
    async with deps.pool.acquire() as conn:
        await repo.insert_session(conn, session)
    return NewSession(cookie, session, safe_next(next_path, role))


async def sign_in_with_password(
    deps: Deps, *, username: str, password: str, client: str, next_path: str | None
) -> NewSession:
    """Raises TooManyAttempts (checked before any work) or SignInRefused (unknown name, wrong password or an
    inactive user: one answer, in the same time)."""
    name = username.strip().lower()
    keys = (f"user:{name}", f"client:{client}")
    deps.throttle.check(keys, deps.monotonic())
    async with deps.pool.acquire() as conn:
        user = await repo.get_user(conn, name)
    stored = user.password_hash if user is not None else UNKNOWN_USER_HASH
    matches = await asyncio.to_thread(password_matches, password, stored)  # ~50 ms of scrypt off the event loop
    if user is None or not user.active or not matches:
        deps.throttle.failed(keys, deps.monotonic())
        raise SignInRefused("the name or the password is wrong")
    deps.throttle.succeeded(keys[0])
    return await _start_session(
        deps,
        source="password",
        user_id=user.user_id,
        role=user.role,
        subject=user.subject,
        display_name=user.display_name,
        next_path=next_path,
    )


async def session_of(deps: Deps, cookie: str | None) -> Session | None:
    if not cookie or len(cookie) > 200:
        return None
    key = digest(cookie)
    now = deps.monotonic()
    session = deps.cache.get(key, now)
    if session is None:
        async with deps.pool.acquire() as conn:
            session = await repo.get_session(conn, key, now=deps.clock.now())
        if session is None:
            return None
        deps.cache.put(key, session, now)
    if session.expires_at <= deps.clock.now():
        deps.cache.forget(key)
        return None
    return session


async def bearer_of(deps: Deps, session: Session) -> str:
    """The token to forward for this session. Raises NotSignedIn when a provider's token cannot be renewed."""
    if session.source == "password":
        key = session.session_digest
        now = deps.monotonic()
        cached = deps.cache.tokens.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        ttl = deps.settings.token_ttl_s
        token = issue_token(
            deps.settings.token_secret.get_secret_value(),
            role=_role(session.role),
            subject=session.subject,
            ttl=timedelta(seconds=ttl),
            now=deps.clock.now(),
            issuer=deps.settings.token_issuer,
        )
        deps.cache.tokens[key] = (now + ttl - RENEW_BEFORE.total_seconds(), token)
        return token
    if (
        session.access_token
        and session.access_expires_at
        and session.access_expires_at - RENEW_BEFORE > (deps.clock.now())
    ):
        return session.access_token
    return await _renew(deps, session)


def _role(role: str) -> Role:
    for known in ("agent", "supervisor", "admin", "ops"):
        if role == known:
            return known
    raise NotSignedIn(f"a session with the unknown role {role!r}")


async def _renew(deps: Deps, session: Session) -> str:
    if deps.oidc is None or not session.refresh_token:
        raise NotSignedIn("the sign-in at the identity provider has expired")
    try:
        tokens = await deps.oidc.refresh(session.refresh_token)
        principal = await deps.verifier.verify(tokens.access_token)
    except (OidcError, AuthError) as exc:
        log.info("renewing a provider session failed: %s", type(exc).__name__)
        raise NotSignedIn("the sign-in at the identity provider has expired") from exc
    if (principal.role, principal.subject) != (session.role, session.subject):
        raise NotSignedIn("the identity provider now names another role or person")
    expires_at = deps.clock.now() + timedelta(seconds=tokens.expires_in_s)
    async with deps.pool.acquire() as conn:
        await repo.update_session_tokens(
            conn,
            session_digest=session.session_digest,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or session.refresh_token,
            access_expires_at=expires_at,
        )
    renewed = replace(
        session,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token or session.refresh_token,
        access_expires_at=expires_at,
    )
    deps.cache.put(session.session_digest, renewed, deps.monotonic())
    return tokens.access_token


async def sign_out(deps: Deps, session: Session) -> None:
    async with deps.pool.acquire() as conn:
        await repo.delete_session(conn, session.session_digest)
    deps.cache.forget(session.session_digest)
    deps.on_sign_out(session.session_digest)


# --- OpenID Connect ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInStarted:
    authorize_url: str
    browser_cookie: str
    """Kept by the browser that started the sign-in (SameSite=Lax, so it comes back with the provider's
    redirect); the answer is only taken from that browser."""


async def begin_oidc(deps: Deps, *, redirect_uri: str, next_path: str | None) -> SignInStarted:
    if deps.oidc is None:
        raise OidcError("no identity provider is configured")
    state, nonce, verifier, browser = new_secret(), new_secret(), new_secret(), new_secret()
    async with deps.pool.acquire() as conn:
        await repo.insert_signin_state(
            conn,
            state=state,
            browser_digest=digest(browser),
            code_verifier=verifier,
            nonce=nonce,
            next_path=next_path or "",
            now=deps.clock.now(),
        )
    url = await deps.oidc.authorize_url(
        state=state, nonce=nonce, code_challenge=pkce_challenge(verifier), redirect_uri=redirect_uri
    )
    return SignInStarted(url, browser)


async def finish_oidc(
    deps: Deps, *, code: str, state: str, browser_cookie: str | None, redirect_uri: str
) -> NewSession:
    """The provider's answer: the code is exchanged (with the PKCE verifier), the ID token checked (signature,
    issuer, audience, nonce), and the access token must be one the services accept, naming a role."""
    if deps.oidc is None:
        raise OidcError("no identity provider is configured")
    async with deps.pool.acquire() as conn:
        started = await repo.take_signin_state(conn, state=state, since=deps.clock.now() - SIGNIN_STATE_TTL)
    if started is None:
        raise OidcError("this sign-in is unknown or took too long; start again")
    browser_digest, verifier, nonce, next_path = started
    if browser_cookie is None or digest(browser_cookie) != browser_digest:
        raise OidcError("this sign-in was started in another browser")
    tokens = await deps.oidc.exchange(code=code, code_verifier=verifier, redirect_uri=redirect_uri)
    try:
        identity = await deps.oidc.id_claims(tokens.id_token, nonce=nonce)
        principal = await deps.verifier.verify(tokens.access_token)
    except AuthError as exc:
        raise OidcError(f"the identity provider's tokens were refused: {exc}") from exc
    name = identity.get("name") or identity.get("preferred_username") or principal.subject
    return await _start_session(
        deps,
        source="oidc",
        user_id=str(identity.get("sub", principal.subject)),
        role=principal.role,
        subject=principal.subject,
        display_name=str(name),
        next_path=next_path,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        access_expires_in_s=tokens.expires_in_s,
    )


async def purge(deps: Deps) -> None:
    """Delete ended sessions and sign-ins never finished (one step of the housekeeping loop)."""
    now = deps.clock.now()
    async with deps.pool.acquire() as conn:
        sessions, states = await repo.purge_expired(conn, now=now, states_before=now - SIGNIN_STATE_TTL)
    if sessions or states:
        log.info("housekeeping: %d ended sessions, %d unfinished sign-ins deleted", sessions, states)
