"""Login and logout. The session cookie is HttpOnly and SameSite=Strict; forms carry a
CSRF token besides (``console.web``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from nextbest.console import users
from nextbest.console.web import COOKIE, LoggedIn, engine_of, redirect, render
from nextbest.errors import Unauthorized

router = APIRouter(prefix="/console")


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
