"""The gateway over real connections: sign-in gives an HttpOnly SameSite=Strict cookie that the gateway turns into
the services' bearer token; changes without the CSRF header (or from another site) are refused; the desktop
WebSocket is forwarded with the session's token, resumes with `after`, passes routing's close codes on and
closes when the session signs out; bad input is a 4xx problem, never a 5xx."""

from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.web.conftest import Gateway, problem

pytestmark = pytest.mark.integration


async def test_signing_in_gives_an_httponly_strict_cookie_and_the_service_gets_a_bearer_token_instead(
    gateway: Gateway,
) -> None:
    await gateway.add_user("alice", role="agent", subject="A-7", password="agent-pass-1")
    async with gateway.client() as browser:
        refused = await browser.post("/auth/signin", json={"username": "alice", "password": "nope-nope"})
        assert problem(refused)["type"].endswith("#signin-refused")
        unknown = await browser.post("/auth/signin", json={"username": "mallory", "password": "agent-pass-1"})
        assert problem(unknown)["detail"] == problem(refused)["detail"]  # one answer for both

        signed = await browser.post("/auth/signin", json={"username": "Alice", "password": "agent-pass-1"})
        assert signed.status_code == 200 and signed.json() == {"next": "/workspace", "role": "agent"}
        cookie = SimpleCookie(signed.headers["set-cookie"])["sb_session"]
        assert cookie["httponly"] and cookie["samesite"].lower() == "strict" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain HTTP here; over HTTPS it is Secure and named __Host-sb_session
        assert "csrf" not in signed.text  # the page asks /auth/me for its CSRF token

        echoed = await browser.get("/api/routing/v1/echo/work/42?state=open&q=%E5%AE%BD%E5%B8%A6")
        assert echoed.status_code == 200, echoed.text
        seen = echoed.json()
        assert (seen["role"], seen["subject"]) == ("agent", "A-7")  # the service verified our token itself
        assert seen["path"] == "/v1/echo/work/42" and seen["query"] == "state=open&q=%E5%AE%BD%E5%B8%A6"
        assert seen["headers"]["authorization"].startswith("Bearer ey")
        assert "cookie" not in seen["headers"] and "origin" not in seen["headers"]
        assert "set-cookie" not in echoed.headers  # the service may not set cookies on our origin
        assert echoed.headers["x-upstream"] == "echo"
        assert "script-src 'self'" in echoed.headers["content-security-policy"]

        streamed = await browser.get("/api/knowledge/v1/stream")
        assert streamed.text == "chunk 0\nchunk 1\nchunk 2\n"

        assert (await browser.get("/workspace")).status_code == 200
        wallboard = await browser.get("/wallboard")
        assert (wallboard.status_code, wallboard.headers["location"]) == (303, "/workspace")  # not an agent's page


async def test_changes_need_the_csrf_header_and_this_site_as_their_origin(gateway: Gateway) -> None:
    await gateway.add_user("sam", role="supervisor", subject="S-1", password="super-pass-1")
    async with gateway.signed_in("sam", "super-pass-1") as (browser, csrf):
        path = "/api/routing/v1/echo/work/42/assign"
        missing = await browser.post(path, json={"agent_id": "A-7"})
        assert problem(missing)["type"].endswith("#csrf")
        wrong = await browser.post(path, json={"agent_id": "A-7"}, headers={"X-CSRF-Token": csrf[:-2] + "xx"})
        assert problem(wrong)["status"] == 403
        elsewhere = await browser.post(
            path, json={"agent_id": "A-7"}, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
        )
        assert problem(elsewhere)["type"].endswith("#cross-origin")
        assert gateway.upstream.state.seen == []  # none of them reached the service

        done = await browser.post(path, json={"agent_id": "A-7"}, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200
        assert json.loads(done.json()["body"]) == {"agent_id": "A-7"}
        assert "x-csrf-token" not in done.json()["headers"]

        signed_out = await browser.post("/auth/signout", headers={"X-CSRF-Token": csrf})
        assert signed_out.status_code == 204
        after = await browser.get("/api/routing/v1/echo/anything")
        assert problem(after)["type"].endswith("#not-signed-in")


async def test_without_a_session_the_api_answers_401_and_pages_send_you_to_sign_in(gateway: Gateway) -> None:
    async with gateway.client() as stranger:
        assert problem(await stranger.get("/api/routing/v1/echo/x"))["status"] == 401
        stranger.cookies.set("sb_session", "made-up")
        assert problem(await stranger.get("/api/routing/v1/echo/x"))["status"] == 401
        page = await stranger.get("/wallboard")
        assert (page.status_code, page.headers["location"]) == (303, "/signin?next=/wallboard")
        assert (await stranger.get("/signin")).status_code == 200
        assert (await stranger.get("/static/js/workspace.js")).status_code == 200  # code, no secrets


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/auth/signin", b"{not json", 422),
        ("POST", "/auth/signin", b'{"username": "a"}', 422),
        ("POST", "/auth/signin", b'{"username": "a", "password": "b", "admin": true}', 422),
        ("POST", "/auth/signin", b'{"username": "' + b"a" * 500 + b'", "password": "b"}', 422),
        ("GET", "/api/billing/v1/x", None, 404),
        ("GET", "/api/routing/metrics", None, 404),
        ("GET", "/api/routing/v1/%2e%2e/metrics", None, 404),
        ("GET", "/auth/oidc/callback", None, 400),
        ("GET", "/auth/oidc/callback?code=x&state=never-issued", None, 400),
        ("GET", "/static/nothing-here.js", None, 404),
        ("POST", "/auth/signout", b"{}", 401),
        ("GET", "/auth/me", None, 401),
    ],
)
async def test_bad_input_is_a_problem_in_the_4xx_range(
    gateway: Gateway, method: str, path: str, body: bytes | None, status: int
) -> None:
    async with gateway.client() as client:
        response = await client.request(
            method, path, content=body, headers={"Content-Type": "application/json"} if body else {}
        )
    assert problem(response)["status"] == status


