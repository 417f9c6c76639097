"""Signing in at an identity provider (authorisation code + PKCE) through the gateway, against a tiny local
provider with a local RSA and EC key pair: the gateway checks the ID token and that the access token names a
role; the service behind it checks that token itself by the provider's JWKS; the session renews it with the
refresh token; an answer is taken once, and only from the browser that started the sign-in. The provider gives
a code only for an S256 challenge and tokens only for the verifier behind it, so every sign-in here also shows
the gateway's PKCE is right."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.web.conftest import Gateway, problem
from tests.integration.web.provider import CLIENT_ID

pytestmark = pytest.mark.integration


async def _to_provider_and_back(gateway: Gateway, next_path: str = "/wallboard") -> tuple[str, str]:
    """Start a sign-in in the browser (the gateway's client) and let the provider answer; the callback address
    the provider sends the browser to, and the browser's binding cookie."""
    async with gateway.client() as browser:
        started = await browser.get(f"/auth/oidc/start?next={next_path}")
        assert started.status_code == 303
        authorize = urlsplit(started.headers["location"])
        query = parse_qs(authorize.query)
        assert authorize.geturl().startswith(gateway.provider.issuer + "/authorize")
        assert (query["client_id"], query["code_challenge_method"], query["response_type"]) == (
            [CLIENT_ID],
            ["S256"],
            ["code"],
        )
        assert query["redirect_uri"] == [gateway.url + "/auth/oidc/callback"]
        assert "openid" in query["scope"][0] and query["nonce"][0] and query["state"][0]
        binding = browser.cookies["sb_oidc"]
        answer = await browser.get(started.headers["location"])  # the provider signs the person in at once
        assert answer.status_code == 302
        return answer.headers["location"], binding


async def test_a_person_signs_in_at_the_provider_and_the_services_accept_its_token_by_jwks(
    gateway: Gateway,
) -> None:
    callback, binding = await _to_provider_and_back(gateway)
    async with gateway.client() as browser:
        browser.cookies.set("sb_oidc", binding, path="/auth/oidc")
        landed = await browser.get(callback)
        assert landed.status_code == 200, landed.text
        assert 'http-equiv="refresh" content="0;url=/wallboard"' in landed.text  # a same-site step to the page
        assert "sb_session" in landed.headers["set-cookie"] and "HttpOnly" in landed.headers["set-cookie"]
        me = (await browser.get("/auth/me")).json()
        assert (me["role"], me["subject"], me["name"], me["source"]) == ("supervisor", "S-LIN", "Lin Mei", "oidc")

        echoed = (await browser.get("/api/routing/v1/echo/supervisor/queue")).json()
        assert (echoed["role"], echoed["subject"]) == ("supervisor", "S-LIN")  # checked by the service by JWKS
        token = echoed["headers"]["authorization"].removeprefix("Bearer ")
        assert token.split(".")[0]  # the provider's RS256 token, forwarded as it came

        replayed = await browser.get(callback)
        assert problem(replayed)["status"] == 400  # an answer counts once


async def test_an_answer_is_only_taken_from_the_browser_that_started_the_sign_in(gateway: Gateway) -> None:
    callback, _ = await _to_provider_and_back(gateway)
    async with gateway.client() as other_browser:
        stolen = await other_browser.get(callback)
    assert "another browser" in problem(stolen)["detail"]


async def test_the_session_renews_the_provider_token_with_its_refresh_token(gateway: Gateway) -> None:
    gateway.provider.access_ttl_s = 30  # inside the gateway's renewal margin (60 s) from the start
    callback, binding = await _to_provider_and_back(gateway)
    async with gateway.client() as browser:
        browser.cookies.set("sb_oidc", binding, path="/auth/oidc")
        assert (await browser.get(callback)).status_code == 200
        first = (await browser.get("/api/sla/v1/echo/a")).json()["headers"]["authorization"]
        assert gateway.provider.grants == ["authorization_code", "refresh_token"]
        gateway.provider.access_ttl_s = 3600
        second = (await browser.get("/api/sla/v1/echo/b")).json()["headers"]["authorization"]
        third = (await browser.get("/api/sla/v1/echo/c")).json()["headers"]["authorization"]
    assert second != first and third == second  # renewed once, then kept while it is fresh
    assert gateway.provider.grants == ["authorization_code", "refresh_token", "refresh_token"]


async def test_a_person_the_provider_gives_no_switchboard_role_is_not_signed_in(gateway: Gateway) -> None:
    gateway.provider.person["realm_access"] = {"roles": ["offline_access"]}
    callback, binding = await _to_provider_and_back(gateway)
    async with gateway.client() as browser:
        browser.cookies.set("sb_oidc", binding, path="/auth/oidc")
        refused = await browser.get(callback)
        assert "no Switchboard role" in problem(refused)["detail"]
        assert problem(await browser.get("/auth/me"))["status"] == 401
