"""Where journeys come from: the built-in templates, or a folder of the user's files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from nextbest.journeys.definition import (
    Journey,
    JourneyError,
    JourneyIssue,
    load_journey,
    parse_journey,
)


def builtin_names() -> list[str]:
    folder = resources.files("nextbest.journeys") / "templates"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def builtin(name: str) -> Journey:
    text = (resources.files("nextbest.journeys") / "templates" / f"{name}.yaml").read_text()
    return parse_journey(text, source=f"{name}.yaml")


def load_journeys(folder: Path | None = None) -> list[Journey]:
    """Every journey of ``folder`` (``*.yaml``), or the built-in templates; all problems of
    all files are reported together."""
    if folder is None:
        return [builtin(n) for n in builtin_names()]
    out: list[Journey] = []
    errors: list[str] = []
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            out.append(load_journey(path))
        except JourneyError as exc:
            errors.append(str(exc))
    if errors:
        raise JourneyError(str(folder), [i for e in errors for i in _issues(e)])
    ids = [j.id for j in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise JourneyError(str(folder), _issues(f"journey ids used twice: {', '.join(dupes)}"))
    return out


def _issues(text: str) -> list[JourneyIssue]:
    return [JourneyIssue(line=None, path="", message=line) for line in text.splitlines()]
