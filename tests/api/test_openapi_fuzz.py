"""Schemathesis against the OpenAPI document: no operation answers a server error.

Every operation of ``/openapi.json`` gets a bounded number of generated requests, valid and
invalid, on SQLite and PostgreSQL, sent with an admin key so each reaches its route. A few
members are ingested first and their ids and emails replace the generated member reference
(path ``identifier``/``ref``/``member_id``, body ``member``) half of the time, so lookups
find real data and run the deeper code.

Checks: no 5xx (a 503 is what a route answers when its database is down, which cannot
happen here, so no 5xx is excluded), and each answer's status code, content type, body and
headers are ones the document describes (for routes answering a free-form ``dict`` the body
check asserts little; problem+json bodies are checked against the problem schema). About
40 s for both databases together.

``schemathesis.pytest.from_fixture`` (one test per operation) reads ``Node._nodeid``, which
pytest 9 no longer has; the operations are looped over here instead, and every failure is
reported together at the end.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok
from sqlalchemy import Engine

import nextbest
from nextbest.api.app import create_app
from nextbest.api.keys_store import create_key
from nextbest.config import Settings
from nextbest.ledger import repository as repo
from nextbest.ledger.program import load_program
from nextbest.store.engine import write_transaction

PROGRAM_FILE = Path(nextbest.__file__).parent / "ledger" / "programs" / "bean_and_bake.yaml"
EMAILS = ("fuzz-ann@example.com", "fuzz-bob@example.com", "fuzz-cy@example.com")
# Operations that must have answered 200 at least once (for a seeded member).
DEEP = (
    "GET /v1/members/{identifier}",
    "GET /v1/members/{ref}/points",
    "GET /v1/members/{ref}/points/history",
    "GET /v1/members/{identifier}/inbox",
    "GET /v1/members/{identifier}/next-best-action",
    "POST /v1/decisions",
)
ANY_STRING = {"type", "title", "description"}
MAX_EXAMPLES = 50  # per operation and generation mode
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


def _events() -> list[dict[str, Any]]:
    at = datetime.now(UTC) - timedelta(hours=2)
    return [
        {
            "type": "purchase",
            "event_id": f"fuzz-buy-{n}",
            "occurred_at": (at + timedelta(minutes=n)).isoformat(),
            "source": "pos",
            "identifiers": {"email": email, "phone": f"+1415555010{n}"},
            "order_id": f"fuzz-order-{n}",
            "lines": [
                {"sku": "latte", "category": "coffee", "quantity": 2, "unit_price": 3.5},
                {"sku": "house-blend", "category": "beans", "quantity": 1, "unit_price": 25.0},
            ],
            "total": 32.0,
        }
        for n, email in enumerate(EMAILS)
    ]


def _seed(client: TestClient, headers: dict[str, str], engine: Engine) -> list[dict[str, str]]:
    """The demo program, and the members' purchases ingested through the API: per member,
    the values to put in its requests (see ``_seeded``)."""
    with write_transaction(engine) as conn:
        repo.save_program(
            conn,
            load_program(PROGRAM_FILE),
            source=PROGRAM_FILE.read_text(),
            actor="test",
            now=datetime.now(UTC),
        )
    response = client.post("/v1/events", content=orjson.dumps(_events()), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(EMAILS)
    seeds = []
    for n, email in enumerate(EMAILS):
        history = client.get(f"/v1/members/{email}/points/history", headers=headers)
        assert history.status_code == 200, history.text
        member = history.json()["member_id"]
        [earned] = history.json()["entries"]
        ref = member if n % 2 else email  # either kind of reference
        seeds.append(
            {
                "identifier": ref,
                "ref": ref,
                "member_id": member,
                "member": ref,
                "entry_id": str(earned["entry_id"]),
            }
        )
    return seeds


def _seeded(case: Case, seed: dict[str, str] | None) -> Case:
    """The case with a seeded member's values in the path parameters (and body field
    ``member``) of the same name, when ``seed`` is given."""
    if seed is None:
        return case
    for name, value in seed.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
    if isinstance(case.body, dict) and "member" in case.body:
        case.body["member"] = seed["member"]
    return case


def _takes_anything(operation: dict[str, Any]) -> bool:
    """Whether every request is valid input to ``operation`` (no body, every parameter any
    string): there is no invalid one to generate, and hypothesis would search a long while
    before saying so."""
    if "requestBody" in operation:
        return False
    return all(
        p.get("schema", {}).get("type") == "string" and set(p["schema"]) <= ANY_STRING
        for p in operation.get("parameters", [])
    )


def _failures(
    schema: schemathesis.BaseSchema,
    headers: dict[str, str],
    seeds: list[dict[str, str]],
    statuses: dict[str, Counter[int]],
) -> list[str]:
    """Fuzz every operation (with invalid input too where there is any); one line per
    failing one. ``statuses`` counts the answers per operation."""
    found: list[str] = []
    # None: the generated values as they are.
    seed_or_none = st.one_of(st.none(), st.sampled_from(seeds))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    # Erasure last: the other operations need the seeded members to exist.
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        modes = [GenerationMode.POSITIVE]
        if not _takes_anything(operation.definition.raw):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            cases = operation.as_strategy(generation_mode=mode, headers=headers)

            @FUZZ_SETTINGS
            @given(case=cases, seed=seed_or_none)
            def run(case: Case, seed: dict[str, str] | None) -> None:
                response = _seeded(case, seed).call_and_validate(checks=CHECKS)
                statuses[case.operation.label][response.status_code] += 1

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # list every failing operation
                found.append(f"{operation.label} ({mode.value}): {exc}")
    return found


def test_no_operation_answers_a_server_error(settings: Settings, engine: Engine) -> None:
    # No rate limit (hundreds of requests a second from one key are the point), and a
    # tracking secret so the tracking routes verify signatures instead of refusing all.
    unlimited = settings.model_copy(
        update={"api_rate_per_second": 0.0, "tracking_secret": SecretStr("fuzz-secret")}
    )
    _key, token = create_key(engine, name="fuzz", roles="admin")
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(unlimited, engine=engine)
    with TestClient(app) as client:
        seeds = _seed(client, headers, engine)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        statuses: dict[str, Counter[int]] = defaultdict(Counter)
        failures = _failures(schema, headers, seeds, statuses)
    assert not failures, "\n\n".join(failures)
    assert len(statuses) >= 20  # every operation was called
    # The seeded members were found, so the code behind the lookups ran too.
    for label in DEEP:
        assert statuses[label][200] > 0, (label, statuses[label])
