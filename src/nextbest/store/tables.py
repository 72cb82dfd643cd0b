"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = 128  # event ids, member ids, key ids
KEY = 320  # identifier keys "kind:value"

events = Table(
    "events",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("source", String(32), nullable=False),
    # The member at ingest time; follow members.merged_into for the current one.
    Column("member_id", String(ID), nullable=True),
    Column("payload", Text, nullable=False),
    Index("ix_events_member_time", "member_id", "occurred_at"),
)

members = Table(
    "members",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("merged_into", String(ID), nullable=True, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

identifiers = Table(
    "identifiers",
    metadata,
    Column("key", String(KEY), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("member_id", String(ID), nullable=False, index=True),
    Column("first_event_id", String(ID), nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    # Shared-identifier protection: the anchor keys (e.g. loyalty ids) seen with this key,
    # and when it was found shared (from then on it no longer links members).
    Column("anchors", Text, nullable=True),
    Column("shared_at", DateTime(timezone=True), nullable=True),
)

member_merges = Table(
    "member_merges",
    metadata,
    Column("merge_id", Integer, primary_key=True, autoincrement=True),
    Column("survivor_id", String(ID), nullable=False, index=True),
    Column("merged_id", String(ID), nullable=False, index=True),
    Column("event_id", String(ID), nullable=True),  # null for probabilistic and manual merges
    Column("identifier", String(KEY), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False, server_default="deterministic"),
    Column("match_probability", Float, nullable=True),
    Column("explanation", Text, nullable=True),  # JSON: field -> match weight (log2 BF)
    Column("undone_at", DateTime(timezone=True), nullable=True),
)

profiles = Table(
    "profiles",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("purchase_count", Integer, nullable=False),
    Column("spend", Float, nullable=False),
    Column("first_purchase_at", DateTime(timezone=True), nullable=True),
    Column("last_purchase_at", DateTime(timezone=True), nullable=True),
    Column("last_event_at", DateTime(timezone=True), nullable=True),
    Column("state", Text, nullable=False),  # JSON of nextbest.profiles.state.ProfileState
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("dead_letter_id", Integer, primary_key=True, autoincrement=True),
    # Hash of origin + location + raw: re-sending the same bad record adds nothing.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("origin", String(500), nullable=False),
    Column("location", String(100), nullable=False),
    Column("event_id", String(ID), nullable=True),
    Column("field", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("scopes", String(200), nullable=False),  # space-separated
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Pairs of members the linker found probably the same person; the grey zone waits here for
# a person to accept or reject. A rejected or unmerged pair is never proposed again.
link_candidates = Table(
    "link_candidates",
    metadata,
    Column("candidate_id", Integer, primary_key=True, autoincrement=True),
    Column("left_member", String(ID), nullable=False),
    Column("right_member", String(ID), nullable=False),
    Column("match_probability", Float, nullable=False),
    Column("match_weight", Float, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("note", Text, nullable=True),
    UniqueConstraint("left_member", "right_member", name="uq_link_candidates_pair"),
)

# Trained linking models: later runs score new members with the latest one instead of
# training again on a population whose duplicates were already merged away.
link_models = Table(
    "link_models",
    metadata,
    Column("model_id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False),
    Column("records", Integer, nullable=False),
    Column("config", Text, nullable=False),  # JSON: LinkConfig.to_dict()
    Column("model", Text, nullable=False),  # JSON: LinkResult.model
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Append-only record of who changed what: merges, unmerges, review decisions.
audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(KEY), nullable=False, index=True),
    Column("detail", Text, nullable=False),
)

# --- the points ledger ------------------------------------------------------------------
# Programs applied from files; the newest active one rules earning and redemption. Every
# entry names the version it was computed under.
ledger_programs = Table(
    "ledger_programs",
    metadata,
    Column("version", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("source", Text, nullable=False),  # the YAML as applied
    Column("definition", Text, nullable=False),  # JSON of the validated program
    Column("applied_at", DateTime(timezone=True), nullable=False),
    Column("applied_by", String(200), nullable=False),
)

# One row per member and currency: the balance projection (checked against the postings by
# ``nextbest ledger check``) and the row a unit of work locks before touching the account.
ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("currency", String(64), primary_key=True),
    Column("balance", Integer, nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Immutable journal entries; the idempotency key is unique, a retry finds the first one.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_id", String(ID), primary_key=True),
    Column("idempotency_key", String(KEY), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("member_id", String(ID), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("program_version", String(32), nullable=True),
    Column("reference", String(KEY), nullable=True),
    Column("reverses", String(ID), nullable=True, unique=True),  # an entry is reversed once
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("day", String(10), nullable=True),  # cap day of an earn
    Column("points", Integer, nullable=False),  # net change of the spendable balance
    Column("request_hash", String(64), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: rules applied, lots, refusal reason…
    Index("ix_ledger_entries_member_time", "member_id", "occurred_at"),
    Index("ix_ledger_entries_member_day", "member_id", "day"),
    Index("ix_ledger_entries_reference", "reference"),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("posting_id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", String(ID), nullable=False, index=True),
    Column("account", String(KEY), nullable=False),
    Column("member_id", String(ID), nullable=True),
    Column("currency", String(64), nullable=False),
    Column("amount", Integer, nullable=False),
    Column("lot_id", String(KEY), nullable=True, index=True),
    Index("ix_ledger_postings_member", "member_id", "currency"),
)

# Points lots: FIFO burns and per-lot expiry draw them down; ``origin_member_id`` is whose
# purchase earned it, so an unmerge returns the lot to its owner.
ledger_lots = Table(
    "ledger_lots",
    metadata,
    Column("lot_id", String(KEY), primary_key=True),
    Column("member_id", String(ID), nullable=False),
    Column("origin_member_id", String(ID), nullable=False, index=True),
    Column("currency", String(64), nullable=False),
    Column("entry_id", String(ID), nullable=False),
    Column("earned_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("points", Integer, nullable=False),
    Column("remaining", Integer, nullable=False),
    Index("ix_ledger_lots_member_open", "member_id", "remaining"),
    Index("ix_ledger_lots_expires", "expires_at"),
)

ledger_tiers = Table(
    "ledger_tiers",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("tier", String(64), nullable=True),
    Column("since", DateTime(timezone=True), nullable=True),
    Column("grace_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Points each promotion has awarded (its budget) and rewards taken (their stock).
ledger_promotions = Table(
    "ledger_promotions",
    metadata,
    Column("promotion_id", String(64), primary_key=True),
    Column("spent", Integer, nullable=False),
)

ledger_rewards = Table(
    "ledger_rewards",
    metadata,
    Column("reward_id", String(64), primary_key=True),
    Column("taken", Integer, nullable=False),
)

# Messages committed with the change they announce (transactional outbox): tier changes,
# points expiring soon, redemptions and refusals. Journeys and channels consume them.
outbox = Table(
    "outbox",
    metadata,
    Column("message_id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False, index=True),
    Column("member_id", String(ID), nullable=True),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("task", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("card", Text, nullable=False),
    Column("artefact", Text, nullable=False),
)

member_scores = Table(
    "member_scores",
    metadata,
    Column("member_id", String(ID), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Float, nullable=True),
    Column("label", String(200), nullable=True),
    Column("model_version", String(64), nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("explanation", Text, nullable=True),
)

# --- decisions (0005) -------------------------------------------------------------------
# Contact-governance counters when Redis is not configured: one row per cap window,
# cool-down or budget; a row past ``expires_at`` counts as zero.
contact_counters = Table(
    "contact_counters",
    metadata,
    Column("key", String(KEY), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", Float, nullable=True),
)

# Every decision with what off-policy evaluation needs: context, all candidates with their
# scores and filter reasons, the chosen action, its propensity, policy and model versions.
decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(64), primary_key=True),
    Column("request_key", String(ID), nullable=True, unique=True),
    Column("member_id", String(ID), nullable=False, index=True),
    Column("decided_at", DateTime(timezone=True), nullable=False, index=True),
    Column("action_id", String(ID), nullable=False, index=True),
    Column("channel", String(32), nullable=True),
    Column("send_at", DateTime(timezone=True), nullable=True),
    Column("propensity", Float, nullable=False),
    Column("holdout", Integer, nullable=False),
    Column("contacted", Integer, nullable=False),
    Column("catalogue_version", String(64), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("record", Text, nullable=False),  # JSON: context, candidates, explanation
    Column("reward", Float, nullable=True),
    Column("rewarded_at", DateTime(timezone=True), nullable=True),
)

# Outcome events credited to decisions, once each (learning is idempotent).
decision_outcomes = Table(
    "decision_outcomes",
    metadata,
    Column("event_id", String(ID), primary_key=True),
    Column("decision_id", String(64), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("reward", Float, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)

# The learner's posterior, one row per policy; ``version`` increases with each update.
policy_states = Table(
    "policy_states",
    metadata,
    Column("policy", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- journeys (0006) --------------------------------------------------------------------
# Each applied version of a journey file; instances keep the version they entered with.
journey_versions = Table(
    "journey_versions",
    metadata,
    Column("journey_id", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("source", Text, nullable=False),
    Column("active", Integer, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

# One member's way through one journey: the step it is at and when it is next due. A worker
# claims due rows (FOR UPDATE SKIP LOCKED on PostgreSQL), runs one step, and moves the row
# on in the same transaction as the step's effects.
journey_instances = Table(
    "journey_instances",
    metadata,
    Column("instance_id", String(ID), primary_key=True),
    Column("journey_id", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("member_id", String(ID), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # active, waiting, done, exited
    Column("step", String(64), nullable=True),
    Column("seq", Integer, nullable=False),  # steps taken; guards every move
    Column("due_at", Float, nullable=True),  # epoch seconds; None: waits for an event only
    Column("waiting_for", String(64), nullable=True),  # event type a wait step listens for
    Column("holdout", Integer, nullable=False),
    Column("vars", Text, nullable=False),  # JSON: split arms, decisions, the entry event
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("exit_reason", String(200), nullable=True),
    Column("goal_at", DateTime(timezone=True), nullable=True),
    Index("ix_journey_instances_due", "status", "due_at"),
    Index("ix_journey_instances_journey", "journey_id", "member_id"),
)

# Every step an instance took, once: (instance, seq) is the key, so a step re-run after a
# crash finds its row and does not count twice.
journey_steps = Table(
    "journey_steps",
    metadata,
    Column("instance_id", String(ID), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("journey_id", String(64), nullable=False, index=True),
    Column("step", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("outcome", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# How far the journey trigger has read the event log and the ledger's outbox.
journey_cursors = Table(
    "journey_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- channels (0007) --------------------------------------------------------------------
# The delivery queue (apart from the ledger's domain-event ``outbox``): one row per message
# id, written in the enqueuing caller's transaction. Dispatchers claim due rows (FOR UPDATE
# SKIP LOCKED on PostgreSQL) by pushing ``next_attempt_at`` past a lease.
deliveries = Table(
    "deliveries",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("member_id", String(ID), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("template", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("data", Text, nullable=False),  # JSON: the template's extra variables
    Column("journey_id", String(64), nullable=True),
    Column("step", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # pending, sent, retry, dead, suppressed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),  # epoch seconds
    Column("last_error", Text, nullable=True),
    Column("provider_id", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("governed", Integer, nullable=False),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# The in-app inbox the app reads (``GET /v1/members/{identifier}/inbox``).
inbox_messages = Table(
    "inbox_messages",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("member_id", String(ID), nullable=False, index=True),
    Column("title", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=True),
)

# --- privacy (0008) ---------------------------------------------------------------------
# One row per member erasure: who erased, when, the anonymous id the ledger was re-keyed
# to, and how many rows and file lines each store lost. Never the identifiers themselves.
erasures = Table(
    "erasures",
    metadata,
    Column("erasure_id", String(64), primary_key=True),
    Column("anonymous_id", String(ID), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("counts", Text, nullable=False),  # JSON: store -> rows erased or re-keyed
)

# --- the console (0009) -----------------------------------------------------------------
# People who log in to the web console. The password is stored as scrypt with its salt and
# cost; roles as space-separated names from ``nextbest.api.roles``.
console_users = Table(
    "console_users",
    metadata,
    Column("username", String(ID), primary_key=True),
    Column("password_hash", String(300), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

# One row per login. Only sha256 of the cookie's token is kept; the CSRF token every form
# must echo lives beside it.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("username", String(ID), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Changes proposed (by marketers now, by agents later) that wait for a person who may
# approve. ``payload`` is the change itself (JSON); ``base_hash`` the content hash of what
# it was proposed against, so an approval never overwrites a newer version unseen.
proposals = Table(
    "proposals",
    metadata,
    Column("proposal_id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("target", String(300), nullable=False),
    Column("summary", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("base_hash", String(64), nullable=True),
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, index=True),  # pending|approved|rejected|…
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("note", Text, nullable=False, server_default=""),
)
