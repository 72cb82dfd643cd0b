"""YAML files users write (catalogues, programs, journeys): every problem gets its line.

``yaml.safe_load`` gives data without positions; composing the node tree alongside lets a
validation error on ``actions.3.channels.0`` name the line the user must fix. Keys given
twice and impossible dates (which YAML reports outside its own errors) are caught here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

Loc = tuple[Any, ...]


def line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The line of the deepest YAML node on ``loc`` (1-based)."""
    best = node
    for part in loc:
        if isinstance(best, yaml.MappingNode):
            nxt = next((v for k, v in best.value if getattr(k, "value", None) == part), None)
        elif isinstance(best, yaml.SequenceNode) and isinstance(part, int):
            nxt = best.value[part] if 0 <= part < len(best.value) else None
        else:
            nxt = None
        if nxt is None:
            break
        best = nxt
    return best.start_mark.line + 1 if best is not None else None


def duplicate_keys(node: yaml.Node | None, loc: Loc) -> Iterator[tuple[Loc, int, str]]:
    """Keys given twice in one mapping: YAML keeps the last, which hides a mistake."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(getattr(key, "value", ""))
            if name in seen:
                yield loc, key.start_mark.line + 1, name
            seen.add(name)
            yield from duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from duplicate_keys(item, (*loc, i))


def bad_date_line(text: str) -> int | None:
    """The line of the first scalar YAML reads as a date or time but cannot build."""
    loader = yaml.SafeLoader(text)
    bad: list[int] = []
    try:
        stack = [loader.get_single_node()]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
                try:
                    loader.construct_yaml_timestamp(node)
                except ValueError:
                    bad.append(node.start_mark.line + 1)
            elif isinstance(node, yaml.MappingNode):
                stack.extend(n for pair in node.value for n in pair)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
    finally:
        loader.dispose()
    return min(bad, default=None)
