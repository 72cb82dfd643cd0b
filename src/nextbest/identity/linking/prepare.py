"""Normalise the compared columns in DuckDB before blocking and scoring.

Each kind has one SQL expression: names and places lower-cased with spaces collapsed,
phones reduced to their last nine digits (so ``+1 (415) 555-0134`` and ``4155550134``
agree), dates to ``YYYYMMDD`` text plus a ``DATE`` column (``<key>__d``) for distances.
Empty strings become NULL so that two missing values never count as agreement.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from nextbest.identity.linking.config import FieldSpec, LinkConfig
from nextbest.identity.linking.fields import Kind

ID = "unique_id"
DATE_SUFFIX = "__d"
_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%m/%d/%Y", "%Y/%m/%d")


def _text(col: str) -> str:
    return f"NULLIF(TRIM(regexp_replace(lower(CAST({col} AS VARCHAR)), '\\s+', ' ', 'g')), '')"


def _date(col: str, arrow_type: pa.DataType) -> str:
    if pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type):
        return f"CAST({col} AS DATE)"
    text = f"TRIM(CAST({col} AS VARCHAR))"
    tries = ", ".join(f"CAST(try_strptime({text}, '{fmt}') AS DATE)" for fmt in _DATE_FORMATS)
    return f"coalesce({tries})"


def expressions(spec: FieldSpec, arrow_type: pa.DataType) -> dict[str, str]:
    """SQL for the prepared column(s) of one field, keyed by output column name."""
    col = f'"{spec.column}"'
    key = spec.key
    kind = spec.kind
    if kind is Kind.DATE:
        parsed = _date(col, arrow_type)
        digits = f"NULLIF(regexp_replace(CAST({col} AS VARCHAR), '[^0-9]', '', 'g'), '')"
        return {
            key: f"coalesce(strftime({parsed}, '%Y%m%d'), {digits})",
            key + DATE_SUFFIX: parsed,
        }
    if kind is Kind.PHONE:
        digits = f"regexp_replace(CAST({col} AS VARCHAR), '[^0-9]', '', 'g')"
        return {key: f"CASE WHEN length({digits}) >= 6 THEN right({digits}, 9) END"}
    if kind in (Kind.POSTCODE, Kind.IDENTIFIER, Kind.NUMBER):
        return {
            key: f"NULLIF(regexp_replace(lower(CAST({col} AS VARCHAR)), '[\\s-]', '', 'g'), '')"
        }
    if kind is Kind.EMAIL:
        return {key: f"NULLIF(lower(TRIM(CAST({col} AS VARCHAR))), '')"}
    if kind in (Kind.FIRST_NAME, Kind.LAST_NAME, Kind.FULL_NAME):
        stripped = f"regexp_replace(lower(CAST({col} AS VARCHAR)), '[.,''\"]', '', 'g')"
        return {key: _text(stripped)}
    return {key: _text(col)}


def prepare(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    id_column: str,
    config: LinkConfig,
    *,
    name: str,
) -> None:
    """Create table ``name`` in ``con``: ``unique_id`` (text) and the prepared fields."""
    source = f"__nb_src_{name}"
    con.register(source, table)
    selects = [f'CAST("{id_column}" AS VARCHAR) AS {ID}']
    for spec in config.fields:
        arrow_type = table.schema.field(spec.column).type
        selects += [f"{sql} AS {out}" for out, sql in expressions(spec, arrow_type).items()]
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {', '.join(selects)} FROM {source}")
    con.unregister(source)
