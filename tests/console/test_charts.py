"""The console's SVG charts: well-formed, accessible, escaped, deterministic, right geometry."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from itertools import pairwise

import pytest

from nextbest.console import charts

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything not well-formed


def marks(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if e.get("class") == cls]


def f(e: ET.Element, attr: str) -> float:
    return float(e.get(attr, "nan"))


def test_the_tallest_bar_fills_the_plot_and_the_others_are_proportional() -> None:
    root = parse(charts.bar_chart("b", [("a", 50.0), ("b", 200.0), ("c", 100.0)], label="B"))
    bars = marks(root, "rect", "bar")
    heights = [f(b, "height") for b in bars]
    bottoms = {round(f(b, "y") + f(b, "height"), 1) for b in bars}
    assert len(bottoms) == 1  # one baseline
    tallest = max(heights)
    assert min(f(b, "y") for b in bars) == 18  # the plot's top margin
    assert heights[0] == pytest.approx(tallest / 4, abs=0.1)
    assert heights[2] == pytest.approx(tallest / 2, abs=0.1)
    assert [b.get("data-value") for b in bars] == ["50", "200", "100"]


def test_negative_bars_hang_below_the_zero_line() -> None:
    root = parse(charts.bar_chart("b", [("up", 10.0), ("down", -5.0)], label="B"))
    up, down = marks(root, "rect", "bar")
    assert f(up, "y") + f(up, "height") == pytest.approx(f(down, "y"), abs=0.1)
    assert f(down, "height") == pytest.approx(f(up, "height") / 2, abs=0.1)


def test_every_mark_has_a_tooltip_and_the_root_is_an_accessible_image() -> None:
    svg = charts.bar_chart("members", [("loyal", 3.0), ("lost", 1.0)], label="Members")
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Members"
    assert root.get("data-chart") == "members"
    tips = [b.find(f"{NS}title") for b in marks(root, "rect", "bar")]
    assert [t.text for t in tips if t is not None] == ["loyal: 3", "lost: 1"]


def test_text_is_escaped() -> None:
    evil = '<script>alert("x")</script> & co'
    svg = charts.bar_chart(evil, [(evil, 1.0)], label=evil)
    assert "<script>" not in svg
    root = parse(svg)
    assert root.get("aria-label") == evil
    assert any(t.text == evil for t in root.iter(f"{NS}text"))


Builder = Callable[[], str]
EMPTY: dict[str, Builder] = {
    "bar": lambda: charts.bar_chart("x", [], label="Bars"),
    "line": lambda: charts.line_chart("x", [], label="Line"),
    "heat": lambda: charts.heat_map("x", rows=[], cols=[], values=[], label="Heat"),
    "heat of blanks": lambda: charts.heat_map(
        "x", rows=["a"], cols=["b"], values=[[None]], label="Heat"
    ),
    "interval": lambda: charts.interval_chart("x", [], label="Lift"),
}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_data_renders_a_no_data_chart(name: str) -> None:
    root = parse(EMPTY[name]())
    assert root.get("data-chart") == "x"
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "no-data"] == ["no data"]


def test_output_is_deterministic() -> None:
    data = [("2025-01", 1234.5), ("2025-02", 99.25), ("2025-03", 0.0)]
    assert charts.line_chart("l", data, label="L") == charts.line_chart("l", data, label="L")
    items = [charts.Interval("revenue", 0.031, -0.01, 0.07)]
    assert charts.interval_chart("i", items, label="I") == charts.interval_chart(
        "i", items, label="I"
    )


def test_line_chart_puts_the_largest_value_at_the_top_and_zero_at_the_bottom() -> None:
    root = parse(charts.line_chart("l", [("a", 0.0), ("b", 40.0), ("c", 10.0)], label="L"))
    points = marks(root, "circle", "point")
    ys = [f(p, "cy") for p in points]
    xs = [f(p, "cx") for p in points]
    assert ys[1] == 14  # top margin
    assert ys[0] == pytest.approx(14 + 198, abs=0.1)  # the plot's bottom (height 240 - 42)
    assert ys[2] == pytest.approx(ys[0] - (ys[0] - ys[1]) / 4, abs=0.1)
    assert xs == sorted(xs) and xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])
    assert len(marks(root, "polygon", "area")) == 1


def test_a_single_point_is_centred() -> None:
    root = parse(charts.line_chart("l", [("only", 5.0)], label="L", width=400))
    (point,) = marks(root, "circle", "point")
    assert f(point, "cx") == pytest.approx(52 + (400 - 82) / 2)


def test_heat_map_writes_each_value_and_shades_by_size() -> None:
    values: list[list[float | None]] = [[1.0, 4.0], [None, 2.0]]
    root = parse(
        charts.heat_map("h", rows=["r1", "r2"], cols=["c1", "c2"], values=values, label="H")
    )
    cells = marks(root, "rect", "cell")
    assert [c.get("data-value") for c in cells] == ["1", "4", "2"]
    darkest = "#{:02x}{:02x}{:02x}".format(*charts.HIGH)
    assert cells[1].get("fill") == darkest  # the largest value
    assert len({c.get("fill") for c in cells}) == 3
    shown = {t.text for t in root.iter(f"{NS}text")}
    assert {"1", "4", "2", "r1", "r2", "c1", "c2"} <= shown
    assert len(marks(root, "rect", "legend")) == 5


def test_heat_map_tooltips_can_carry_a_second_figure() -> None:
    root = parse(
        charts.heat_map(
            "h",
            rows=["R5"],
            cols=["F1"],
            values=[[7.0]],
            label="H",
            tooltips=[["R5 F1: 7 members, average order 12.50"]],
        )
    )
    (cell,) = marks(root, "rect", "cell")
    title = cell.find(f"{NS}title")
    assert title is not None and title.text == "R5 F1: 7 members, average order 12.50"


def test_interval_chart_draws_the_whisker_around_the_estimate_and_a_zero_line() -> None:
    items = [
        charts.Interval("conversion", 0.05, 0.01, 0.09),
        charts.Interval("unsubscribes", -0.02, -0.06, 0.02),
    ]
    root = parse(charts.interval_chart("i", items, label="Lift"))
    (zero,) = marks(root, "line", "zero")
    x0 = f(zero, "x1")
    groups = marks(root, "g", "interval")
    assert [g.get("data-estimate") for g in groups] == ["0.05", "-0.02"]
    for group, item in zip(groups, items, strict=True):
        whisker = group.findall(f"{NS}line")[0]
        dot = group.find(f"{NS}circle")
        assert dot is not None
        low, high, mid = f(whisker, "x1"), f(whisker, "x2"), f(dot, "cx")
        assert low < mid < high
        assert (low > x0) == (item.low > 0)
        title = group.find(f"{NS}title")
        assert title is not None and "95% interval" in (title.text or "")
    assert groups[0].findall(f"{NS}line")[0].get("stroke") == charts.OK  # wholly above zero
    assert groups[1].findall(f"{NS}line")[0].get("stroke") == charts.ACCENT  # spans zero


def test_nice_ticks_are_round_and_inside_the_range() -> None:
    ticks = charts.nice_ticks(0, 13_000)
    assert ticks[0] == 0 and ticks[-1] <= 13_000
    steps = {round(b - a, 6) for a, b in pairwise(ticks)}
    assert len(steps) == 1
    assert charts.nice_ticks(-0.04, 0.09)[0] >= -0.04
