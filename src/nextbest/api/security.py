"""API-key authentication and scopes for the routes (storage lives in ``keys_store``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from nextbest.api.keys_store import ApiKey, KeyCache
from nextbest.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer nbk_<id>_<secret>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="nbk_<id>_<secret>")

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
HeaderKey = Annotated[str | None, Depends(_header)]


def require_scope(scope: str) -> Callable[..., Awaitable[ApiKey | None]]:
    """A dependency admitting requests whose key carries ``scope`` (or ``admin``).

    Returns the key, or None when the app runs with ``api_require_keys=False``.
    """

    async def dependency(
        request: Request, bearer: BearerCredentials, header: HeaderKey
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
        if not key.allows(scope):
            raise Forbidden(
                f"API key {key.key_id} has scopes {', '.join(key.scopes)}; this needs {scope!r}"
            )
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency
