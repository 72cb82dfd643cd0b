"""Login and logout. The session cookie is HttpOnly and SameSite=Strict; forms carry a
CSRF token besides (``console.web``)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nextbest.api.ratelimit import TokenBuckets
from nextbest.console import users
from nextbest.console.web import COOKIE, LoggedIn, engine_of, redirect, render
from nextbest.errors import Unauthorized

router = APIRouter(prefix="/console")

LOGIN_BURST = 10  # attempts at once, per name and address
LOGIN_PER_MINUTE = 10.0  # then this many a minute


def login_buckets() -> TokenBuckets:
    """The login throttle an app keeps (in its process, like the API's rate limits)."""
    return TokenBuckets(rate=LOGIN_PER_MINUTE / 60.0, burst=LOGIN_BURST)


def _safe_next(target: str | None) -> str:
    # Only paths inside the console: never an open redirect to another site.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html.j2", {"next": _safe_next(next), "error": None})


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/console/",
) -> Response:
    # Guessing passwords: each name, from each address, gets a few tries a minute.
    buckets: TokenBuckets = request.app.state.login_buckets
    client = request.client.host if request.client else "?"
    wait = buckets.take(f"{username.strip().lower()}|{client}")
    if wait > 0:
        retry = max(1, math.ceil(wait))
        page = render(
            request,
            "login.html.j2",
            {
                "next": _safe_next(next),
                "error": f"too many login attempts for this name; try again in {retry} s",
                "username": username,
            },
            status=429,
        )
        page.headers["Retry-After"] = str(retry)
        return page
    try:
        session = await run_in_threadpool(users.login, engine_of(request), username, password)
    except Unauthorized as exc:
        return render(
            request,
            "login.html.j2",
            {"next": _safe_next(next), "error": str(exc), "username": username},
            status=401,
        )
    response = redirect(_safe_next(next))
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=users.SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    return response


@router.post("/logout")
async def logout(request: Request, session: LoggedIn) -> Response:
    await run_in_threadpool(users.logout, engine_of(request), session.token)
    response = redirect("/console/login")
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/account")
async def account(request: Request, session: LoggedIn) -> Response:
    """Who is logged in, with which roles and what they may do."""
    return render(
        request,
        "account.html.j2",
        {"permissions": sorted(session.user.permissions), "expires_at": session.expires_at},
    )
