"""From a ``LinkConfig`` to a trained Splink model, and back out to plain parameters.

Training follows the usual Fellegi-Sunter recipe: u by random sampling of pairs (which are
almost all non-matches), m by expectation maximisation over a few blocked passes, each pass
estimating the fields it does not block on. The prior λ comes from deterministic rules and
their assumed recall when the config lists some, else it is fitted to the scored pairs
after prediction (``prior.fit_prior``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from splink import Linker
from splink.internals.exceptions import EMTrainingException

from nextbest.identity.linking.config import FieldSpec, LinkConfig
from nextbest.identity.linking.prepare import DATE_SUFFIX, ID

logging.getLogger("splink").setLevel(logging.ERROR)  # its advice is for interactive use


def level_sql(level: str, spec: FieldSpec, config: LinkConfig) -> str:
    """The SQL condition of one level on field ``spec``.

    >>> from nextbest.identity.linking.fields import Kind
    >>> f = FieldSpec("Surname", Kind.LAST_NAME, ("exact",))
    >>> level_sql("jw:0.9", f, LinkConfig((f,), (("Surname",),), ()))
    'jaro_winkler_similarity(surname_l, surname_r) >= 0.9'
    """
    k = spec.key
    name, _, arg = level.partition(":")
    if name == "exact":
        return f"{k}_l = {k}_r"
    if name == "jw":
        return f"jaro_winkler_similarity({k}_l, {k}_r) >= {float(arg)}"
    if name == "dl":
        return f"damerau_levenshtein({k}_l, {k}_r) <= {int(arg)}"
    if name == "lev":
        return f"levenshtein({k}_l, {k}_r) <= {int(arg)}"
    if name == "days":
        d = DATE_SUFFIX
        return f"abs(date_diff('day', {k}{d}_l, {k}{d}_r)) <= {int(arg)}"
    if name == "prefix":
        return f"left({k}_l, {int(arg)}) = left({k}_r, {int(arg)})"
    if name == "swap":
        other = config.field(arg).key
        return f"{k}_l = {other}_r"
    if name == "transpose":
        return f"damerau_levenshtein({k}_l, {k}_r) = 1 AND levenshtein({k}_l, {k}_r) = 2"
    if name == "slip":
        bare = "regexp_replace({}, '[._+-]', '', 'g')"
        return (
            f"damerau_levenshtein({k}_l, {k}_r) = 1 "
            f"AND {bare.format(k + '_l')} <> {bare.format(k + '_r')}"
        )
    if name == "user":
        domains = f"split_part({k}_l, '@', 2), split_part({k}_r, '@', 2)"
        return (
            f"split_part({k}_l, '@', 1) = split_part({k}_r, '@', 1) "
            f"AND damerau_levenshtein({domains}) <= 2"
        )
    if name == "sql":
        return arg
    raise ValueError(f"{spec.column}: unknown level {level!r}")


def comparison(spec: FieldSpec, config: LinkConfig) -> dict[str, Any]:
    k = spec.key
    levels: list[dict[str, Any]] = [
        {
            "sql_condition": f"{k}_l IS NULL OR {k}_r IS NULL",
            "label_for_charts": "null",
            "is_null_level": True,
        }
    ]
    for level in spec.levels:
        entry: dict[str, Any] = {
            "sql_condition": level_sql(level, spec, config),
            "label_for_charts": level,
        }
        if level == "exact" and spec.term_frequency:
            entry["tf_adjustment_column"] = k
            entry["tf_adjustment_weight"] = 1.0
        levels.append(entry)
    levels.append({"sql_condition": "ELSE", "label_for_charts": "else"})
    return {"output_column_name": k, "comparison_levels": levels}


def rule_sql(rule: tuple[str, ...], config: LinkConfig) -> str:
    keys = [config.field(column).key for column in rule]
    return " AND ".join(f"l.{k} = r.{k}" for k in keys)


def settings(config: LinkConfig, *, link_type: str) -> dict[str, Any]:
    """The Splink settings dictionary for ``config`` (parameters untrained)."""
    return {
        "link_type": link_type,
        "unique_id_column_name": ID,
        "comparisons": [comparison(spec, config) for spec in config.fields],
        "blocking_rules_to_generate_predictions": [
            rule_sql(rule, config) for rule in config.blocking
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": True,
        "max_iterations": 25,
        "em_convergence": 0.0001,
    }


def train(linker: Linker, config: LinkConfig) -> None:
    """Estimate λ, u and m in place on ``linker``."""
    training = linker.training
    if config.deterministic:
        training.estimate_probability_two_random_records_match(
            [rule_sql(rule, config) for rule in config.deterministic], recall=config.recall
        )
    training.estimate_u_using_random_sampling(max_pairs=config.u_max_pairs, seed=config.seed)
    for rule in config.training:
        try:
            training.estimate_parameters_using_expectation_maximisation(
                rule_sql(rule, config),
                estimate_without_term_frequencies=True,
                max_pairs=config.em_max_pairs,
            )
        except EMTrainingException:  # no pairs under this rule: m keeps its defaults
            continue


def parameters(linker: Linker, config: LinkConfig, *, prior: float) -> dict[str, Any]:
    """The trained model as plain JSON values, with a short version hash."""
    full = dict(linker.misc.save_model_to_json())
    full["probability_two_random_records_match"] = prior
    full.pop("linker_uid", None)  # random per run; not part of the model
    comparisons: dict[str, list[dict[str, Any]]] = {}
    for spec, comp in zip(config.fields, full["comparisons"], strict=True):
        comparisons[spec.column] = [
            {
                "level": level.get("label_for_charts", ""),
                "m": level.get("m_probability"),
                "u": level.get("u_probability"),
            }
            for level in comp["comparison_levels"]
            if not level.get("is_null_level")
        ]
    model: dict[str, Any] = {
        "probability_two_random_records_match": full["probability_two_random_records_match"],
        "comparisons": comparisons,
        "splink": full,
    }
    stable = _rounded([config.without_notes().to_dict(), model])
    digest = json.dumps(stable, sort_keys=True, default=str)
    model["version"] = hashlib.sha256(digest.encode()).hexdigest()[:12]
    return model


def _rounded(value: Any) -> Any:
    """``value`` with floats to 9 significant digits: parallel sums differ in the last bits.

    >>> _rounded({"m": [0.047638612185813785, 1]})
    {'m': [0.0476386122, 1]}
    """
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value