async def test_oversized_bodies_and_repeated_failed_sign_ins_are_refused(gateway: Gateway) -> None:
    await gateway.add_user("bob", role="agent", subject="A-8", password="agent-pass-2")
    async with gateway.signed_in("bob", "agent-pass-2") as (browser, csrf):
        big = await browser.post(
            "/api/intake/v1/echo/notes", content=b"x" * 70_000, headers={"X-CSRF-Token": csrf}
        )
        assert problem(big)["status"] == 413
    async with gateway.client() as guesser:
        for _ in range(3):
            await guesser.post("/auth/signin", json={"username": "bob", "password": "guess-guess"})
        locked = await guesser.post("/auth/signin", json={"username": "bob", "password": "agent-pass-2"})
        assert problem(locked)["status"] == 429 and int(locked.headers["retry-after"]) > 0


async def test_the_desktop_socket_carries_the_session_s_token_resumes_and_closes_on_sign_out(
    gateway: Gateway,
) -> None:
    await gateway.add_user("carol", role="agent", subject="A-9", password="agent-pass-3")
    ws_url = gateway.url.replace("http://", "ws://") + "/api/routing/v1/desktop/ws"
    async with gateway.signed_in("carol", "agent-pass-3") as (browser, csrf):
        cookie = f"sb_session={browser.cookies['sb_session']}"
        same_site = {"Cookie": cookie, "Origin": gateway.url}
        async with connect(ws_url, additional_headers=same_site) as desk:
            hello = json.loads(await desk.recv())
            assert (hello["type"], hello["subject"], hello["after"]) == ("hello", "A-9", None)
            await desk.send(json.dumps({"type": "ping", "ref": "p1"}))
            assert json.loads(await desk.recv())["ref"] == "p1"

        async with connect(ws_url + "?after=41&access_token=forged", additional_headers=same_site) as resumed:
            assert json.loads(await resumed.recv())["after"] == "41"  # only `after` goes on
            await resumed.send(json.dumps({"type": "close", "code": 4000}))
            with pytest.raises(ConnectionClosed) as replaced:
                await resumed.recv()
            assert (
                replaced.value.rcvd is not None and replaced.value.rcvd.code == 4000
            )  # routing's code, passed on

        async with connect(ws_url, additional_headers={"Origin": gateway.url}) as anonymous:
            with pytest.raises(ConnectionClosed) as signed_out:
                await anonymous.recv()
            assert signed_out.value.rcvd is not None and signed_out.value.rcvd.code == 4401

        with pytest.raises(InvalidStatus):  # another site's page may not open it with our cookie
            async with connect(ws_url, additional_headers={"Cookie": cookie, "Origin": "https://evil.example"}):
                pass

        async with connect(ws_url, additional_headers=same_site) as open_desk:
            await open_desk.recv()
            assert (await browser.post("/auth/signout", headers={"X-CSRF-Token": csrf})).status_code == 204
            async with asyncio.timeout(10):
                await open_desk.wait_closed()
            assert open_desk.close_code == 4401


async def test_admins_and_ops_get_no_desktop_socket(gateway: Gateway) -> None:
    await gateway.add_user("root", role="admin", subject="admin-1", password="admin-pass-1")
    async with gateway.signed_in("root", "admin-pass-1") as (browser, _):
        ws_url = gateway.url.replace("http://", "ws://") + "/api/routing/v1/desktop/ws"
        headers = {"Cookie": f"sb_session={browser.cookies['sb_session']}", "Origin": gateway.url}
        async with connect(ws_url, additional_headers=headers) as desk:
            with pytest.raises(ConnectionClosed) as closed:
                await desk.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        home = await browser.get("/", follow_redirects=False)
        assert home.headers["location"] == "/wallboard"


async def test_a_service_that_is_down_is_a_502_problem_not_a_hang(gateway: Gateway) -> None:
    await gateway.add_user("dave", role="ops", subject="ops-1", password="ops-pass-01")
    async with gateway.signed_in("dave", "ops-pass-01") as (browser, _):
        gateway.settings.sla_url = "http://127.0.0.1:9"  # nothing listens on the discard port
        response = await browser.get("/api/sla/v1/echo/x")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("#upstream-unreachable")
