"""The fields the audit measures, where each is expected, and the checks on its values.

Stored events have passed the validator, so these checks look past it: values that are
well-formed yet implausible (a birthday making someone 130, a mail domain one letter off a
common provider) or written in a non-standard way that ingestion has to repair. Each check
is a DuckDB predicate over ``{v}`` (the value as sent) that is true for a *bad* value.

Completeness counts events of ``types`` (None: every type) carrying a non-empty value.
Profile attributes count on signups, where a program asks for them; updates restate only
what changed, so their gaps are not defects.
"""

from __future__ import annotations

from dataclasses import dataclass

from nextbest.events.identifiers import IDENTIFIER_KINDS

SEVERE = "error"  # the value is probably wrong
FORMAT = "format"  # usable after repair, but not written the standard way

COMMON_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com")
# Real domains within two edits of a common one.
REAL_NEAR_DOMAINS = ("mail.com", "email.com", "ymail.com", "aim.com", "yahoo.ca")
PLACEHOLDER_NAMES = ("test", "n/a", "na", "none", "null", "unknown", "xxx", "asdf", "-", ".")
MESSAGE_TYPES = ("message_delivered", "message_opened", "message_clicked", "message_unsubscribed")


@dataclass(frozen=True, slots=True)
class Check:
    reason: str
    bad: str  # DuckDB predicate, ``{v}`` stands for the value
    severity: str = SEVERE


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    value: str  # DuckDB expression for the value: a JSON path ("$.x") or a column of ``ev``
    types: tuple[str, ...] | None = None
    checks: tuple[Check, ...] = ()

    @property
    def json_path(self) -> str | None:
        return self.value if self.value.startswith("$.") else None


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


_DOMAIN = "lower(split_part({v}, '@', 2))"
_NEAR_COMMON = " OR ".join(
    f"levenshtein({_DOMAIN}, '{d}') BETWEEN 1 AND 2" for d in COMMON_MAIL_DOMAINS
)
EMAIL_TYPO = Check(
    "domain looks like a misspelt common provider",
    f"(({_NEAR_COMMON}) AND {_DOMAIN} NOT IN ({_quoted(REAL_NEAR_DOMAINS)}))",
)
NOT_E164 = Check(
    "not written in E.164 (+country digits); read with the default region",
    r"NOT regexp_full_match(trim({v}), '\+[1-9][0-9]{{7,14}}')",
    FORMAT,
)
PLACEHOLDER = Check(
    "placeholder or no letters",
    f"(lower(trim({{v}})) IN ({_quoted(PLACEHOLDER_NAMES)}) "
    "OR NOT regexp_matches({v}, '[[:alpha:]]'))",
)
AGE = Check(
    "implausible age (under 13 or over 110 when stated)",
    "(date_diff('year', try_cast({v} AS DATE), occurred_at::DATE) NOT BETWEEN 13 AND 110)",
)
POSTCODE = Check(
    "not 3-10 letters, digits, spaces or dashes",
    "NOT regexp_full_match(trim({v}), '[A-Za-z0-9][A-Za-z0-9 -]{{1,9}}')",
)
TIMEZONE = Check(
    "not an IANA time-zone name",
    "NOT ({v} = 'UTC' OR regexp_full_match({v}, '[A-Za-z_]+(/[A-Za-z0-9_+-]+)+'))",
)
CLOCK_AHEAD = Check(
    "occurred after it was received (sender clock ahead)",
    "(received_at IS NOT NULL AND occurred_at > received_at + INTERVAL 5 MINUTE)",
)
ZERO_TOTAL = Check("total is zero", "(total = 0)")
ORPHAN_ORDER = Check(
    "no purchase carries this order id",
    "({v} NOT IN (SELECT order_id FROM ev WHERE type = 'purchase' AND order_id IS NOT NULL))",
)

ANY_IDENTIFIER = "identifiers (any)"

FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(ANY_IDENTIFIER, "member_id"),
    FieldSpec("identifiers.email", "$.identifiers.email", checks=(EMAIL_TYPO,)),
    FieldSpec("identifiers.phone", "$.identifiers.phone", checks=(NOT_E164,)),
    *(FieldSpec(f"identifiers.{k}", f"$.identifiers.{k}") for k in IDENTIFIER_KINDS[2:]),
    FieldSpec("occurred_at", "occurred_at", checks=(CLOCK_AHEAD,)),
    FieldSpec("first_name", "$.first_name", ("signup",), (PLACEHOLDER,)),
    FieldSpec("last_name", "$.last_name", ("signup",), (PLACEHOLDER,)),
    FieldSpec("birthday", "$.birthday", ("signup",), (AGE,)),
    FieldSpec("postcode", "$.postcode", ("signup",), (POSTCODE,)),
    FieldSpec("timezone", "$.timezone", ("signup",), (TIMEZONE,)),
    FieldSpec("consents", "$.consents", ("signup",)),
    FieldSpec("total", "total", ("purchase",), (ZERO_TOTAL,)),
    FieldSpec("store_id", "$.store_id", ("purchase",)),
    FieldSpec("order_id", "$.order_id", ("offer_redeemed", "feedback"), (ORPHAN_ORDER,)),
    FieldSpec("campaign_id", "$.campaign_id", MESSAGE_TYPES),
    FieldSpec("app_version", "$.app_version", ("app_open",)),
    FieldSpec("rating", "$.rating", ("feedback",)),
)

# Attributes a member states about themselves: the audit counts members who ever stated each.
PROFILE_ATTRIBUTES = ("first_name", "last_name", "birthday", "postcode")


def present_sql(value: str) -> str:
    """True when the value is there and not empty (JSON text of an empty list counts as empty).

    >>> present_sql("c1")
    "(c1 IS NOT NULL AND trim(CAST(c1 AS VARCHAR)) NOT IN ('', '[]', '{}'))"
    """
    return f"({value} IS NOT NULL AND trim(CAST({value} AS VARCHAR)) NOT IN ('', '[]', '{{}}'))"


def type_filter(spec: FieldSpec) -> str:
    return "TRUE" if spec.types is None else f"type IN ({_quoted(spec.types)})"
