"""Erasure beyond the database and data files: Redis, and the stores out of our reach;
and how records kept as received are matched when identifiers are stored hashed.

Redis holds two things about a member: contact-budget counters (``<prefix>m:<member>:...``,
the layout of ``decide.governance`` keys under ``RedisBudget``'s prefix) and, in the event
stream, the raw records received (consumers acknowledge entries but do not delete them).
Both are erased here. What cannot be erased from here is listed, with the reason, in the
erasure report: copies handed to delivery providers, backups, and any trained model
artefact found to name the member (that needs a retrain, not an edit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, select

from nextbest.events.identifiers import parse_key
from nextbest.identity.hashing import KeyHasher
from nextbest.store import tables as t

# RedisBudget's default key prefix; the counters' keys start ``m:<member>:``.
BUDGET_PREFIX = "nextbest:cap:"
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*?[]^"})
_STREAM_PAGE = 1000


class RecordMatcher:
    """Whether a text names the person: a personal token in it, or (identifiers stored
    hashed, so raw values are mostly unknown here) a record kept as received whose
    identifiers, normalised and hashed, are among the group's keys."""

    def __init__(
        self,
        names: Callable[[str | None], bool],
        *,
        hasher: KeyHasher | None,
        keys: set[str],
        region: str,
    ) -> None:
        self.names = names
        self.hasher = hasher
        self.keys = keys
        self.region = region

    def __call__(self, text: str | None) -> bool:
        if self.names(text):
            return True
        if self.hasher is None or not text or not self.keys:
            return False
        return not self.keys.isdisjoint(self._hashed_keys(text))

    def _hashed_keys(self, text: str) -> set[str]:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            return set()  # not JSON (a CSV line): only the token scan applies
        idents = data.get("identifiers") if isinstance(data, dict) else None
        if not isinstance(idents, dict) or self.hasher is None:
            return set()
        keys: set[str] = set()
        for kind, value in idents.items():
            if kind == "external_ids" and isinstance(value, dict):
                keys.update(
                    f"ext:{str(system).strip().lower()}:{str(ident).strip()}"
                    for system, ident in value.items()
                )
            elif isinstance(value, str):
                try:
                    keys.add(parse_key(f"{kind}:{value}", region=self.region))
                except ValueError:
                    continue  # the value that got the record refused, most likely
        return {self.hasher.key(k) for k in keys}


def member_counter_pattern(prefix: str, member: str) -> str:
    """The SCAN pattern of one member's counters (glob characters in the id escaped).

    >>> member_counter_pattern("nextbest:cap:", "m_ab*")
    'nextbest:cap:m:m_ab\\\\*:*'
    """
    return f"{prefix}m:{member.translate(_GLOB_SPECIAL)}:*"


def erase_redis(
    client: Any,
    group: Iterable[str],
    *,
    prefix: str,
    stream: str | None,
    names: Callable[[str], bool],
) -> dict[str, int]:
    """Delete the group's counter keys and the stream entries that name the person."""
    counters = 0
    for member in group:
        batch = list(client.scan_iter(match=member_counter_pattern(prefix, member), count=500))
        for i in range(0, len(batch), 500):
            counters += int(client.delete(*batch[i : i + 500]))
    entries = 0
    if stream is not None and client.exists(stream):
        start = "-"
        while page := client.xrange(stream, min=start, max="+", count=_STREAM_PAGE):
            doomed = [
                entry_id
                for entry_id, fields in page
                if any(names(_text(v)) for v in fields.values())
            ]
            if doomed:
                entries += int(client.xdel(stream, *doomed))
            if len(page) < _STREAM_PAGE:
                break
            start = "(" + _text(page[-1][0])  # exclusive: the next page after the last id
    return {"redis_counters": counters, "redis_stream_entries": entries}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def models_naming(conn: Connection, names: Callable[[str], bool]) -> dict[str, list[str]]:
    """Trained artefacts (score models, linking models) whose stored text names the person.

    Score models hold trees, calibration and a card of aggregates; linking models hold
    match weights per field. Neither is built to keep member ids or identifiers, and this
    check proves it for each erasure instead of assuming it.
    """
    found: dict[str, list[str]] = {}
    mv = t.model_versions
    for version, card, artefact in conn.execute(select(mv.c.version, mv.c.card, mv.c.artefact)):
        if names(card) or names(artefact):
            found.setdefault("model_versions", []).append(str(version))
    lm = t.link_models
    for version, config, model in conn.execute(select(lm.c.version, lm.c.config, lm.c.model)):
        if names(config) or names(model):
            found.setdefault("link_models", []).append(str(version))
    return found


def unreachable(counts: dict[str, int], naming_models: dict[str, list[str]]) -> dict[str, str]:
    """Stores erasure could not clear, and why (the report's ``unreachable``).

    >>> sorted(unreachable({"deliveries": 2}, {"model_versions": ["v1"]}))
    ['backups', 'delivery_providers', 'model_versions']
    """
    out = {
        "backups": (
            "database backups, replicas and copies of data files taken before the erasure are"
            " outside this process; they expire under their own retention"
        ),
    }
    if counts.get("deliveries", 0) or counts.get("direct_mail_rows", 0):
        out["delivery_providers"] = (
            "messages already handed to email, SMS, push, webhook or mail-house providers"
            " are held by them; the deliveries that reached them were deleted here, so ask"
            " each provider to erase its copies"
        )
    for store, versions in sorted(naming_models.items()):
        out[store] = (
            f"trained artefacts {', '.join(sorted(versions))} name the member; they are kept"
            " (retrain without the member, then delete them)"
        )
    return out
