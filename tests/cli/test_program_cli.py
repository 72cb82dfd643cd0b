"""`nextbest program`: validate with line numbers, apply once, show, simulate a purchase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nextbest
from nextbest.cli import app

DEMO = Path(nextbest.__file__).parent / "ledger" / "programs" / "bean_and_bake.yaml"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEXTBEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NEXTBEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: one row a line
    return tmp_path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_validate_the_demo_program() -> None:
    result = CliRunner().invoke(app, ["program", "validate", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: Bean & Bake Rewards version ")
    assert result.stdout.strip().endswith(": 5 rewards, 3 tiers, 1 promotions")


def test_validate_names_every_bad_line(tmp_path: Path) -> None:
    text = DEMO.read_text()
    text = text.replace("rounding: floor", "rounding: up")
    text = text.replace("{id: pastry, name: Any pastry, points: 120}", "{id: pastry, points: -5}")
    bad = tmp_path / "broken.yaml"
    bad.write_text(text)
    result = CliRunner().invoke(app, ["program", "validate", str(bad)])
    assert result.exit_code == 1
    assert result.stdout == ""
    errors = result.stderr.splitlines()
    rounding = _line_of(text, "rounding: up")
    pastry = _line_of(text, "id: pastry")
    assert f"{bad}:{rounding}: rounding: Input should be 'floor', 'round' or 'ceil'" in errors
    assert f"{bad}:{pastry}: rewards.1.name: Field required" in errors
    assert any(e.startswith(f"{bad}:{pastry}: rewards.1.points: ") for e in errors)
    assert len(errors) == 3


def test_validate_reports_yaml_syntax_and_cross_checks(tmp_path: Path) -> None:
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("name: Cafe\nearn:\n  base_per_unit: 1\n   multipliers: []\n")
    result = CliRunner().invoke(app, ["program", "validate", str(syntax)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{syntax}:4: (top): ")

    tiers = tmp_path / "tiers.yaml"
    tiers.write_text(
        "name: Cafe\ntiers:\n  levels:\n    - {id: green, threshold: 0}\n"
        "    - {id: gold, threshold: 0}\n"
    )
    result = CliRunner().invoke(app, ["program", "validate", str(tiers)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"{tiers}:5: tiers.levels.1.threshold: thresholds must rise: 0 after 0"
    )

    missing = CliRunner().invoke(app, ["program", "validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert "nope.yaml" in missing.stderr


def test_apply_once_then_show() -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["program", "show"])
    assert empty.exit_code == 1
    assert "no loyalty program is active" in empty.stderr

    first = runner.invoke(app, ["program", "apply", str(DEMO), "--by", "ann"])
    assert first.exit_code == 0, first.output
    version = json.loads(runner.invoke(app, ["program", "show", "--json"]).stdout)["version"]
    assert f"version {version}" in first.stdout and "applied" in first.stdout
    again = runner.invoke(app, ["program", "apply", str(DEMO)])
    assert again.exit_code == 0
    assert f"version {version}" in again.stdout and "already active" in again.stdout

    shown = json.loads(runner.invoke(app, ["program", "show", "--json"]).stdout)
    assert shown["applied_by"] == "ann"
    assert shown["program"]["name"] == "Bean & Bake Rewards"
    assert [r["id"] for r in shown["program"]["rewards"]][:2] == ["drip-coffee", "pastry"]
    table = runner.invoke(app, ["program", "show"], terminal_width=200)
    assert table.exit_code == 0
    assert "x2 on category beans" in table.stdout and "mug (Bean & Bake mug): 900" in table.stdout


def test_simulate_shows_the_multiplier_for_a_beans_line() -> None:
    result = CliRunner().invoke(
        app,
        [
            "program",
            "simulate",
            "--file",
            str(DEMO),
            "--total",
            "19",
            "--line",
            "latte:coffee:2:3.5",
            "--line",
            "house-blend:beans:1:12",
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "+12" in rows["multiplier:category=beans"]
    assert "x2 on 12.00 USD" in rows["multiplier:category=beans"]
    assert "+19" in rows["base"]
    assert "spendable: 31 beans; qualifying: 31 tier_beans" in result.stdout
    assert "version" in result.stdout


def test_simulate_json_with_tier_channel_cap_and_the_active_program() -> None:
    assert CliRunner().invoke(app, ["program", "apply", str(DEMO)]).exit_code == 0
    result = CliRunner().invoke(
        app,
        [
            "program",
            "simulate",
            "--total",
            "100",
            "--line",
            "beans-1kg:beans:4:25",
            "--channel",
            "app",
            "--tier",
            "gold",
            "--earned-today",
            "300",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rules = {r["rule"]: r["points"] for r in out["rules"]}
    # 100 base + 100 beans; gold +20% of 200; app +10% of 200; the cap leaves 100 today.
    assert rules == {
        "base": 100,
        "multiplier:category=beans": 100,
        "tier:gold": 40,
        "channel:app": 20,
        "cap": -160,
    }
    assert (out["points"], out["qualifying"]) == (100, 200)

    plain = json.loads(
        CliRunner().invoke(app, ["program", "simulate", "--total", "12.5", "--json"]).stdout
    )
    assert plain["rules"] == [{"rule": "base", "points": 12, "why": "12.50 USD x 1 per unit"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--line", "latte:coffee:two:3"], "QTY is a whole number and PRICE a number"),
        (["--line", "latte:coffee"], "SKU:CATEGORY:QTY:PRICE"),
        (["--line", "latte:coffee:1:3"], "more than the lines add up to"),
        (["--tier", "platinum"], "unknown tier 'platinum'"),
        (["--at", "yesterday"], "not an ISO date or time"),
    ],
)
def test_simulate_refuses_bad_input(args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        app, ["program", "simulate", "--file", str(DEMO), "--total", "12.5", *args]
    )
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())  # unwrap the box


def test_simulate_without_a_program_says_how_to_apply_one() -> None:
    result = CliRunner().invoke(app, ["program", "simulate", "--total", "5"])
    assert result.exit_code == 1
    assert "nextbest program apply" in result.stderr
