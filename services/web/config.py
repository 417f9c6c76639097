"""WebSettings: the gateway's knobs — where the five services are, sessions, cookies and the sign-in ways."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from shared.config import ServiceSettings


class WebSettings(ServiceSettings):
    service: str = "web"
    port: int = 8100
    database_url: str = "postgresql://switchboard@127.0.0.1:5532/web"
    db_pool_max: int = 5
    max_request_bytes: int = 2 * 1024 * 1024
    """Largest body the gateway forwards (replies and notes; raw e-mail goes from adapters to intake directly)."""
    intake_url: str = "http://127.0.0.1:8101"
    """Where `/api/intake/…` goes."""
    routing_url: str = "http://127.0.0.1:8102"
    """Where `/api/routing/…` and the desktop WebSocket go."""
    sla_url: str = "http://127.0.0.1:8103"
    """Where `/api/sla/…` goes."""
    feedback_url: str = "http://127.0.0.1:8104"
    """Where `/api/feedback/…` goes."""
    knowledge_url: str = "http://127.0.0.1:8105"
    """Where `/api/knowledge/…` goes."""
    upstream_timeout_s: float = 30.0
    """Longest wait for a service's answer to a forwarded request."""
    session_ttl_s: int = 12 * 3600
    """How long a sign-in lasts (a shift), whatever happens in between; signing out ends it at once."""
    token_ttl_s: int = 15 * 60
    """Lifetime of the bearer tokens the gateway mints for a password session (renewed before they expire)."""
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    """Mark the session cookie Secure (and name it `__Host-…`): `auto` when the request came over HTTPS."""
    trust_forwarded_proto: bool = False
    """Believe `X-Forwarded-Proto` (only behind a TLS-terminating proxy of ours)."""
    password_signin: bool = True
    """Sign-in with the users of the gateway's own table (names and scrypt hashes; `switchboard users`)."""
    signin_attempts: int = 5
    """Failed sign-ins per name and per client address before `signin_lockout_s` must pass."""
    signin_lockout_s: float = 300.0
    """Window in which failed sign-ins are counted."""
    oidc_client_id: str | None = None
    """The gateway's client at the OpenID Connect provider (`oidc_issuer`); set both to offer its sign-in."""
    oidc_client_secret: SecretStr = Field(default=SecretStr(""))
    """The client's secret, for confidential clients (PKCE is used either way)."""
    oidc_scopes: str = "openid profile"
    """Scopes asked for at the provider."""
    oidc_redirect_url: str | None = None
    """The callback address registered at the provider; this server's own `/auth/oidc/callback` when unset."""
    oidc_provider_name: str = "Single sign-on"
    """The sign-in button's label."""
    wallboard_poll_s: float = 2.0
    """How often the wallboard reads the figures."""
    housekeeping_interval_s: float = 600.0
    """How often expired sessions and abandoned sign-ins are deleted."""

    def upstream(self, service: str) -> str | None:
        url: str | None = getattr(self, f"{service}_url", None) if service in UPSTREAMS else None
        return url.rstrip("/") if url else None


UPSTREAMS = ("intake", "routing", "sla", "feedback", "knowledge")
"""The services behind `/api/<service>/…`."""
