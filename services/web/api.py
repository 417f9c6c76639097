"""Sign-in and sign-out, who is signed in, the pages and their files.

Pages need a session (else a redirect to the sign-in page); `/auth/*` answers JSON or problem+json. The
session cookie is HttpOnly, SameSite=Strict and, over HTTPS, Secure with the `__Host-` prefix: no script on
a page can read it, and no other site can make the browser send it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from services.web.assets import Asset, asset_response
from services.web.domain import (
    PAGES,
    SAFE_METHODS,
    Session,
    SignInRefused,
    TooManyAttempts,
    cookie_name,
    csrf_matches,
    home_of,
    page_allows,
    safe_next,
    same_origin,
)
from services.web.handlers import (
    Deps,
    NewSession,
    begin_oidc,
    finish_oidc,
    session_of,
    sign_in_with_password,
    sign_out,
)
from services.web.oidc import OidcError
from shared.errors import Problem

router = APIRouter()
OIDC_BROWSER_COOKIE = "sb_oidc"


def deps_of(request: HTTPConnection) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def is_https(request: HTTPConnection) -> bool:
    settings = deps_of(request).settings
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "always"
    forwarded = request.headers.get("x-forwarded-proto", "") if settings.trust_forwarded_proto else ""
    return request.url.scheme in ("https", "wss") or forwarded.lower() == "https"


def session_cookie(request: HTTPConnection) -> str | None:
    return request.cookies.get(cookie_name(is_https(request)))


async def optional_session(request: Request) -> Session | None:
    return await session_of(deps_of(request), session_cookie(request))


async def current_session(request: Request) -> Session:
    """The caller's session, or 401; for methods that change something, also the CSRF header and, from a
    browser, an `Origin` of this very site (403)."""
    session = await optional_session(request)
    if session is None:
        raise Problem(401, "Unauthorized", "sign in first (POST /auth/signin)", kind="not-signed-in")
    if request.method not in SAFE_METHODS:
        check_request_origin(request)
        if not csrf_matches(session.csrf_token, request.headers.get("x-csrf-token")):
            raise Problem(
                403,
                "Forbidden",
                "changes need the X-CSRF-Token header the page got from GET /auth/me",
                kind="csrf",
            )
    return session


def check_request_origin(request: Request) -> None:
    scheme = "https" if is_https(request) else "http"
    if not same_origin(request.headers.get("origin"), scheme=scheme, host=request.headers.get("host", "")):
        raise Problem(403, "Forbidden", "this request came from another site", kind="cross-origin")


SignedIn = Annotated[Session, Depends(current_session)]


def _set_session_cookie(response: Response, request: Request, started: NewSession) -> None:
    secure = is_https(request)
    response.set_cookie(
        cookie_name(secure),
        started.cookie,
        max_age=deps_of(request).settings.session_ttl_s,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def _me(session: Session, request: Request) -> dict[str, Any]:
    settings = deps_of(request).settings
    return {
        "user_id": session.user_id,
        "name": session.display_name,
        "role": session.role,
        "subject": session.subject,
        "source": session.source,
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at.isoformat(),
        "home": home_of(session.role),
        "pages": [page for page in PAGES if page_allows(page, session.role)],
        "wallboard_poll_s": settings.wallboard_poll_s,
    }


# --- sign-in with a password --------------------------------------------------------------------------------


class SignInIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    next: str | None = Field(default=None, max_length=500)


@router.get("/auth/options")
async def signin_options(request: Request) -> dict[str, Any]:
    """What the sign-in page offers: the password form, a provider's button, or both."""
    settings = deps_of(request).settings
    provider = {"name": settings.oidc_provider_name} if deps_of(request).oidc is not None else None
    return {"password": settings.password_signin, "oidc": provider}


@router.post("/auth/signin")
async def signin(body: SignInIn, request: Request) -> JSONResponse:
    deps = deps_of(request)
    if not deps.settings.password_signin:
        raise Problem(403, "Forbidden", "sign in with the identity provider", kind="password-signin-off")
    check_request_origin(request)
    client = request.client.host if request.client else "unknown"
    try:
        started = await sign_in_with_password(
            deps, username=body.username, password=body.password, client=client, next_path=body.next
        )
    except TooManyAttempts as exc:
        raise Problem(
            429,
            "Too many requests",
            str(exc),
            kind="signin-throttled",
            headers={"Retry-After": str(max(1, round(exc.retry_after_s)))},
        ) from exc
    except SignInRefused as exc:
        raise Problem(401, "Unauthorized", str(exc), kind="signin-refused") from exc
    response = JSONResponse({"next": started.next_path, "role": started.session.role})
    _set_session_cookie(response, request, started)
    return response


