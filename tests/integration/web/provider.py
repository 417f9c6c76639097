"""A tiny OpenID Connect provider for the tests, with a local RSA key (access tokens, RS256) and EC key (ID
tokens, ES256): discovery, an authorisation endpoint that signs in one configured person at once, a token
endpoint that checks the PKCE verifier and the redirect address and renews with refresh tokens, and the JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

CLIENT_ID = "switchboard-web"
AUDIENCE = "switchboard-api"


@dataclass
class Provider:
    issuer: str = ""
    person: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "u-4711",
            "name": "Lin Mei",
            "agent_id": "S-LIN",
            "realm_access": {"roles": ["offline_access", "cc-lead"]},
        }
    )
    access_ttl_s: int = 300
    rsa_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    ec_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    grants: list[str] = field(default_factory=list)
    """The grant type of every token request, in order."""

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
            ]
        }

    def access_token(self, **extra: Any) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "iat": now, "exp": now + self.access_ttl_s, **self.person}
        return jwt.encode({**claims, **extra}, self.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce}
        claims.update(sub=self.person["sub"], name=self.person["name"])
        return jwt.encode(claims, self.ec_key, algorithm="ES256", headers={"kid": "ec-1"})

    def tokens(self) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        return {
            "access_token": self.access_token(),
            "token_type": "Bearer",
            "expires_in": self.access_ttl_s,
            "refresh_token": refresh,
        }


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def provider_app(provider: Provider) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": provider.issuer,
            "authorization_endpoint": provider.issuer + "/authorize",
            "token_endpoint": provider.issuer + "/token",
            "jwks_uri": provider.issuer + "/jwks",
            "code_challenge_methods_supported": ["S256"],
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return provider.jwks()

    @app.get("/authorize")
    async def authorize(request: Request) -> Any:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE S256 required"}, 400)
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
            "nonce": q.get("nonce", ""),
        }
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    @app.post("/token")
    async def token(request: Request) -> Any:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant_type, client_id = form.get("grant_type", ""), form.get("client_id", "")
        code, code_verifier = form.get("code", ""), form.get("code_verifier", "")
        redirect_uri, refresh_token = form.get("redirect_uri", ""), form.get("refresh_token", "")
        provider.grants.append(grant_type)
        if client_id != CLIENT_ID:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if grant_type == "refresh_token":
            if refresh_token not in provider.refresh_tokens:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            provider.refresh_tokens.discard(refresh_token)
            return provider.tokens()
        issued = provider.codes.pop(code, None)
        if issued is None or issued["redirect_uri"] != redirect_uri or s256(code_verifier) != issued["challenge"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return {**provider.tokens(), "id_token": provider.id_token(issued["nonce"])}

    return app
