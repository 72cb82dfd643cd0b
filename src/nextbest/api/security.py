"""API-key authentication, permissions and rate limiting for the routes.

Storage lives in ``keys_store``, the role table in ``roles``. Every route declares the one
permission it needs with :func:`require_permission` (through the aliases in ``deps``); a key
whose roles lack it gets 403 naming the permission and the key's roles. An admitted key
then takes a token from its bucket (``ratelimit``): over the limit it gets 429.
"""

from __future__ import annotations

import math
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from nextbest.api.keys_store import ApiKey, KeyCache
from nextbest.api.ratelimit import TokenBuckets
from nextbest.api.roles import PERMISSIONS, roles_granting
from nextbest.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer nbk_<id>_<secret>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="nbk_<id>_<secret>")

D = TypeVar("D")

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
HeaderKey = Annotated[str | None, Depends(_header)]


class RequirePermission:
    """A dependency admitting requests whose key's roles grant ``permission``.

    Returns the key, or None when the app runs with ``api_require_keys=False``. A class
    rather than a closure so a route's permission can be read back (:func:`permissions_of_route`).
    """

    def __init__(self, permission: str) -> None:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}; known: {', '.join(PERMISSIONS)}")
        self.permission = permission

    def __repr__(self) -> str:
        return f"RequirePermission({self.permission!r})"

    async def __call__(
        self, request: Request, bearer: BearerCredentials, header: HeaderKey
    ) -> ApiKey | None:
        if not request.app.state.settings.api_require_keys:
            return None
        presented = bearer.credentials if bearer is not None else header
        if not presented:
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>' or 'X-API-Key'")
        cache: KeyCache = request.app.state.key_cache
        # A cache hit costs a dict lookup; a miss hashes and queries, off the event loop.
        key = cache.peek(presented)
        if key is None:
            key = await run_in_threadpool(cache.verify, presented)
        if not key.allows(self.permission):
            granting = ", ".join(roles_granting(self.permission)) or "none"
            raise Forbidden(
                f"API key {key.key_id} has {key.describe()}; this needs permission "
                f"{self.permission!r} (granted by roles: {granting})"
            )
        _limit(request, key)
        return key


def _limit(request: Request, key: ApiKey) -> None:
    buckets: TokenBuckets = request.app.state.rate_limiter
    wait = buckets.take(key.key_id)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise HTTPException(
            429,
            detail=(
                f"API key {key.key_id} is over its rate limit of {buckets.rate:g} requests/s "
                f"(burst {buckets.burst}); retry in {retry} s"
            ),
            headers={"Retry-After": str(retry)},
        )


def require_permission(permission: str) -> RequirePermission:
    """The dependency for ``permission`` (one of :data:`nextbest.api.roles.PERMISSIONS`)."""
    return RequirePermission(permission)


def _walk(dependant: Dependant, kind: type[D]) -> list[D]:
    found = [dependant.call] if isinstance(dependant.call, kind) else []
    for sub in dependant.dependencies:
        found.extend(_walk(sub, kind))
    return found


def declared(route: BaseRoute, kind: type[D]) -> list[D]:
    """Every dependency of class ``kind`` in a route's dependency tree: how the role tests
    read back what a route (or a console page) declares."""
    dependant = getattr(route, "dependant", None)
    return _walk(dependant, kind) if isinstance(dependant, Dependant) else []


def permissions_of_route(route: BaseRoute) -> list[str]:
    """Every permission a route's dependencies declare (one, for a well-declared route)."""
    return [d.permission for d in declared(route, RequirePermission)]
