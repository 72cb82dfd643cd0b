"""Member features at a point in time, from the event history, profiles and ledger.

The pipeline (``pipeline.py``) is SQL written once; ``duckdb_run`` runs it embedded and
``spark_run`` on Spark, with identical results.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from nextbest.analytics.features.spec import CATEGORICAL, FEATURES, Snapshot

if TYPE_CHECKING:
    import pyarrow as pa

    from nextbest.config import Settings

__all__ = ["CATEGORICAL", "FEATURES", "Snapshot", "load_member_features"]


def load_member_features(
    settings: Settings, *, as_of: date | datetime, labels: bool = False
) -> pa.Table:
    """One row per member with any event before ``as_of``; see ``features.load``."""
    from nextbest.analytics.features.load import load_member_features as load

    return load(settings, as_of=as_of, labels=labels)
