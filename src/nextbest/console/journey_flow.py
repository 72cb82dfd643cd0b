"""A journey's flow drawn as an inline SVG: one box per step, in file order, top to bottom.

An arrow to the step right below is drawn straight down; every other arrow (a branch, a
split arm, an event wait's timeout, a ``next`` that jumps) goes out of the box's right side
along a lane of its own and back into its target, so crossings stay readable. Labels say
which way is which (then/else, the arm's share, the event or the timeout).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from nextbest.journeys.definition import Journey, Step

BOX_W, BOX_H, GAP = 300, 46, 34
LEFT, TOP = 16, 34
LANE = 16  # horizontal distance between two routed arrows
LABEL_ROOM = 120
MAX_DETAIL = 44


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str


def _short(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _duration(hours: float | None, days: float | None) -> str:
    if days is not None:
        return f"{days:g}d"
    return f"{hours:g}h" if hours is not None else ""


def describe(step: Step) -> str:
    """The second line of a step's box: what it does."""
    s = step.spec
    if step.kind == "send":
        return f"send {s.channel}: {s.template}"
    if step.kind == "wait":
        if s.event:
            return f"wait up to {_duration(s.hours, s.days)} for {s.event}"
        if s.until:
            return f"wait until {s.until} local"
        return f"wait {_duration(s.hours, s.days)}"
    if step.kind == "branch":
        return f"if {s.when}"
    if step.kind == "split":
        return f"split {len(s)} ways"
    if step.kind == "decide":
        return f"decide among {len(s.actions)} action(s)"
    if step.kind == "grant":
        return f"grant {s.points} points"
    if step.kind == "update":
        return "set " + ", ".join(sorted(s))
    if step.kind == "exit":
        return f"exit: {s}"
    return step.kind


def edges(journey: Journey) -> list[Edge]:
    """Every arrow of the flow, in step order."""
    out: list[Edge] = []
    for sid in journey.order:
        step = journey.steps[sid]
        s = step.spec
        if step.kind == "branch":
            out += [Edge(sid, s.then, "then"), Edge(sid, s.otherwise, "else")]
        elif step.kind == "split":
            out += [Edge(sid, arm.next, f"{arm.share:.0%}") for arm in s]
        elif step.kind == "wait" and s.event:
            if step.next is not None:
                out.append(Edge(sid, step.next, s.event))
            if s.timeout is not None:
                out.append(Edge(sid, s.timeout, "timeout"))
        elif step.next is not None:
            out.append(Edge(sid, step.next, ""))
    return out


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'
    )


def flow_svg(journey: Journey) -> Markup:
    """The journey's flow as an ``<svg data-chart="journey-flow">`` element."""
    index = {sid: i for i, sid in enumerate(journey.order)}
    arrows = edges(journey)
    straight: set[int] = set()
    routed: list[tuple[int, Edge]] = []
    for n, e in enumerate(arrows):
        below = index[e.target] == index[e.source] + 1
        if below and not any(arrows[m].source == e.source for m in straight):
            straight.add(n)
        else:
            routed.append((n, e))
    width = LEFT + BOX_W + 24 + LANE * len(routed) + LABEL_ROOM
    height = TOP + len(journey.order) * (BOX_H + GAP) + 4

    def top(sid: str) -> float:
        return TOP + index[sid] * (BOX_H + GAP)

    parts = [
        f'<svg data-chart="journey-flow" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(f"flow of journey {journey.id}: {len(journey.order)} steps")}">',
        f"<title>{escape(journey.name)}</title>",
        '<defs><marker id="flow-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>',
        "<style>.step{fill:#fff;stroke:#4c72b0;stroke-width:1.5}"
        ".step.exit{stroke:#888;stroke-dasharray:4 3}.sid{font:600 13px sans-serif}"
        ".what,.lbl,.trig{font:12px sans-serif}.lbl{fill:#555}"
        ".edge{fill:none;stroke:#555;stroke-width:1.3}</style>",
        _text(LEFT, 18, "when: " + _short(trigger_text(journey), 70), "trig"),
    ]
    for sid in journey.order:
        step = journey.steps[sid]
        y = top(sid)
        cls = "step exit" if step.kind == "exit" else "step"
        parts.append(
            f'<g data-step="{escape(sid)}" data-kind="{step.kind}">'
            f'<rect class="{cls}" x="{LEFT}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            + _text(LEFT + 10, y + 18, sid, "sid")
            + _text(LEFT + 10, y + 36, _short(describe(step)), "what")
            + "</g>"
        )
    centre = LEFT + BOX_W / 2
    for n in sorted(straight):
        e = arrows[n]
        y0, y1 = top(e.source) + BOX_H, top(e.target)
        parts.append(
            f'<path class="edge" d="M{centre:.0f},{y0:.0f} L{centre:.0f},{y1 - 1:.0f}" '
            f'marker-end="url(#flow-arrow)"/>'
        )
        if e.label:
            parts.append(_text(centre + 6, (y0 + y1) / 2 + 4, e.label, "lbl"))
    right = LEFT + BOX_W
    outgoing: dict[str, int] = {}
    for lane, (_n, e) in enumerate(routed):
        k = outgoing.get(e.source, 0)
        outgoing[e.source] = k + 1
        x = right + 24 + lane * LANE
        ys = top(e.source) + 10 + (k % 3) * 13
        yt = top(e.target) + BOX_H / 2 + ((lane % 3) - 1) * 8
        parts.append(
            f'<path class="edge" d="M{right},{ys:.0f} L{x:.0f},{ys:.0f} L{x:.0f},{yt:.0f} '
            f'L{right + 1},{yt:.0f}" marker-end="url(#flow-arrow)"/>'
        )
        label = f"{e.label} \u2192 {e.target}" if e.label else f"\u2192 {e.target}"
        parts.append(_text(x + 4, ys - 2, label, "lbl"))
    parts.append("</svg>")
    return Markup("".join(parts))


def trigger_text(journey: Journey) -> str:
    """The trigger in a few words, e.g. ``score churn_risk above 0.6``."""
    trig = journey.trigger.model_dump(exclude_defaults=True, exclude_none=True)
    return ", ".join(f"{k} {v}" for k, v in trig.items())


def funnel_svg(steps: list[dict[str, Any]], *, width: int = 160, height: int = 28) -> Markup:
    """Members reaching each step as a row of small bars (a journey's funnel at a glance)."""
    if not steps:
        return Markup("")
    top_n = max((int(s["members"]) for s in steps), default=0) or 1
    bar = width / len(steps)
    parts = [
        f'<svg data-chart="journey-funnel" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="members reaching each of {len(steps)} steps">'
    ]
    for i, s in enumerate(steps):
        h = max(1.0, (height - 2) * int(s["members"]) / top_n)
        parts.append(
            f'<rect x="{i * bar + 1:.1f}" y="{height - h:.1f}" width="{max(bar - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="#4c72b0"><title>{escape(str(s["step"]))}: '
            f"{int(s['members']):,}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
