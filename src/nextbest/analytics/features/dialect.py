"""The few expressions DuckDB and Spark SQL spell differently; the pipeline uses only these.

Everything else in ``pipeline.py`` is SQL both engines read the same way, so one pipeline
runs on either (as Splink does with its backends). Sessions run in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

LINE_FIELDS: tuple[tuple[str, str], ...] = (
    ("sku", "string"),
    ("category", "string"),
    ("quantity", "double"),
    ("unit_price", "double"),
)


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str

    def seconds_between(self, later: str, earlier: str) -> str:
        """Whole seconds from ``earlier`` to ``later`` (both truncated to the second)."""
        if self.name == "spark":
            return f"(unix_timestamp({later}) - unix_timestamp({earlier}))"
        return f"date_diff('second', {earlier}, {later})"

    def days_between(self, later: str, earlier: str) -> str:
        return f"CAST({self.seconds_between(later, earlier)} AS DOUBLE) / 86400.0"

    def plus_days(self, ts: str, days: int) -> str:
        if self.name == "spark":
            return f"({ts} + make_interval(0, 0, 0, {days}, 0, 0, 0))"
        return f"({ts} + INTERVAL ({days}) DAY)"

    def local(self, ts: str, tz: str) -> str:
        """``ts`` (UTC) as wall-clock time in the zone named by ``tz``."""
        if self.name == "spark":
            return f"from_utc_timestamp({ts}, {tz})"
        return f"timezone({tz}, {ts})"

    def iso_dow(self, local: str) -> str:
        """1 = Monday ... 7 = Sunday."""
        if self.name == "spark":
            return f"(weekday({local}) + 1)"
        return f"isodow({local})"

    def json_text(self, doc: str, path: str) -> str:
        if self.name == "spark":
            return f"get_json_object({doc}, '{path}')"
        return f"json_extract_string({doc}, '{path}')"

    def purchase_lines(self, doc: str) -> str:
        """The ``lines`` of a purchase payload, one row each (a struct column)."""
        if self.name == "spark":
            fields = ",".join(f"{n}:{t}" for n, t in LINE_FIELDS)
            return (
                f"explode(from_json(get_json_object({doc}, '$.lines'), 'array<struct<{fields}>>'))"
            )
        kinds = {"string": "VARCHAR", "double": "DOUBLE"}
        fields = ",".join(f'"{n}":"{kinds[t]}"' for n, t in LINE_FIELDS)
        return f"unnest(from_json(json_extract({doc}, '$.lines'), '[{{{fields}}}]'))"

    def to_date(self, ts: str) -> str:
        return f"CAST({ts} AS DATE)"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")