@router.post("/auth/signout", status_code=204)
async def signout(request: Request, session: SignedIn) -> Response:
    await sign_out(deps_of(request), session)
    response = Response(status_code=204)
    response.delete_cookie(cookie_name(is_https(request)), path="/", secure=is_https(request), httponly=True)
    return response


@router.get("/auth/me")
async def me(request: Request, session: SignedIn) -> JSONResponse:
    return JSONResponse(_me(session, request), headers={"Cache-Control": "no-store"})


# --- sign-in at an identity provider --------------------------------------------------------------------------


def _redirect_uri(request: Request) -> str:
    configured = deps_of(request).settings.oidc_redirect_url
    if configured:
        return configured
    scheme = "https" if is_https(request) else "http"
    return f"{scheme}://{request.headers.get('host', '')}/auth/oidc/callback"


@router.get("/auth/oidc/start")
async def oidc_start(
    request: Request, next_path: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> RedirectResponse:
    try:
        started = await begin_oidc(deps_of(request), redirect_uri=_redirect_uri(request), next_path=next_path)
    except OidcError as exc:
        raise Problem(404, "Not found", str(exc), kind="no-identity-provider") from exc
    response = RedirectResponse(started.authorize_url, status_code=303)
    response.set_cookie(
        OIDC_BROWSER_COOKIE,
        started.browser_cookie,
        max_age=600,
        path="/auth/oidc",
        secure=is_https(request),
        httponly=True,
        samesite="lax",  # it must come back with the provider's top-level redirect
    )
    return response


@router.get("/auth/oidc/callback", response_class=HTMLResponse)
async def oidc_callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if error or not code or not state:
        raise Problem(400, "Bad request", f"the identity provider answered: {error or 'no code'}", kind="oidc")
    try:
        started = await finish_oidc(
            deps_of(request),
            code=code,
            state=state,
            browser_cookie=request.cookies.get(OIDC_BROWSER_COOKIE),
            redirect_uri=_redirect_uri(request),
        )
    except OidcError as exc:
        raise Problem(400, "Bad request", str(exc), kind="oidc") from exc
    # A page of ours moves on: the Strict session cookie is not sent on a redirect chain that began at another
    # site, but it is on a navigation this origin starts.
    target = started.next_path
    page = (
        f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={target}">'
        f'<title>Switchboard</title><a href="{target}">Continue</a>'
    )
    response = HTMLResponse(page, headers={"Cache-Control": "no-store"})
    _set_session_cookie(response, request, started)
    response.delete_cookie(OIDC_BROWSER_COOKIE, path="/auth/oidc")
    return response


# --- pages ------------------------------------------------------------------------------------------------------


def _asset(request: Request, path: str) -> Asset:
    asset: Asset | None = request.app.state.assets.get(path)
    if asset is None:
        raise Problem(404, "Not found", f"no file {path}")
    return asset


@router.get("/", include_in_schema=False)
async def root(request: Request) -> RedirectResponse:
    session = await optional_session(request)
    return RedirectResponse(home_of(session.role) if session else "/signin", status_code=303)


@router.get("/signin", include_in_schema=False)
async def signin_page(request: Request) -> Response:
    return asset_response(_asset(request, "signin.html"), request)


async def _page(request: Request, page: str) -> Response:
    session = await optional_session(request)
    if session is None:
        return RedirectResponse(f"/signin?next={page}", status_code=303)
    if not page_allows(page, session.role):
        return RedirectResponse(safe_next(None, session.role), status_code=303)
    response = asset_response(_asset(request, page.strip("/") + ".html"), request)
    response.headers["Cache-Control"] = "no-cache, private"
    return response


@router.get("/workspace", include_in_schema=False)
async def workspace(request: Request) -> Response:
    return await _page(request, "/workspace")


@router.get("/wallboard", include_in_schema=False)
async def wallboard(request: Request) -> Response:
    return await _page(request, "/wallboard")


@router.get("/static/{path:path}", include_in_schema=False)
async def static(path: str, request: Request) -> Response:
    return asset_response(_asset(request, path), request)
