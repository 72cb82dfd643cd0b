"""The kinds of change a proposal can carry: the action catalogue, or one journey file.

Each kind knows how to read the current text of its target, validate a new text (every
problem with its line, field and reason), summarise the change as a unified diff, and apply
it durably to the file every process reads (``Settings.effective_catalogue_path`` and
``Settings.effective_journeys_dir``). Writes are atomic (a temporary file renamed over the
old one) and return an undo, so the caller can restore the file if its transaction fails.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from nextbest.config import Settings
from nextbest.decide.actions import Catalogue
from nextbest.decide.catalogue import CatalogueError, parse_catalogue
from nextbest.decide.service import effective_catalogue_text
from nextbest.errors import NextbestError
from nextbest.journeys.definition import JourneyError, parse_journey

MAX_TEXT = 200_000  # characters of one proposed file
CATALOGUE_TARGET = "catalogue"

Undo = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with a proposed text: its line (None: the whole file), field and reason."""

    line: int | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "(file)"
        return f"{where}: {self.field or '(top)'}: {self.message}"


class InvalidChange(NextbestError, ValueError):
    """A proposed change that does not validate; ``issues`` lists every problem."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


def text_hash(text: str | None) -> str | None:
    """What a proposal remembers of its target's text, to notice a change meanwhile."""
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else None


def diff(current: str | None, proposed: str, *, target: str) -> str:
    """The change as a unified diff (a new file diffs against nothing).

    >>> print(diff("a: 1\\n", "a: 2\\n", target="x"), end="")
    --- current/x
    +++ proposed/x
    @@ -1 +1 @@
    -a: 1
    +a: 2
    """
    lines = difflib.unified_diff(
        (current or "").splitlines(keepends=True),
        proposed.splitlines(keepends=True),
        fromfile=f"current/{target}" if current is not None else "/dev/null",
        tofile=f"proposed/{target}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _replace(path: Path, text: str) -> Undo:
    """Write ``text`` to ``path``; the undo puts back what was there (or nothing)."""
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    _write_atomic(path, text)

    def undo() -> None:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            _write_atomic(path, before)

    return undo


class ChangeKind(Protocol):
    name: str

    def normal_target(self, target: str) -> str: ...

    def current(self, settings: Settings, target: str) -> str | None:
        """The target's text now (None: the target does not exist yet)."""
        ...

    def validate(self, settings: Settings, target: str, text: str) -> list[Issue]: ...

    def apply(self, settings: Settings, target: str, text: str) -> Undo:
        """Make ``text`` the target's durable text; returns how to undo it."""
        ...


class CatalogueChange:
    """The whole action catalogue (actions, contact policy, arbitration, learning)."""

    name = "catalogue"

    def normal_target(self, target: str) -> str:
        return target.strip() or CATALOGUE_TARGET

    def current(self, settings: Settings, target: str) -> str | None:
        return effective_catalogue_text(settings)

    def validate(self, settings: Settings, target: str, text: str) -> list[Issue]:
        if target != CATALOGUE_TARGET:
            return [Issue(None, "target", f"a catalogue change targets {CATALOGUE_TARGET!r}")]
        try:
            parse_catalogue(text, source="proposed catalogue")
        except CatalogueError as exc:
            return [Issue(i.line, i.path, i.message) for i in exc.issues]
        return []

    def parse(self, text: str) -> Catalogue:
        return parse_catalogue(text, source="approved catalogue")

    def apply(self, settings: Settings, target: str, text: str) -> Undo:
        return _replace(settings.writable_catalogue_path(), text)


def _builtin_journeys() -> dict[str, str]:
    """Built-in template file name to text."""
    folder = resources.files("nextbest.journeys") / "templates"
    return {p.name: p.read_text() for p in folder.iterdir() if p.name.endswith(".yaml")}


def _journey_id(text: str) -> str | None:
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):
        return None
    value = data.get("journey") if isinstance(data, dict) else None
    return str(value) if value is not None else None


class JourneyChange:
    """One journey file; the target is the journey's id."""

    name = "journey"

    def normal_target(self, target: str) -> str:
        return target.strip()

    def _files(self, settings: Settings) -> dict[str, tuple[Path | None, str]]:
        """Journey id to (its file, None for a built-in; its text) as every process reads."""
        folder = settings.effective_journeys_dir()
        out: dict[str, tuple[Path | None, str]] = {}
        if folder is None:
            for text in _builtin_journeys().values():
                jid = _journey_id(text)
                if jid is not None:
                    out[jid] = (None, text)
            return out
        for path in sorted(folder.glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            jid = _journey_id(text)
            if jid is not None:
                out.setdefault(jid, (path, text))
        return out

    def current(self, settings: Settings, target: str) -> str | None:
        found = self._files(settings).get(target)
        return found[1] if found is not None else None

    def validate(self, settings: Settings, target: str, text: str) -> list[Issue]:
        try:
            journey = parse_journey(text, source="proposed journey")
        except JourneyError as exc:
            return [Issue(i.line, i.path, i.message) for i in exc.issues]
        if journey.id != target:
            line = next(
                (n for n, s in enumerate(text.splitlines(), 1) if s.startswith("journey:")), None
            )
            return [Issue(line, "journey", f"the file is journey {journey.id!r}, not {target!r}")]
        return []

    def apply(self, settings: Settings, target: str, text: str) -> Undo:
        folder = settings.writable_journeys_dir()
        if settings.journeys_dir is None and not folder.is_dir():
            # The first approved journey: copy the built-ins so the set stays complete.
            for name, builtin in _builtin_journeys().items():
                _write_atomic(folder / name, builtin)
        found = self._files(settings).get(target)
        path = found[0] if found is not None and found[0] is not None else None
        return _replace(path or folder / f"{target}.yaml", text)


CATALOGUE = CatalogueChange()
JOURNEY = JourneyChange()
KINDS: dict[str, ChangeKind] = {CATALOGUE.name: CATALOGUE, JOURNEY.name: JOURNEY}


def kind_of(name: str) -> ChangeKind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidChange(
            [Issue(None, "kind", f"unknown kind {name!r}; known: {', '.join(KINDS)}")]
        )
    return kind


def validate(settings: Settings, *, kind: str, target: str, text: str) -> list[Issue]:
    """Every problem with ``text`` as the new text of ``kind``/``target`` (empty: valid)."""
    try:
        change = kind_of(kind)
    except InvalidChange as exc:
        return exc.issues
    if len(text) > MAX_TEXT:
        return [Issue(None, "text", f"a proposed file is at most {MAX_TEXT:,} characters")]
    target = change.normal_target(target)
    if not target:
        return [Issue(None, "target", "name the target (the journey id)")]
    return change.validate(settings, target, text)
