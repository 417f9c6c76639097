"""An identity provider's signing keys (JWKS), read over HTTP and kept for a while.

Keys are found by `kid`. An unknown id reads the set again at once (the provider rotated its keys), but at most
every `min_refresh_s`, so tokens with made-up key ids cannot make us hammer the provider. When the provider
cannot be reached, the keys read last keep working until they are `stale_after_s` old.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

ASYMMETRIC = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "ES256": "EC", "ES384": "EC"}
"""Signature algorithms a provider's JWKS may serve, with the key type each needs."""


class JwksError(Exception):
    pass


async def discover(http: httpx.AsyncClient, issuer: str) -> dict[str, Any]:
    """The issuer's OpenID Connect discovery document; its `issuer` must be the one asked for."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = await http.get(url)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise JwksError(f"the identity provider's discovery document could not be read ({exc})") from exc
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise JwksError("the discovery document names another issuer")
    return document


class JwksCache:
    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str | None,
        http: Callable[[], httpx.AsyncClient],
        ttl_s: float = 600.0,
        min_refresh_s: float = 10.0,
        stale_after_s: float = 86_400.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self._http = http
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self.stale_after_s = stale_after_s
        self._monotonic = monotonic
        self._keys: dict[str, dict[str, Any]] = {}
        self._read_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None, algorithm: str) -> Any:
        """The verification key for a token's header (`kid`, `alg`); raises JwksError when there is none."""
        if algorithm not in ASYMMETRIC:
            raise JwksError(f"algorithm {algorithm} is not accepted from the identity provider")
        now = self._monotonic()
        fresh = self._read_at is not None and now - self._read_at < self.ttl_s
        if not fresh or self._find(kid) is None:
            await self._refresh(expired=not fresh)
        jwk = self._find(kid)
        if jwk is None:
            raise JwksError("the token was signed with a key the identity provider does not publish")
        if jwk.get("kty") != ASYMMETRIC[algorithm] or jwk.get("alg", algorithm) != algorithm:
            raise JwksError(f"the key {jwk.get('kid')} is not a {algorithm} key")
        if jwk.get("use", "sig") != "sig":
            raise JwksError(f"the key {jwk.get('kid')} is not for signatures")
        try:
            return jwt.PyJWK(jwk, algorithm=algorithm).key
        except jwt.PyJWTError as exc:
            raise JwksError(f"the key {jwk.get('kid')} cannot be used ({exc})") from exc

    def _find(self, kid: str | None) -> dict[str, Any] | None:
        if kid is not None:
            return self._keys.get(kid)
        # A provider with a single key may leave `kid` out of its tokens.
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _refresh(self, *, expired: bool) -> None:
        async with self._lock:
            now = self._monotonic()
            if self._read_at is not None and now - self._read_at < (self.ttl_s if expired else self.min_refresh_s):
                return  # another task read them meanwhile, or they were read moments ago
            try:
                self._keys = await self._read()
                self._read_at = now
            except JwksError:
                if self._read_at is None or now - self._read_at > self.stale_after_s:
                    raise
                # The provider is unreachable: keep the keys read last (they are not stale yet).

    async def _read(self) -> dict[str, dict[str, Any]]:
        http = self._http()
        url = self.jwks_url or (await discover(http, self.issuer)).get("jwks_uri")
        if not url:
            raise JwksError("the discovery document names no jwks_uri")
        try:
            response = await http.get(url)
            response.raise_for_status()
            keys = response.json().get("keys", [])
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise JwksError(f"the identity provider's keys could not be read ({exc})") from exc
        return {str(k.get("kid", i)): k for i, k in enumerate(keys) if isinstance(k, dict)}
