"""LinkConfig survives JSON, and every invalid value is refused with its path."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from nextbest.identity.linking import LinkConfig, LinkConfigError, infer_config


def _base() -> dict[str, Any]:
    return {
        "fields": [
            {"column": "first", "kind": "first_name", "levels": ["exact", "jw:0.9"]},
            {"column": "dob", "kind": "date", "levels": ["exact", "days:31"]},
        ],
        "blocking": [["dob"], ["first"]],
        "training": [["dob"]],
    }


def test_round_trip_through_json(members: pa.Table) -> None:
    config = infer_config(members.drop_columns(["person_id"]), "record_id")
    again = LinkConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.to_dict() == config.to_dict()


def _with(path: str, value: Any) -> dict[str, Any]:
    data = _base()
    target: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("fields.0.kind", "nickname", "fields[0].kind: unknown kind 'nickname'"),
        ("fields.0.levels.1", "jw:1.5", "fields[0].levels[1]: unknown level 'jw:1.5'"),
        ("fields.0.levels.1", "days:3", "fields[0].levels[1]: days levels need a date field"),
        ("fields.1.levels.1", "swap:nobody", "fields[1].levels[1]: swap with 'nobody'"),
        ("fields.1.levels", [], "fields[1].levels: at least one level is needed"),
        ("fields.0.term_frequency", "yes", "fields[0].term_frequency: expected true or false"),
        ("fields.0.column", "", "fields[0].column: expected a column name"),
        ("fields.0.colour", "red", "fields[0].colour: unknown key"),
        ("blocking.1.0", "surname", "blocking[1][0]: 'surname' is not a field"),
        ("blocking", [], "blocking: at least one blocking rule is needed"),
        ("training.0", [], "training[0]: an empty rule would compare everything"),
        ("recall", 1.5, "recall: must be in (0, 1]"),
        ("u_max_pairs", 10, "u_max_pairs: must be at least 1000"),
        ("seed", 1.5, "seed: expected a whole number"),
        ("fields", _DELETE, "fields: missing"),
        ("colour", "red", "colour: unknown key"),
    ],
)
def test_invalid_values_are_named(path: str, value: Any, error: str) -> None:
    with pytest.raises(LinkConfigError) as raised:
        LinkConfig.from_dict(_with(path, value))
    assert str(raised.value).startswith(error)


def test_clashing_sql_names_are_refused() -> None:
    data = _base()
    data["fields"].append({"column": "First", "kind": "first_name", "levels": ["exact"]})
    with pytest.raises(LinkConfigError, match=r"fields\[2\].column: 'First' clashes"):
        LinkConfig.from_dict(data)


def test_overrides_replace_drop_and_set(members: pa.Table) -> None:
    table = members.drop_columns(["person_id"])
    config = infer_config(
        table,
        "record_id",
        overrides={
            "fields": [
                {"column": "phone", "drop": True},
                {"column": "postcode", "levels": ["exact"], "term_frequency": False},
            ],
            "u_max_pairs": 20_000,
        },
    )
    assert "phone" not in [f.column for f in config.fields]
    assert config.field("postcode").levels == ("exact",)
    assert config.u_max_pairs == 20_000
    assert all("phone" not in rule for rule in config.blocking + config.training)


@pytest.mark.parametrize(
    ("left", "right", "slip"),
    [
        ("barbara.thommas@gmail.com", "barbara.thomas@gmail.com", True),  # doubled letter
        ("jacob.patel1492179@yahoo.com", "jacob.patel142179@yahoo.com", True),  # dropped digit
        ("ann.lee@example.com", "annlee@example.com", False),  # a separator: another person
        ("ann.lee@example.com", "ann.lee@example.com", False),  # equal is not a slip
        ("ann.lee@example.com", "ann.leo@example.co", False),  # two edits
    ],
)
def test_slip_level_catches_typing_slips_not_separators(left: str, right: str, slip: bool) -> None:
    import duckdb

    from nextbest.identity.linking import FieldSpec, Kind
    from nextbest.identity.linking.model import level_sql

    spec = FieldSpec("email", Kind.EMAIL, ("exact", "slip"))
    sql = level_sql("slip", spec, LinkConfig((spec,), (("email",),), ()))
    found = duckdb.sql(
        f"SELECT {sql} FROM (SELECT ? AS email_l, ? AS email_r)", params=[left, right]
    )
    assert found.fetchall() == [(slip,)]
