"""Message templates: one YAML file per template id with ``subject``, ``text`` and ``html``.

Rendered with Jinja2's sandbox (a template may not reach Python internals) and
``StrictUndefined`` (a misspelt variable is an error, not a blank in a sent message); only
the html part is autoescaped. Every template compiles once, when first used. An error
names the template, the file line and the reason.

The context: ``member`` (profile fields and ``member_id``), ``ledger`` (balance, tier,
points expiring), ``recommendations`` (top items, possibly empty) and ``data`` (the
message's own variables).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from nextbest.channels.message import Rendered
from nextbest.errors import NextbestError

FIELDS = ("subject", "text", "html")
SUFFIX = ".yaml"


class TemplateError(NextbestError):
    """A template that cannot be loaded or rendered: which one, where, and why."""

    def __init__(self, *, template: str, line: int | None, reason: str) -> None:
        self.template = template
        self.line = line
        self.reason = reason
        where = f"{template}.yaml line {line}" if line else f"{template}.yaml"
        super().__init__(f"template {where}: {reason}")


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """A template file's parts and the file line each part starts on (for errors)."""

    id: str
    parts: dict[str, str]
    first_line: dict[str, int]


def parse_template(template_id: str, text: str) -> TemplateSource:
    """Read one template file.

    >>> src = parse_template("hi", "subject: Hi {{ member.first_name }}\\ntext: |\\n  Hello\\n")
    >>> src.parts["text"], src.first_line
    ('Hello\\n', {'subject': 1, 'text': 3})
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise TemplateError(template=template_id, line=line, reason=str(exc)) from None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise TemplateError(template=template_id, line=1, reason="expected a mapping")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise TemplateError(
            template=template_id, line=1, reason=f"unknown keys {unknown}; allowed: {FIELDS}"
        )
    for needed in ("subject", "text"):
        if not isinstance(data.get(needed), str):
            raise TemplateError(template=template_id, line=1, reason=f"{needed} is required")
    first: dict[str, int] = {}
    for key, value in node.value:
        # A block scalar's text starts on the line after its ``|`` or ``>`` indicator.
        block = isinstance(value, yaml.ScalarNode) and value.style in ("|", ">")
        first[str(key.value)] = value.start_mark.line + 1 + (1 if block else 0)
    parts = {k: str(v) for k, v in data.items() if v is not None}
    return TemplateSource(id=template_id, parts=parts, first_line=first)


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The template line Jinja's rewritten traceback points at, if any."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Templates:
    """The templates of one folder (default: the built-in ones); thread-safe."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._compiled: dict[str, tuple[TemplateSource, dict[str, jinja2.Template]]] = {}
        self._text = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self._html = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)

    def ids(self) -> list[str]:
        if self.folder is not None:
            return sorted(p.stem for p in self.folder.glob(f"*{SUFFIX}"))
        root = resources.files("nextbest.channels") / "templates"
        return sorted(p.name[: -len(SUFFIX)] for p in root.iterdir() if p.name.endswith(SUFFIX))

    def _read(self, template_id: str) -> str:
        if not template_id.replace("_", "").replace("-", "").isalnum():
            raise TemplateError(template=template_id, line=None, reason="bad template id")
        name = f"{template_id}{SUFFIX}"
        if self.folder is not None:
            path = self.folder / name
            if path.is_file():
                return path.read_text(encoding="utf-8")
        else:
            res = resources.files("nextbest.channels") / "templates" / name
            if res.is_file():
                return res.read_text(encoding="utf-8")
        raise TemplateError(
            template=template_id,
            line=None,
            reason=f"no such template; known: {', '.join(self.ids())}",
        )

    def compiled(self, template_id: str) -> tuple[TemplateSource, dict[str, jinja2.Template]]:
        with self._lock:
            got = self._compiled.get(template_id)
        if got is not None:
            return got
        source = parse_template(template_id, self._read(template_id))
        out: dict[str, jinja2.Template] = {}
        for part, body in source.parts.items():
            env = self._html if part == "html" else self._text
            try:
                out[part] = env.from_string(body)
            except jinja2.TemplateSyntaxError as exc:
                line = source.first_line[part] + (exc.lineno or 1) - 1
                raise TemplateError(
                    template=template_id, line=line, reason=f"{part}: {exc.message}"
                ) from None
        with self._lock:
            self._compiled[template_id] = (source, out)
        return source, out

    def render(self, template_id: str, context: Mapping[str, Any]) -> Rendered:
        """The template filled in for one member; raises TemplateError."""
        source, parts = self.compiled(template_id)
        done: dict[str, str] = {}
        for part, tpl in parts.items():
            try:
                done[part] = tpl.render(context)
            except Exception as exc:  # any render failure is the template's, with its line
                at = _template_line(exc.__traceback__, tpl.filename or "<template>")
                line = source.first_line[part] + at - 1 if at else source.first_line[part]
                raise TemplateError(
                    template=template_id, line=line, reason=f"{part}: {exc}"
                ) from exc
        return Rendered(
            subject=" ".join(done["subject"].split()),  # one line, as headers need
            text=done["text"].strip() + "\n",
            html=done.get("html"),
        )


def check_all(templates: Templates, context: Callable[[str], Mapping[str, Any]]) -> list[str]:
    """Render every template against ``context(id)``; the errors, one line each."""
    problems: list[str] = []
    for template_id in templates.ids():
        try:
            templates.render(template_id, context(template_id))
        except TemplateError as exc:
            problems.append(str(exc))
    return problems
