"""The gateway as an OpenID Connect client: authorisation code with PKCE (S256), at any provider that publishes
a discovery document. Its endpoints are read from `<issuer>/.well-known/openid-configuration`, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from shared.auth import AuthError, TokenVerifier
from shared.jwks import JwksError, discover


class OidcError(Exception):
    pass


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    id_token: str
    refresh_token: str | None
    expires_in_s: float


class OidcClient:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: str,
        verifier: TokenVerifier,
        http: httpx.AsyncClient,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.verifier = verifier
        self.http = http
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            try:
                document = await discover(self.http, self.issuer)
            except JwksError as exc:
                raise OidcError(str(exc)) from exc
            for needed in ("authorization_endpoint", "token_endpoint"):
                if not document.get(needed):
                    raise OidcError(f"the provider's discovery document has no {needed}")
            self._metadata = document
        return self._metadata

    async def authorize_url(self, *, state: str, nonce: str, code_challenge: str, redirect_uri: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenSet:
        return await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def id_claims(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims: signed by the provider, for this client, answering this sign-in."""
        if not id_token:
            raise AuthError("the provider sent no ID token")
        return await self.verifier.provider_claims(id_token, audience=self.client_id, nonce=nonce)

    async def _token_request(self, form: dict[str, str]) -> TokenSet:
        endpoint = (await self.metadata())["token_endpoint"]
        # A confidential client authenticates with HTTP Basic; a public one names itself (PKCE proves the rest).
        headers = {"Accept": "application/json"}
        try:
            if self.client_secret:
                auth = httpx.BasicAuth(self.client_id, self.client_secret)
                response = await self.http.post(endpoint, data=form, auth=auth, headers=headers)
            else:
                body = {**form, "client_id": self.client_id}
                response = await self.http.post(endpoint, data=body, headers=headers)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the provider's token endpoint did not answer ({type(exc).__name__})") from exc
        if response.status_code != 200 or not isinstance(answer, dict) or not answer.get("access_token"):
            error = answer.get("error", response.status_code) if isinstance(answer, dict) else response.status_code
            raise OidcError(f"the provider refused the token request ({error})")
        return TokenSet(
            access_token=str(answer["access_token"]),
            id_token=str(answer.get("id_token", "")),
            refresh_token=answer.get("refresh_token"),
            expires_in_s=float(answer.get("expires_in", 300)),
        )
