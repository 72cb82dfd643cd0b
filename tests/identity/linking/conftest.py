"""A small member-shaped table with known truth, shared by the linking tests."""

from __future__ import annotations

import pyarrow as pa
import pytest

from nextbest.sim.identity_records import identity_records


@pytest.fixture(scope="session")
def members() -> pa.Table:
    """400 noisy records of about 230 persons; ``person_id`` is the truth."""
    return identity_records(400, seed=11)


@pytest.fixture(scope="session")
def truth(members: pa.Table) -> pa.Table:
    return pa.table({"record_id": members["record_id"], "entity": members["person_id"]})
