"""Column kinds come from names and values; values overrule a misleading name."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from nextbest.identity.linking.fields import Kind, infer_kind, profile
from nextbest.sim.identity_records import identity_records


@pytest.mark.parametrize(
    ("column", "values", "kind"),
    [
        ("given_name", ["michaela", "courtney", "charles", None], Kind.FIRST_NAME),
        ("Surname", ["neumann", "painter", "green"], Kind.LAST_NAME),
        ("date_of_birth", ["19151111", "19161214", "19480930"], Kind.DATE),
        ("dob", [date(1980, 1, 2), date(1990, 3, 4)], Kind.DATE),
        ("zip", ["02139", "94103", "10001"], Kind.POSTCODE),
        ("E-Mail", ["ann@example.org", "bo@x.com", ""], Kind.EMAIL),
        ("mobile", ["(415) 555-0134", "+1 415 555 0135", "415.555.0136"], Kind.PHONE),
        ("street_number", ["8", "12", "38", "7"], Kind.NUMBER),
        ("address_1", ["stanley street", "pinkerton circuit", "salkauskas crescent"], Kind.ADDRESS),
        ("suburb", ["winston hills", "richlands", "dapto"], Kind.CITY),
        ("state", ["nsw", "vic", "nsw", "qld"], Kind.STATE),
        ("soc_sec_id", ["5304218", "4066625", "4365168"], Kind.IDENTIFIER),
        ("name", ["Ann Lee", "Bo Chen", "Cy Diaz"], Kind.FULL_NAME),
    ],
)
def test_kind_from_realistic_columns(column: str, values: list[object], kind: Kind) -> None:
    assert infer_kind(column, profile(pa.array(values))) is kind


@pytest.mark.parametrize(
    ("column", "values", "kind"),
    [
        ("contact", ["ann@example.org", "bo@x.com"], Kind.EMAIL),  # no hint: '@' decides
        ("email", ["1985-02-11", "1990-03-04", "2001-12-31"], Kind.DATE),  # name lies
        ("col7", ["4155550134", "4155550135", "6175550100"], Kind.PHONE),
    ],
)
def test_values_decide_when_the_name_is_silent_or_wrong(
    column: str, values: list[object], kind: Kind
) -> None:
    assert infer_kind(column, profile(pa.array(values))) is kind


def test_a_date_name_needs_date_values() -> None:
    kind = infer_kind("born", profile(pa.array(["1985-02-11", "not a date", "x", "y"])))
    assert kind is not Kind.DATE


def test_member_shaped_table() -> None:
    table = identity_records(300, seed=3)
    kinds = {c: infer_kind(c, profile(table[c])) for c in table.column_names[2:]}
    assert kinds == {
        "first_name": Kind.FIRST_NAME,
        "last_name": Kind.LAST_NAME,
        "birthday": Kind.DATE,
        "postcode": Kind.POSTCODE,
        "email": Kind.EMAIL,
        "phone": Kind.PHONE,
    }
