"""Every error leaves the API as problem+json (RFC 9457), mapped in ONE table.

The core raises its own errors (``nextbest.errors``) and knows nothing of HTTP; this
module alone decides their status codes and titles.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from nextbest.errors import (
    Conflict,
    Forbidden,
    InsufficientPoints,
    InvalidEvent,
    InvalidRequest,
    NextbestError,
    NotFound,
    Unauthorized,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:nextbest:problem:"


class BatchRejected(NextbestError):
    """Every record of an ingestion request was refused; ``errors`` says where and why."""

    def __init__(self, message: str, *, errors: Sequence[dict[str, Any]]) -> None:
        self.errors = list(errors)
        super().__init__(message)


class ProblemResponse(Response):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemModel(BaseModel):
    """The problem+json body, for the OpenAPI document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class ServiceUnavailable(NextbestError):
    """A dependency (the database) did not answer."""


class InvalidHeader(NextbestError):
    """A header the operation needs is missing or malformed (e.g. ``Idempotency-Key``)."""

    def __init__(self, header: str, reason: str) -> None:
        self.header = header
        self.reason = reason
        super().__init__(f"{header}: {reason}")


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    slug: str
    title: str


# THE table. Lookup walks the exception's MRO, so the most specific class wins (e.g.
# ``nextbest.ledger.service.NoProgram`` is a ``NotFound``: 404). Where classes share a
# status, the OpenAPI description of that status is the title of the last one listed.
PROBLEMS: dict[type[Exception], Problem] = {
    Unauthorized: Problem(401, "unauthorized", "Missing or invalid API key"),
    Forbidden: Problem(403, "forbidden", "API key lacks the permission this needs"),
    NotFound: Problem(404, "not-found", "Not found"),
    InsufficientPoints: Problem(409, "insufficient-points", "Insufficient points"),
    Conflict: Problem(409, "conflict", "Conflict with the current state"),
    InvalidEvent: Problem(400, "invalid-request", "The request body cannot be read"),
    InvalidHeader: Problem(400, "invalid-header", "A required header is missing or invalid"),
    InvalidRequest: Problem(422, "unprocessable", "The request can never succeed as sent"),
    BatchRejected: Problem(422, "all-rejected", "Every event was rejected"),
    ServiceUnavailable: Problem(503, "unavailable", "A dependency is unavailable"),
    RequestValidationError: Problem(422, "validation", "The request is not valid"),
    NextbestError: Problem(400, "bad-request", "The request cannot be processed"),
}
INTERNAL = Problem(500, "internal", "Internal server error")
HEADERS: dict[int, dict[str, str]] = {401: {"WWW-Authenticate": 'Bearer realm="nextbest"'}}


def problem_for(exc: BaseException) -> Problem:
    for cls in type(exc).__mro__:
        found = PROBLEMS.get(cls)
        if found is not None:
            return found
    return INTERNAL


def problem_response(
    problem: Problem,
    *,
    detail: str,
    errors: Sequence[dict[str, Any]] | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
        **(extensions or {}),
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = list(errors)
    merged = {**HEADERS.get(problem.status, {}), **(headers or {})}
    return ProblemResponse(body, status_code=problem.status, headers=merged)


def _errors_of(exc: Exception) -> list[dict[str, Any]] | None:
    if isinstance(exc, RequestValidationError):
        return [
            {
                "field": ".".join(str(p) for p in err.get("loc", ())),
                "reason": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
    if isinstance(exc, BatchRejected):
        return exc.errors
    if isinstance(exc, InvalidEvent):
        return [{"location": exc.record, "field": exc.field, "reason": exc.reason}]
    if isinstance(exc, InvalidHeader):
        return [{"location": "header", "field": exc.header, "reason": exc.reason}]
    return None


def _extensions_of(exc: Exception) -> dict[str, Any] | None:
    """Problem members beyond RFC 9457's own, for clients to act on without parsing text."""
    if isinstance(exc, InsufficientPoints):
        return {
            "member_id": exc.member_id,
            "currency": exc.currency,
            "available": exc.available,
            "needed": exc.needed,
        }
    return None


def _detail_of(exc: Exception) -> str:
    if isinstance(exc, RequestValidationError):
        count = len(exc.errors())
        return f"{count} field(s) failed validation"
    return str(exc) or type(exc).__name__


async def _handle_known(request: Request, exc: Exception) -> ProblemResponse:
    return problem_response(
        problem_for(exc),
        detail=_detail_of(exc),
        errors=_errors_of(exc),
        instance=request.url.path,
        extensions=_extensions_of(exc),
    )


async def _handle_http(request: Request, exc: Exception) -> ProblemResponse:
    # Starlette's own errors (unknown route, wrong method) in the same shape.
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed", 429: "rate-limited"}.get(
        exc.status_code, "http"
    )
    problem = Problem(exc.status_code, slug, _phrase(exc.status_code))
    return problem_response(
        problem,
        detail=str(exc.detail),
        instance=request.url.path,
        headers=dict(exc.headers or {}),
    )


async def _handle_unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        INTERNAL, detail="an unexpected error occurred; see the server log", instance=None
    )


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install(app: FastAPI) -> None:
    """Register the handlers: every class of the table, Starlette's errors, and the rest;
    and make the OpenAPI document describe the problems they answer."""
    for cls in PROBLEMS:
        app.add_exception_handler(cls, _handle_known)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(Exception, _handle_unexpected)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_SCHEMAS = "#/components/schemas/"
# FastAPI's own 422 body, which our handler never sends (it answers problem+json).
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``document`` (changed in place) saying what the handlers really answer.

    Every error response is ``application/problem+json`` with the problem schema (FastAPI
    documents its 422 and the routes' problems as ``application/json``). An operation with
    a body also answers 400 (a body the framework cannot decode, e.g. not UTF-8), and one
    that takes an API key 429 (over its rate limit).
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        ProblemModel.__name__, ProblemModel.model_json_schema(ref_template=_SCHEMAS + "{model}")
    )
    ref = _SCHEMAS + ProblemModel.__name__
    titles = {p.status: p.title for p in PROBLEMS.values()}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": titles[400]})
            if "401" in responses:
                responses.setdefault("429", {"description": _phrase(429)})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": ref}}}
                    if status == "422":
                        response["description"] = titles[422]
    text = orjson.dumps(document.get("paths", {})).decode()
    if not any(f'"{_SCHEMAS}{name}"' in text for name in _FASTAPI_VALIDATION):
        for name in _FASTAPI_VALIDATION:
            schemas.pop(name, None)
    return document


def openapi_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json for the given statuses."""
    titles = {p.status: p.title for p in PROBLEMS.values()}
    return {
        status: {
            "description": titles.get(status, _phrase(status)),
            "model": ProblemModel,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }
