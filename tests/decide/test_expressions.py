"""The eligibility expression language: semantics, safety and errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nextbest.decide.expressions import ExpressionError, compile_expression

CONTEXT: dict[str, Any] = {
    "member": {
        "churn_risk": 0.72,
        "tier": "gold",
        "open_tickets": 0,
        "tickets": ["T1"],
        "scores": {"propensity_coffee": 0.4},
        "consent": {"email/marketing": True, "sms/marketing": False},
    },
    "channels": ["email", "push"],
    "context": {"channel": "app", "hour": 8},
}

CASES = [
    ("member.churn_risk > 0.6", True),
    ("member.churn_risk > 0.6 && member.open_tickets == 0", True),
    ("!(member.open_tickets > 0) && 'email' in channels", True),
    ("'sms' in channels || member.tier == 'silver'", False),
    ("member.consent['email/marketing'] == true", True),
    ("member.consent['sms/marketing']", False),
    ("member.scores.propensity_coffee * 100 >= 40", True),
    ("size(member.tickets) == 1", True),
    ("has(member.tier) && !has(member.birthday)", True),
    ("member.tier == 'gold' ? context.hour < 9 : false", True),
    ("max(member.churn_risk, 0.9) == 0.9", True),
    ("min(1, 2, 3) + abs(-2) == 3", True),
    ("[1, 2, 3][1] == 2", True),
    ("'gol' + 'd' == member.tier", True),
    ("-member.open_tickets == 0", True),
    ("10 % 4 == 2 && 7 / 2 == 3.5", True),
    # missing values are null: comparisons are not met, never an error
    ("member.birthday > 0", False),
    ("member.nothing.deeper == null", True),
    ("unknown_root.x < 1", False),
    ("member.tier > 3", False),  # a string and a number do not order
    ("1 / 0 == null", True),
    ("'a' in member.churn_risk", False),
]


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_semantics(source: str, expected: bool) -> None:
    assert compile_expression(source).evaluate(CONTEXT) is expected


BAD = [
    ("member.churn_risk >", "column 20: unexpected 'the end'"),
    ("member.churn_risk > > 1", "column 21: unexpected '>'"),
    ("(1 + 2", "expected ')'"),
    ("member.tier == 'gold", "unexpected character"),
    ("__import__('os')", "unknown function '__import__'"),
    ("member.__class__.x()", "unknown function"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("has(1)", "has() takes a field path"),
    ("member.#", "unexpected character '#'"),
    ("a ? b", "expected ':'"),
    ("in channels", "'in' needs a left operand"),
    ("x" * 2_001, "longer than 2000 characters"),
]


@pytest.mark.parametrize(("source", "message"), BAD)
def test_errors_name_the_column_and_reason(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_expression(source)


def test_names_are_checked_at_compile_time() -> None:
    names = frozenset({"member", "channels", "context"})
    assert compile_expression("member.x > 1 && 'a' in channels", names=names).roots == {
        "member",
        "channels",
    }
    with pytest.raises(ExpressionError, match="unknown name 'membr'"):
        compile_expression("membr.churn_risk > 0.5", names=names)
    # function names are not context names
    assert compile_expression("size(channels) > 0", names=names).roots == {"channels"}


def test_attribute_access_never_reaches_python_objects() -> None:
    class Secret:
        password = "hunter2"

    rule = compile_expression("member.password == 'hunter2'")
    assert rule.evaluate({"member": Secret()}) is False  # only mappings have fields


def test_holds_is_true_only_for_true() -> None:
    assert compile_expression("1").holds({}) is False
    assert compile_expression("member.flag").holds({"member": {"flag": True}}) is True
    assert compile_expression("member.flag").holds({"member": {}}) is False


numbers = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False))


@given(a=numbers, b=numbers, op=st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_comparisons_match_python(a: float, b: float, op: str) -> None:
    rule = compile_expression(f"x.a {op} x.b")
    expected = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}
    assert rule.evaluate({"x": {"a": a, "b": b}}) is expected[op]


@given(a=st.integers(-50, 50), b=st.integers(-50, 50), c=st.integers(1, 50))
def test_precedence_matches_python(a: int, b: int, c: int) -> None:
    context = {"v": {"a": a, "b": b, "c": c}}
    assert compile_expression("v.a + v.b * v.c").evaluate(context) == a + b * c
    assert compile_expression("(v.a + v.b) * v.c").evaluate(context) == (a + b) * c
    assert compile_expression("v.a - v.b - v.c").evaluate(context) == a - b - c
    got = compile_expression("v.a < v.b || v.b < v.c && v.a == v.c").evaluate(context)
    assert got is ((a < b) or ((b < c) and (a == c)))
