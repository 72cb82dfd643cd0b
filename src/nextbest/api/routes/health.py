"""``GET /health``: liveness plus a real round trip to the database (no key needed)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel

from nextbest.api.deps import EngineDep
from nextbest.api.problems import ServiceUnavailable, openapi_responses
from nextbest.store.engine import current_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    schema_revision: str | None


@router.get("/health", responses=openapi_responses(503))
def health(engine: EngineDep) -> Health:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        revision = current_revision(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise ServiceUnavailable(f"database check failed: {type(exc).__name__}") from exc
    return Health(status="ok", database=engine.dialect.name, schema_revision=revision)
