"""What every console page shares: templates, the logged-in session, permissions, CSRF.

A page declares the one permission it needs with ``Depends(page(permission))`` (aliases
below). The dependency finds the session from the cookie, sends a visitor without one to
the login page, answers 403 when the user's roles lack the permission, and on every POST
checks the form's CSRF token (or the ``X-CSRF-Token`` header) against the session's.
Permissions are the API's (``nextbest.api.roles``): a role means the same in both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, Undefined, select_autoescape
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from nextbest.api.roles import PERMISSIONS, roles_granting
from nextbest.api.security import declared
from nextbest.config import Settings
from nextbest.console.users import Session, csrf_ok, session_of

COOKIE = "nb_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
EMPTY = "\u2013"  # an en dash where a figure is missing

# The navigation bar: (path, label, access key, permission to see it).
NAV: tuple[tuple[str, str, str, str], ...] = (
    ("/console/", "Overview", "o", "members:read"),
    ("/console/segments", "Segments", "s", "members:read"),
    ("/console/members", "Members", "m", "members:read"),
    ("/console/program", "Offers & rules", "p", "members:read"),
    ("/console/journeys", "Journeys", "j", "members:read"),
    ("/console/experiments", "Experiments", "e", "decisions:read"),
    ("/console/decisions", "Decisions", "d", "decisions:read"),
    ("/console/approvals", "Approvals", "a", "approvals:read"),
    ("/console/audit", "Audit log", "l", "audit:read"),
)

templates = Environment(
    loader=PackageLoader("nextbest.console", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, Undefined)


def _fmt_int(value: Any) -> str:
    return EMPTY if _missing(value) else f"{int(value):,}"


def _fmt_num(value: Any, digits: int = 2) -> str:
    return EMPTY if _missing(value) else f"{float(value):,.{digits}f}"


def _fmt_time(value: Any) -> str:
    if _missing(value):
        return EMPTY
    if isinstance(value, str):
        return value.replace("T", " ")[:19]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


templates.filters["int"] = _fmt_int
templates.filters["num"] = _fmt_num
templates.filters["time"] = _fmt_time


class LoginRequired(Exception):
    """No live session: the handler redirects to the login page, coming back after."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__(next_path)


class PageForbidden(Exception):
    """A session whose roles lack the page's permission, or a POST without a valid token."""

    def __init__(self, session: Session | None, reason: str) -> None:
        self.session = session
        self.reason = reason
        super().__init__(reason)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class RequirePage:
    """The dependency admitting a session whose roles grant ``permission``."""

    def __init__(self, permission: str | None) -> None:
        # None admits any logged-in user (logging out, say).
        if permission is not None and permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    def __repr__(self) -> str:
        return f"RequirePage({self.permission!r})"

    async def __call__(self, request: Request) -> Session:
        token = request.cookies.get(COOKIE)
        session = await run_in_threadpool(session_of, engine_of(request), token) if token else None
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if self.permission is not None and not session.user.allows(self.permission):
            granting = ", ".join(roles_granting(self.permission)) or "none"
            raise PageForbidden(
                session,
                f"your roles ({', '.join(session.user.roles)}) lack permission "
                f"{self.permission!r}, granted by: {granting}",
            )
        if request.method not in ("GET", "HEAD"):
            presented = request.headers.get(CSRF_HEADER)
            if presented is None:
                form = await request.form()
                value = form.get(CSRF_FIELD)
                presented = value if isinstance(value, str) else None
            if not csrf_ok(session, presented):
                raise PageForbidden(session, "the form's security token is missing or stale")
        request.state.session = session
        return session


def page(permission: str | None) -> RequirePage:
    return RequirePage(permission)


ANY_SESSION = "(any logged-in user)"


# One alias per permission a page may need; a page takes exactly one.
LoggedIn = Annotated[Session, Depends(page(None))]
MembersRead = Annotated[Session, Depends(page("members:read"))]
MembersWrite = Annotated[Session, Depends(page("members:write"))]
LedgerAdjust = Annotated[Session, Depends(page("ledger:adjust"))]
ConsentsWrite = Annotated[Session, Depends(page("consents:write"))]
DecisionsRead = Annotated[Session, Depends(page("decisions:read"))]
AuditRead = Annotated[Session, Depends(page("audit:read"))]
ApprovalsRead = Annotated[Session, Depends(page("approvals:read"))]
ApprovalsPropose = Annotated[Session, Depends(page("approvals:propose"))]
ApprovalsDecide = Annotated[Session, Depends(page("approvals:decide"))]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    """A page of ``template`` with the layout's context (user, nav, CSRF token, flash)."""
    live: Session | None = session or getattr(request.state, "session", None)
    nav = [
        {"path": p, "label": label, "key": key, "active": _active(request.url.path, p)}
        for p, label, key, perm in NAV
        if live is not None and live.user.allows(perm)
    ]
    html = templates.get_template(template).render(
        request=request,
        session=live,
        user=live.user if live is not None else None,
        csrf=live.csrf_token if live is not None else "",
        csrf_field=CSRF_FIELD,
        nav=nav,
        flash=request.query_params.get("flash"),
        flash_error=request.query_params.get("error"),
        **(context or {}),
    )
    return HTMLResponse(html, status_code=status)


def _active(path: str, nav_path: str) -> bool:
    if nav_path == "/console/":
        return path in ("/console", "/console/")
    return path == nav_path or path.startswith(nav_path + "/")


def redirect(path: str, *, flash: str | None = None, error: str | None = None) -> Response:
    """303 to ``path`` after a POST, with a message the next page shows."""
    query = []
    if flash:
        query.append(f"flash={quote(flash)}")
    if error:
        query.append(f"error={quote(error)}")
    sep = "&" if "?" in path else "?"
    return RedirectResponse(path + (sep + "&".join(query) if query else ""), status_code=303)


def permissions_of_page(route: BaseRoute) -> list[str]:
    """Every permission a console route's dependencies declare (one per page)."""
    return [d.permission or ANY_SESSION for d in declared(route, RequirePage)]
