"""Catalogue and journey texts to propose: the built-in ones with one thing changed."""

from __future__ import annotations

from importlib import resources

from nextbest.decide.service import builtin_catalogue_text


def builtin_journey(name: str) -> str:
    return (resources.files("nextbest.journeys") / "templates" / f"{name}.yaml").read_text()


def with_cost(cost: str, text: str | None = None) -> str:
    """The catalogue with the apology's cost (the first ``cost: 0.25``) changed."""
    text = text if text is not None else builtin_catalogue_text()
    assert "    cost: 0.25\n" in text
    return text.replace("    cost: 0.25\n", f"    cost: {cost}\n", 1)


def without_apology() -> str:
    """The catalogue without the ``service-apology`` action."""
    text = builtin_catalogue_text()
    start = text.index("  - id: service-apology\n")
    end = text.index("  # --- retention")
    return text[:start] + text[end:]


# A channel the catalogue does not know: the error names line 41 of the built-in file.
def with_unknown_channel() -> tuple[str, int]:
    text = builtin_catalogue_text()
    lines = text.splitlines(keepends=True)
    n = next(i for i, s in enumerate(lines) if s.startswith("    channels: [call_centre"))
    lines[n] = "    channels: [fax, pos]\n"
    return "".join(lines), n + 1
