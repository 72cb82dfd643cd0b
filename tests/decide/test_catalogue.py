"""The action catalogue file: the demo loads, bad input is named by line, path and reason, and
the synthetic benchmark catalogue loads and keeps about half its actions in play."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nextbest.decide.actions import CHANNELS, Priority
from nextbest.decide.bench_catalogue import generate_catalogue, typical_member
from nextbest.decide.catalogue import (
    DEMO_CATALOGUE,
    NOTHING_ID,
    CatalogueError,
    load_catalogue,
    parse_catalogue,
)
from nextbest.decide.engine import Engine, MemberFacts, Request

# Line numbers matter below: the bad action's block starts on line 12, and a field appended
# to BASE lands on line 15.
BASE = """\
catalogue: test
policy:
  caps:
    - {limit: 1, period: day, channel: email}
  quiet_hours: {start: 21, end: 8, channels: [sms]}
arbitration:
  formula: "uplift * value - cost"
actions:
  - id: good
    kind: offer
    channels: [email]
  - id: bad
    kind: message
    channels: [push]
"""


def edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# --- the demo catalogue --------------------------------------------------------------------


def test_demo_catalogue_loads() -> None:
    cat = load_catalogue(DEMO_CATALOGUE)
    assert len(cat.actions) == 13
    nothing = [a for a in cat.actions if a.kind == "nothing"]
    assert [a.id for a in nothing] == [NOTHING_ID]
    assert cat.action("service-apology").priority is Priority.SERVICE
    assert len(cat.policy.suppressions) == 2
    assert cat.arbitration.levers == {"season": 1.0}


def test_version_is_a_hash_of_the_text() -> None:
    text = DEMO_CATALOGUE.read_text(encoding="utf-8")
    first = load_catalogue(DEMO_CATALOGUE).version
    assert load_catalogue(DEMO_CATALOGUE).version == first
    assert parse_catalogue(text).version == first
    assert len(first) == 12
    assert parse_catalogue(text.replace("value: 3.5", "value: 3.75")).version != first
    # The hash is over the text, so even a comment makes a new version.
    assert parse_catalogue(text + "# reviewed\n").version != first


def test_expected_cost_adds_the_points_unredeemed_beans_excepted() -> None:
    cat = load_catalogue(DEMO_CATALOGUE)
    winback = cat.action("winback-200")
    assert winback.points > 0 and winback.cost > 0
    got = winback.expected_cost(cost_per_point=cat.cost_per_point, breakage=cat.breakage)
    assert got == pytest.approx(
        winback.cost + winback.points * cat.cost_per_point * (1 - cat.breakage)
    )
    assert got == pytest.approx(0.02 + 200 * 0.02 * 0.7)  # the file's numbers today
    treat = cat.action("birthday-treat")  # no points: its fixed cost only
    assert treat.expected_cost(cost_per_point=cat.cost_per_point, breakage=cat.breakage) == 1.5


def test_a_catalogue_without_do_nothing_gets_the_built_in_one() -> None:
    cat = parse_catalogue(BASE)
    assert [a.id for a in cat.actions] == ["good", "bad", NOTHING_ID]
    nothing = cat.action(NOTHING_ID)
    assert nothing.kind == "nothing"
    assert nothing.channels == CHANNELS
    assert nothing.eligibility == ()


def test_defaults_follow_the_kind() -> None:
    cat = parse_catalogue(BASE + "  - {id: care, kind: service, channels: [email]}\n")
    assert cat.action("good").priority is Priority.MARKETING
    assert cat.action("good").purpose == "marketing"
    assert cat.action("care").priority is Priority.SERVICE
    assert cat.action("care").purpose == "service"
    assert cat.action("good").name == "good"


# --- bad input -------------------------------------------------------------------------------

# (case, text, line, path, reason): the message must name all three.
BAD = [
    (
        "unknown kind",
        edit("kind: message", "kind: coupon"),
        13,
        "actions.1.kind",
        "Input should be 'offer', 'message', 'service' or 'nothing'",
    ),
    (
        "unknown channel",
        edit("channels: [push]", "channels: [push, fax]"),
        14,
        "actions.1.channels.1",
        "unknown channel 'fax'",
    ),
    (
        "unknown priority",
        BASE + "    priority: urgent\n",
        15,
        "actions.1.priority",
        "Input should be 'service', 'retention' or 'marketing'",
    ),
    (
        "bad expression syntax",
        BASE + '    eligibility: "member.purchase_count >"\n',
        15,
        "actions.1.eligibility.0",
        "column 24: unexpected 'the end'",
    ),
    (
        "unknown root name in a rule",
        BASE + '    eligibility:\n      - "member.purchase_count >= 1"\n      - "foo.bar > 1"\n',
        17,
        "actions.1.eligibility.1",
        "column 1: unknown name 'foo' (known: context, ledger, member, scores)",
    ),
    (
        "unknown root name in a value",
        BASE + '    value: "2 * points.balance"\n',
        15,
        "actions.1.value",
        "column 5: unknown name 'points'",
    ),
    (
        "duplicate action id",
        edit("id: bad", "id: good"),
        12,
        "actions.1.id",
        "duplicate id 'good' (first on line 9)",
    ),
    (
        "negative cost",
        BASE + "    cost: -1.5\n",
        15,
        "actions.1.cost",
        "Input should be greater than or equal to 0",
    ),
    (
        "fractional points",
        BASE + "    points: 1.5\n",
        15,
        "actions.1.points",
        "Input should be a valid integer",
    ),
    (
        "probability above one",
        BASE + "    response: 1.5\n",
        15,
        "actions.1.response",
        "a probability must be between 0 and 1, not 1.5",
    ),
    (
        "misspelt field",
        BASE + "    eligibilty: 'member.purchase_count > 1'\n",
        15,
        "actions.1.eligibilty",
        "Extra inputs are not permitted",
    ),
    (
        "validity window ends before it starts",
        BASE + "    valid: {from: 2026-03-01, until: 2026-02-01}\n",
        15,
        "actions.1.valid.until",
        "until (2026-02-01T00:00:00+00:00) must be after from (2026-03-01T00:00:00+00:00)",
    ),
    (
        "impossible date",
        BASE + "    valid: {from: 2026-13-01}\n",
        15,
        "",
        "invalid date: month must be in 1..12",
    ),
    (
        "no channels",
        edit("    channels: [push]\n", ""),
        12,
        "actions.1",
        "an action of kind message needs channels",
    ),
    (
        "reserved do-nothing id",
        edit("id: bad", "id: do-nothing"),
        12,
        "actions.1.id",
        "'do-nothing' names the built-in do-nothing action",
    ),
    (
        "two do-nothing actions",
        BASE + "  - {id: n1, kind: nothing}\n  - {id: n2, kind: nothing}\n",
        16,
        "actions.3.kind",
        "only one action may be of kind nothing (already 'n1')",
    ),
    (
        "do-nothing with rules",
        BASE + "  - {id: n1, kind: nothing, eligibility: 'member.purchase_count > 1'}\n",
        15,
        "actions.2.eligibility",
        "an action of kind nothing takes no eligibility",
    ),
    (
        "duplicate key",
        BASE + "    cost: 1.0\n    cost: 2.0\n",
        16,
        "actions.1.cost",
        "duplicate key 'cost' (the last one would silently win)",
    ),
    (
        "bad cap period",
        edit("period: day", "period: month"),
        4,
        "policy.caps.0.period",
        "Input should be 'day' or 'week'",
    ),
    (
        "cap on an inbound placement",
        edit("channel: email}", "channel: app}"),
        4,
        "policy.caps.0.channel",
        "caps count outbound contacts; 'app' is an inbound placement",
    ),
    (
        "quiet hour above 23",
        edit("start: 21", "start: 24"),
        5,
        "policy.quiet_hours.start",
        "Input should be less than or equal to 23",
    ),
    (
        "quiet hour below 0",
        edit("end: 8", "end: -1"),
        5,
        "policy.quiet_hours.end",
        "Input should be greater than or equal to 0",
    ),
    (
        "unknown time zone",
        edit("arbitration:", "  default_timezone: Mars/Olympus\narbitration:"),
        6,
        "policy.default_timezone",
        "unknown time zone 'Mars/Olympus'",
    ),
    (
        "arbitration formula with unknown root",
        edit('"uplift * value - cost"', '"uplift * value - foo.cost"'),
        7,
        "arbitration.formula",
        "column 18: unknown name 'foo'",
    ),
    (
        "arbitration formula with unknown lever",
        edit('"uplift * value - cost"', '"uplift * levers.sesaon"'),
        7,
        "arbitration.formula",
        "column 17: unknown lever 'sesaon' (levers: none defined)",
    ),
    (
        "YAML syntax error",
        edit("    kind: message\n", "     kind: message\n"),
        13,
        "",
        "mapping values are not allowed here",
    ),
    (
        "unclosed YAML list",
        edit("channels: [push]", "channels: [push"),
        15,
        "",
        "expected ',' or ']'",
    ),
    (
        "not a mapping",
        "- catalogue\n- actions\n",
        1,
        "",
        "a catalogue is a mapping of sections",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "path", "reason"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_input_names_line_path_and_reason(text: str, line: int, path: str, reason: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, source="test.yaml")
    [issue] = caught.value.issues
    assert (issue.line, issue.path) == (line, path)
    assert reason in issue.message
    assert f"test.yaml:line {line}: {path or '(top)'}: " in str(caught.value)


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = edit("channels: [email]\n  - id", "channels: [fax]\n  - id")
    text += "    eligibility: 'foo.x'\n"
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text)
    assert [(i.line, i.path) for i in caught.value.issues] == [
        (11, "actions.0.channels.0"),
        (15, "actions.1.eligibility.0"),
    ]


def test_an_unreadable_file_is_a_catalogue_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(missing)
    assert caught.value.source == str(missing)
    assert caught.value.issues[0].line is None


# --- the synthetic benchmark catalogue ------------------------------------------------------


def test_generated_catalogue_loads_with_every_channel() -> None:
    cat = parse_catalogue(generate_catalogue())
    assert len(cat.actions) == 201
    assert all(a.channels == ("email", "sms", "push", "in_app", "app") for a in cat.actions)
    kinds = [a.kind for a in cat.actions]
    assert (kinds.count("offer"), kinds.count("message"), kinds.count("service")) == (120, 70, 10)
    assert kinds.count("nothing") == 1
    priorities = {p: sum(a.priority is p for a in cat.actions) for p in Priority}
    assert priorities[Priority.MARKETING] > priorities[Priority.RETENTION] > 0
    assert priorities[Priority.SERVICE] == 10
    assert sum("upsell" in a.tags for a in cat.actions) > 20
    assert any(a.budget for a in cat.actions) and any(a.member_cap for a in cat.actions)
    assert all(1 <= len(a.eligibility) <= 3 for a in cat.actions if a.kind != "nothing")
    assert [s.name for s in cat.policy.suppressions] == ["open service ticket", "unhappy member"]
    # Caps per outbound channel per day and week, and one over all of them; none on "app".
    assert {(c.channel, c.period) for c in cat.policy.caps} == {
        *((ch, p) for ch in ("email", "sms", "push", "in_app") for p in ("day", "week")),
        (None, "week"),
    }
    assert cat.policy.quiet_channels == {"sms", "push"}
    assert cat.policy.cooldown_hours == 12


def test_generated_catalogue_is_deterministic_per_seed() -> None:
    assert generate_catalogue(seed=7) == generate_catalogue(seed=7)
    assert generate_catalogue(seed=7) != generate_catalogue(seed=8)
    small = parse_catalogue(generate_catalogue(actions=10, channels=["email", "pos"], seed=1))
    assert len(small.actions) == 11
    assert all(a.channels == ("email", "pos") for a in small.actions)
    assert small.policy.quiet_channels == frozenset()  # neither channel is kept quiet


@pytest.mark.parametrize("channels", [[], ["email", "fax"], ["sms", "sms"]])
def test_generated_catalogue_rejects_bad_channels(channels: list[str]) -> None:
    with pytest.raises(ValueError, match="channels"):
        generate_catalogue(channels=channels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_about_half_the_generated_actions_are_scored_for_a_typical_member(seed: int) -> None:
    cat = parse_catalogue(generate_catalogue(seed=seed))
    consent = {
        f"{ch}/{purpose}": True
        for ch in ("email", "sms", "push", "in_app")
        for purpose in ("marketing", "loyalty", "service")
    }
    facts = MemberFacts(
        member_id="m_typical",  # not in the universal holdout
        env=typical_member(),
        consent=consent,
        timezone="America/New_York",
    )
    # 10:00 on a Tuesday in New York: outside quiet hours, nothing used up yet.
    decision = Engine(cat).decide(facts, Request(at=datetime(2027, 6, 1, 14, tzinfo=UTC)), {})
    assert not decision.holdout
    scored = [c for c in decision.candidates if not c.reasons]
    assert 0.35 * len(cat.actions) <= len(scored) <= 0.65 * len(cat.actions)
    # Retention and service actions target members at risk or with a problem.
    assert {c.priority for c in scored} == {"marketing"}
