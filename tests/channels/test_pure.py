"""The pure parts: templates, signatures, backoff, governance verdicts."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from nextbest.channels.governance import verdict
from nextbest.channels.message import OutboundMessage
from nextbest.channels.retry import RetryPolicy
from nextbest.channels.signing import sign, verify_signature
from nextbest.channels.templates import TemplateError, Templates
from nextbest.decide.actions import Cap, ContactPolicy
from nextbest.decide.engine import MemberFacts

JOURNEY_TEMPLATES = {
    "welcome",
    "first_reward",
    "winback",
    "cart_reminder",
    "cart_points",
    "tier_upgrade",
    "vip_milestone",
    "birthday",
    "points_expiring",
    "apology",
    "direct_mail_balance",
    "redeem_reminder",
}
NO_PROGRAM = {"balance": 0, "tier": None, "points_expiring_30d": 0, "points_to_next_tier": None}


def context(**member: object) -> dict[str, object]:
    return {
        "member": {"member_id": "m_1", **member},
        "ledger": NO_PROGRAM,
        "scores": {},
        "recommendations": [],
        "data": {},
    }


def test_every_template_the_journeys_use_exists_and_renders_for_a_bare_member() -> None:
    templates = Templates()
    assert set(templates.ids()) >= JOURNEY_TEMPLATES
    for template_id in templates.ids():
        out = templates.render(template_id, context())
        assert out.subject.strip() and "\n" not in out.subject, template_id
        assert out.text.strip(), template_id
        assert "{{" not in out.text and "None" not in out.subject, template_id


def test_templates_personalise_and_escape_only_the_html() -> None:
    ctx = context(first_name="<Ada>")
    ctx["ledger"] = {**NO_PROGRAM, "balance": 420}
    out = Templates().render("welcome", ctx)
    assert out.subject == "Welcome to Bean & Bake, <Ada>!"
    assert "Hi <Ada>," in out.text and "420 points" in out.text
    assert out.html is not None and "&lt;Ada&gt;" in out.html and "<Ada>" not in out.html


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("subject: Hi\ntext: |\n  one\n  {{ member.nope }}\n", 4, "no attribute 'nope'"),
        ("subject: Hi\ntext: |\n  {% if %}\n", 3, "Expected an expression"),
        ("subject: '{{ data.x }}'\ntext: ok\n", 1, "subject: 'dict object' has no attribute 'x'"),
        ("subject: Hi\n", 1, "text is required"),
        ("subject: Hi\ntext: ok\nfooter: x\n", 1, "unknown keys ['footer']"),
        ("subject: Hi\ntext: [unclosed\n", 3, "while parsing"),
    ],
)
def test_a_template_error_names_the_template_line_and_reason(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    (tmp_path / "broken.yaml").write_text(body)
    with pytest.raises(TemplateError) as err:
        Templates(tmp_path).render("broken", context())
    assert err.value.template == "broken"
    assert err.value.line == line, str(err.value)
    assert reason in str(err.value)


def test_unknown_template_lists_the_known_ones() -> None:
    with pytest.raises(TemplateError, match="no such template; known: apology"):
        Templates().render("nope", context())


def test_signature_rejects_tampering_replay_and_wrong_secret() -> None:
    body = b'{"message_id":"j:1:1"}'
    header = sign("k1", body, now=1_800_000_000)
    assert verify_signature("k1", header, body, now=1_800_000_100)
    assert not verify_signature("k1", header, body + b" ", now=1_800_000_100)
    assert not verify_signature("k2", header, body, now=1_800_000_100)
    assert not verify_signature("k1", header, body, now=1_800_000_301)
    assert not verify_signature("k1", None, body, now=1_800_000_000)
    assert not verify_signature("k1", "t=abc,v1=00", body, now=1_800_000_000)
    # A receiver rotating secrets accepts either of two signatures.
    rotated = header + "," + sign("k0", body, now=1_800_000_000).split(",")[1]
    assert verify_signature("k0", rotated, body, now=1_800_000_000)


def test_backoff_grows_is_capped_and_is_the_same_for_the_same_message() -> None:
    p = RetryPolicy(max_attempts=10, base_seconds=10, cap_seconds=100)
    delays = [p.delay(n, key="m1") for n in range(1, 9)]
    assert delays == [p.delay(n, key="m1") for n in range(1, 9)]
    for n, got in enumerate(delays, start=1):
        ceiling = min(100.0, 10.0 * 2 ** (n - 1))
        assert ceiling / 2 <= got <= ceiling
    below_cap = delays[:4]  # ceilings 10, 20, 40, 80: each wait at least the one before
    assert all(b >= a for a, b in pairwise(below_cap))
    # Different messages failing together spread out.
    assert len({round(p.delay(1, key=f"m{i}"), 6) for i in range(50)}) > 40


def _facts(**consent: bool) -> MemberFacts:
    return MemberFacts(
        member_id="m_1",
        env={"member": {}},
        consent={k.replace("__", "/"): v for k, v in consent.items()},
        timezone="Asia/Tokyo",
    )


def test_verdicts_for_consent_quiet_hours_caps_service_and_governed() -> None:
    policy = ContactPolicy(caps=(Cap(1, "day", "sms"),), quiet_start=21, quiet_end=8)
    noon_tokyo = datetime(2027, 6, 1, 3, tzinfo=UTC)
    night_tokyo = datetime(2027, 6, 1, 14, tzinfo=UTC)
    sms = OutboundMessage(message_id="a", member_id="m_1", channel="sms", template="t")
    assert verdict(policy, _facts(), sms, now=noon_tokyo).suppress == (
        "no consent to sms for marketing"
    )
    ok = _facts(sms__marketing=True)
    assert verdict(policy, ok, sms, now=night_tokyo).defer_until == datetime(
        2027, 6, 1, 23, tzinfo=UTC
    )
    assert [s.reason for s in verdict(policy, ok, sms, now=noon_tokyo).slots] == [
        "cap 1 per day on sms"
    ]
    service = OutboundMessage(
        message_id="b",
        member_id="m_1",
        channel="sms",
        template="t",
        purpose="service",
        priority="service",
    )
    assert verdict(policy, _facts(), service, now=noon_tokyo).slots == ()
    refused = _facts(sms__service=False)
    assert verdict(policy, refused, service, now=noon_tokyo).suppress == (
        "member refused sms for service"
    )
    governed = OutboundMessage(
        message_id="c", member_id="m_1", channel="sms", template="t", governed=True
    )
    assert verdict(policy, ok, governed, now=noon_tokyo).slots == ()
