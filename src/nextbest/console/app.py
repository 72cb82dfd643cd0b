"""The served app: the API with the console mounted beside it at ``/console``.

``nextbest serve`` runs :func:`from_env`. The console's routes stay out of the OpenAPI
document (they are pages, not API).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from nextbest.api.app import create_app as create_api
from nextbest.config import Settings
from nextbest.console.pages import (
    approvals,
    audit,
    auth,
    decisions,
    experiments,
    members,
    overview,
    program,
    segments,
)
from nextbest.console.web import LoggedIn, LoginRequired, PageForbidden, redirect, render

ROUTERS = (
    auth.router,
    overview.router,
    segments.router,
    members.router,
    program.router,
    experiments.router,
    decisions.router,
    approvals.router,
    audit.router,
)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if request.method != "GET":
        return HTMLResponse("Your session has ended; log in again.", status_code=401)
    return redirect(f"/console/login?next={exc.next_path}")


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    return render(
        request, "forbidden.html.j2", {"reason": exc.reason}, status=403, session=exc.session
    )


def mount_console(app: FastAPI) -> FastAPI:
    """Add the console's pages, static files and handlers to an API app."""
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.mount(
        "/console/static",
        StaticFiles(packages=[("nextbest.console", "static")]),
        name="console-static",
    )
    app.state.login_buckets = auth.login_buckets()
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageForbidden, _forbidden)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/console/", status_code=307)

    # Last, so it only catches console paths no page claims: a page, not problem+json.
    @app.get("/console/{path:path}", include_in_schema=False)
    async def not_found(request: Request, path: str, _session: LoggedIn) -> Response:
        return render(request, "not_found.html.j2", {"path": "/console/" + path}, status=404)

    return app


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """The API and the console in one app (see ``nextbest.api.app.create_app``)."""
    return mount_console(create_api(settings, engine=engine))


def from_env() -> FastAPI:
    """App factory for ``uvicorn --factory``: settings from ``NEXTBEST_*`` variables."""
    return create_app(Settings())
