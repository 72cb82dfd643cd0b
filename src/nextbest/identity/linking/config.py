"""The linkage model's configuration: what to compare, how, and how to train it.

``infer_config`` writes one from the data; an expert edits its ``to_dict()`` (plain JSON)
and passes it back through ``LinkConfig.from_dict``. Every field is validated there, and an
error names the path of the offending value (``fields[2].levels[1]``).

A comparison level is a short string, tried in order after the automatic null level (either
side missing: no evidence) and before the automatic "else" level:

``exact``                 values equal (with term-frequency adjustment if ``term_frequency``)
``jw:<0..1>``             Jaro-Winkler similarity at least the threshold
``dl:<n>`` / ``lev:<n>``  Damerau-Levenshtein / Levenshtein distance at most ``n``
``days:<n>``              dates at most ``n`` days apart (date fields)
``prefix:<n>``            the first ``n`` characters equal
``transpose``             equal but for two adjacent characters swapped (a typing slip)
``slip``                  one letter or digit dropped, doubled or mistyped (separators
                          such as ``.`` and ``_`` do not count: ann.lee is not annlee)
``swap:<field>``          this value equals the other record's ``<field>`` (swapped names)
``user``                  email: same part before ``@``, domains within two edits (a
                          typo'd domain such as ``gmial.com``)
``sql:<condition>``       any DuckDB condition on ``<key>_l`` and ``<key>_r`` (key: SQL name)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nextbest.identity.linking.fields import Kind

_LEVEL = re.compile(
    r"^(exact|user|transpose|slip|jw:(?:0(?:\.\d+)?|1(?:\.0+)?)|(?:dl|lev|prefix|days):\d+)$"
)
_SAFE = re.compile(r"^[a-z][a-z0-9_]*$")
# Names Splink gives its own columns: a field with one of them is renamed in SQL.
_RESERVED = re.compile(
    r"^(unique_id|source_dataset|match_weight|match_probability|cluster_id)$"
    r"|^(gamma|mw|bf|tf|tf_adj)_|__d$"
)


class LinkConfigError(ValueError):
    """A configuration value is invalid; ``path`` says which one."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One compared column: its kind and the levels that grade agreement on it."""

    column: str
    kind: Kind
    levels: tuple[str, ...]
    term_frequency: bool = False

    @property
    def key(self) -> str:
        """The column's name in SQL (lower case, ``[a-z0-9_]``)."""
        return sql_name(self.column)


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """A complete Fellegi-Sunter model specification (parameters are learnt, not set).

    ``blocking``: each rule is a tuple of field columns that must all be equal for a pair
    to be scored (the union of all rules is scored). ``training``: one EM pass per rule,
    each estimating m for the fields not in it. ``deterministic``: rules precise enough to
    count as matches, used with ``recall`` to estimate the prior λ; when empty (the default),
    λ is fitted to the scored pairs (see ``prior``).
    """

    fields: tuple[FieldSpec, ...]
    blocking: tuple[tuple[str, ...], ...]
    training: tuple[tuple[str, ...], ...]
    deterministic: tuple[tuple[str, ...], ...] = ()
    recall: float = 0.8
    u_max_pairs: int = 1_000_000
    em_max_pairs: int = 2_000_000
    seed: int = 7
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        validate(self)

    def field(self, column: str) -> FieldSpec:
        for spec in self.fields:
            if spec.column == column:
                return spec
        raise KeyError(column)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [
                {
                    "column": f.column,
                    "kind": f.kind.value,
                    "levels": list(f.levels),
                    "term_frequency": f.term_frequency,
                }
                for f in self.fields
            ],
            "blocking": [list(rule) for rule in self.blocking],
            "training": [list(rule) for rule in self.training],
            "deterministic": [list(rule) for rule in self.deterministic],
            "recall": self.recall,
            "u_max_pairs": self.u_max_pairs,
            "em_max_pairs": self.em_max_pairs,
            "seed": self.seed,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinkConfig:
        """Read a configuration written by ``to_dict`` (or by hand), validating it."""
        if not isinstance(data, Mapping):
            raise LinkConfigError("config", f"expected an object, got {type(data).__name__}")
        known = {
            "fields",
            "blocking",
            "training",
            "deterministic",
            "recall",
            "u_max_pairs",
            "em_max_pairs",
            "seed",
            "notes",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise LinkConfigError(unknown[0], f"unknown key; expected one of {sorted(known)}")
        for required in ("fields", "blocking", "training"):
            if required not in data:
                raise LinkConfigError(required, "missing")
        fields = tuple(
            _field_from_dict(item, f"fields[{i}]")
            for i, item in enumerate(_list(data["fields"], "fields"))
        )
        return cls(
            fields=fields,
            blocking=_rules(data["blocking"], "blocking"),
            training=_rules(data["training"], "training"),
            deterministic=_rules(data.get("deterministic", []), "deterministic"),
            recall=_number(data.get("recall", 0.8), "recall", float),
            u_max_pairs=int(_number(data.get("u_max_pairs", 1_000_000), "u_max_pairs", int)),
            em_max_pairs=int(_number(data.get("em_max_pairs", 2_000_000), "em_max_pairs", int)),
            seed=int(_number(data.get("seed", 7), "seed", int)),
            notes=tuple(str(n) for n in _list(data.get("notes", []), "notes")),
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> LinkConfig:
        """This config with top-level keys replaced, and ``fields`` merged by column.

        A field override is ``{"column": ..., ...}``; listed keys replace the inferred
        ones, ``{"column": ..., "drop": true}`` removes the field.
        """
        data = self.to_dict()
        for key, value in overrides.items():
            if key != "fields":
                data[key] = value
                continue
            by_column = {f["column"]: f for f in data["fields"]}
            for i, item in enumerate(_list(value, "overrides.fields")):
                if not isinstance(item, Mapping) or "column" not in item:
                    raise LinkConfigError(f"overrides.fields[{i}]", "needs a 'column'")
                column = str(item["column"])
                if item.get("drop"):
                    by_column.pop(column, None)
                    continue
                merged = {**by_column.get(column, {}), **item}
                by_column[column] = merged
            data["fields"] = list(by_column.values())
        remaining = {f["column"] for f in data["fields"]}
        for key in ("blocking", "training", "deterministic"):
            if key not in overrides:  # drop inferred rules on removed fields
                data[key] = [r for r in data[key] if all(c in remaining for c in r)]
        return LinkConfig.from_dict(data)

    def without_notes(self) -> LinkConfig:
        return replace(self, notes=())


def sql_name(column: str) -> str:
    """A column name safe in SQL without quoting, clear of Splink's own column names.

    >>> sql_name("Date of Birth"), sql_name("2nd line"), sql_name("unique_id")
    ('date_of_birth', 'c_2nd_line', 'c_unique_id')
    """
    name = re.sub(r"[^a-z0-9]+", "_", column.strip().lower()).strip("_") or "c"
    return name if _SAFE.match(name) and not _RESERVED.search(name) else f"c_{name}"


def validate(config: LinkConfig) -> None:
    """Raise ``LinkConfigError`` naming the first invalid value."""
    if not config.fields:
        raise LinkConfigError("fields", "no field to compare")
    columns = [f.column for f in config.fields]
    keys: dict[str, str] = {}
    for i, spec in enumerate(config.fields):
        path = f"fields[{i}]"
        if not isinstance(spec.kind, Kind):
            raise LinkConfigError(f"{path}.kind", f"unknown kind {spec.kind!r}")
        if spec.key in keys:
            raise LinkConfigError(
                f"{path}.column", f"{spec.column!r} clashes with {keys[spec.key]!r} in SQL"
            )
        keys[spec.key] = spec.column
        if not spec.levels:
            raise LinkConfigError(f"{path}.levels", "at least one level is needed")
        for j, level in enumerate(spec.levels):
            _check_level(level, f"{path}.levels[{j}]", spec, columns)
    for key in ("blocking", "training", "deterministic"):
        rules: tuple[tuple[str, ...], ...] = getattr(config, key)
        for i, rule in enumerate(rules):
            if not rule:
                raise LinkConfigError(f"{key}[{i}]", "an empty rule would compare everything")
            for j, column in enumerate(rule):
                if column not in columns:
                    raise LinkConfigError(f"{key}[{i}][{j}]", f"{column!r} is not a field")
    if not config.blocking:
        raise LinkConfigError("blocking", "at least one blocking rule is needed")
    if not 0.0 < config.recall <= 1.0:
        raise LinkConfigError("recall", f"must be in (0, 1], got {config.recall}")
    for key in ("u_max_pairs", "em_max_pairs"):
        if getattr(config, key) < 1_000:
            raise LinkConfigError(key, f"must be at least 1000, got {getattr(config, key)}")


def _check_level(level: str, path: str, spec: FieldSpec, columns: Sequence[str]) -> None:
    if not isinstance(level, str):
        raise LinkConfigError(path, f"a level is a string, got {type(level).__name__}")
    if level.startswith("sql:"):
        if not level[4:].strip():
            raise LinkConfigError(path, "empty SQL condition")
        return
    if level.startswith("swap:"):
        if level[5:] not in columns:
            raise LinkConfigError(path, f"swap with {level[5:]!r}, which is not a field")
        return
    if not _LEVEL.match(level):
        raise LinkConfigError(
            path,
            f"unknown level {level!r}; expected exact, transpose, slip, user, jw:<0..1>, dl:<n>, "
            "lev:<n>, prefix:<n>, days:<n>, swap:<field> or sql:<condition>",
        )
    if level.startswith("days:") and spec.kind is not Kind.DATE:
        raise LinkConfigError(
            path, f"days levels need a date field, {spec.column!r} is {spec.kind}"
        )
    if level == "user" and spec.kind is not Kind.EMAIL:
        raise LinkConfigError(
            path, f"user level needs an email field, {spec.column!r} is {spec.kind}"
        )


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise LinkConfigError(path, f"expected a list, got {type(value).__name__}")
    return list(value)


def _rules(value: Any, path: str) -> tuple[tuple[str, ...], ...]:
    rules = []
    for i, rule in enumerate(_list(value, path)):
        items = _list(rule, f"{path}[{i}]")
        for j, item in enumerate(items):
            if not isinstance(item, str):
                raise LinkConfigError(f"{path}[{i}][{j}]", "a rule lists field columns")
        rules.append(tuple(items))
    return tuple(rules)


def _number(value: Any, path: str, kind: type[int] | type[float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LinkConfigError(path, f"expected a number, got {value!r}")
    if kind is int and int(value) != value:
        raise LinkConfigError(path, f"expected a whole number, got {value!r}")
    return float(value) if kind is float else value


def _field_from_dict(item: Any, path: str) -> FieldSpec:
    if not isinstance(item, Mapping):
        raise LinkConfigError(path, f"expected an object, got {type(item).__name__}")
    unknown = sorted(set(item) - {"column", "kind", "levels", "term_frequency"})
    if unknown:
        raise LinkConfigError(f"{path}.{unknown[0]}", "unknown key")
    for required in ("column", "kind", "levels"):
        if required not in item:
            raise LinkConfigError(f"{path}.{required}", "missing")
    if not isinstance(item["column"], str) or not item["column"].strip():
        raise LinkConfigError(f"{path}.column", "expected a column name")
    try:
        kind = Kind(item["kind"])
    except ValueError:
        expected = ", ".join(k.value for k in Kind)
        raise LinkConfigError(
            f"{path}.kind", f"unknown kind {item['kind']!r}; expected one of {expected}"
        ) from None
    levels = _list(item["levels"], f"{path}.levels")
    tf = item.get("term_frequency", False)
    if not isinstance(tf, bool):
        raise LinkConfigError(f"{path}.term_frequency", f"expected true or false, got {tf!r}")
    return FieldSpec(column=item["column"], kind=kind, levels=tuple(levels), term_frequency=tf)
